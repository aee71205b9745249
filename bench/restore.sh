#!/usr/bin/env bash
# bench/restore.sh: restore throughput (issue 11), one run. Not a test.
#
# Two backups of a reverse view (preset standard, so that stock encfs can
# read them): BIG = 1 GiB in 4 random files, MANY = 30,000 files of 0-8 KiB
# in 300 directories. Each is copied out of the view with `cp -a` and tarred
# with GNU tar; then, one after the other:
#   stream  `encmount restore --tar - DEST < view.tar`
#   dir     `encmount restore COPY DEST`
#   encfs   stock `encfs` forward mount of COPY, `cp -a` out of it
# Goals: stream >= 0.9 x dir, both >= 3 x encfs (times: lower is better).
# Page cache is warm for all three (the archive and copy were just written).
#
# Usage: bench/restore.sh [WORKDIR]   (default: a new dir under /var/tmp;
# needs ~7 GiB). Builds target/release/encmount. Run as root (FUSE).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
(cd "$repo" && cargo build --release --locked -q)
bin=$repo/target/release/encmount
for tool in encfs fusermount3 tar cp; do
    command -v "$tool" >/dev/null || { echo "restore.sh: $tool is missing" >&2; exit 1; }
done
work=${1:-$(mktemp -d /var/tmp/encmount-bench-restore.XXXXXX)}
mkdir -p "$work"
cleanup() {
    for m in "$work"/mnt "$work"/fmnt; do
        mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m"
    done
    [[ -n ${KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

pw=$work/pw
printf 'bench password\n' >"$pw"
chmod 600 "$pw"
"$bin" init --preset standard --kdf-iterations 1000 --password-file "$pw" "$work/cfg.xml" >/dev/null 2>&1

make_big() {
    mkdir -p "$1"
    for i in 1 2 3 4; do head -c $((256 << 20)) /dev/urandom >"$1/big-$i"; done
}
make_many() {
    mkdir -p "$1"
    python3 - "$1" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(11)
for d in range(300):
    os.makedirs(f"{root}/d{d:03}", exist_ok=True)
for i in range(30000):
    with open(f"{root}/d{i % 300:03}/f{i:05}", "wb") as f:
        f.write(rnd.randbytes(rnd.randrange(0, 8192)))
PY
}

run_one() {
    local name=$1
    local src=$work/$name-src copy=$work/$name-copy tarball=$work/$name.tar
    "make_$name" "$src"
    mkdir -p "$work/mnt" "$work/fmnt"
    "$bin" mount --reverse -c "$work/cfg.xml" --password-file "$pw" "$src" "$work/mnt"
    cp -a "$work/mnt" "$copy"
    fusermount3 -u "$work/mnt"
    # --sort=name: the volume config (.encfs6.xml) first, as a stream restore wants it.
    tar --sort=name -C "$copy" -cf "$tarball" .
    local bytes files
    bytes=$(du -sb "$src" | cut -f1)
    files=$(find "$src" -type f | wc -l)

    local t0 t1 stream dir encfs_t
    t0=$(now)
    "$bin" restore -q --password-file "$pw" --tar - "$work/$name-out-stream" <"$tarball" 2>/dev/null
    t1=$(now); stream=$(secs "$t0" "$t1")
    t0=$(now)
    "$bin" restore -q -c "$work/cfg.xml" --password-file "$pw" "$copy" "$work/$name-out-dir" 2>/dev/null
    t1=$(now); dir=$(secs "$t0" "$t1")
    ENCFS6_CONFIG=$work/cfg.xml encfs --stdinpass "$copy" "$work/fmnt" <"$pw" >/dev/null
    t0=$(now)
    cp -a "$work/fmnt/." "$work/$name-out-encfs"
    t1=$(now); encfs_t=$(secs "$t0" "$t1")
    fusermount3 -u "$work/fmnt"
    diff -r "$src" "$work/$name-out-stream" >/dev/null || { echo "$name: stream restore differs" >&2; exit 1; }
    diff -r "$src" "$work/$name-out-dir" >/dev/null || { echo "$name: dir restore differs" >&2; exit 1; }
    awk -v n="$name" -v b="$bytes" -v f="$files" -v s="$stream" -v d="$dir" -v e="$encfs_t" 'BEGIN {
        printf "%-5s %6.0f MiB %6d files | stream %6.2f s  dir %6.2f s  encfs+cp %6.2f s | dir/stream %.2f  encfs/stream %.2f  encfs/dir %.2f\n",
            n, b / 1048576, f, s, d, e, d / s, e / s, e / d }'
    rm -rf "$src" "$copy" "$tarball" "$work/$name"-out-*
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
run_one big
run_one many
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
