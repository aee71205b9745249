#!/usr/bin/env bash
# bench/crypto.sh: encmount's single-core block encryption and decryption
# (benches/crypto.rs) beside `openssl speed -evp aes-256-cbc` measured in the
# same run, as a ratio, for 1 KiB and 4 KiB blocks.
#
# Target (issue): encrypt/aes256/*/mac0 >= 0.80 x openssl aes-256-cbc encrypt.
# MB/s are 10^6 bytes of plaintext per second. Both sides run pinned to one
# core. openssl is measured before and after the criterion run and averaged;
# a large difference between the two means the machine was busy: rerun.
#
# Usage: bench/crypto.sh [--quick] [--core N]
#   --quick    shorter runs (about 25 s instead of about 90 s)
#   --core N   CPU to pin both sides to (default: the last one)
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

quick=0
core=$(($(nproc) - 1))
while (($#)); do
    case $1 in
        --quick) quick=1 ;;
        --core)
            [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || { echo "crypto.sh: --core needs a CPU number" >&2; exit 2; }
            core=$2
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "crypto.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

cd "$(dirname "$0")/.."
for tool in cargo openssl awk; do
    command -v "$tool" >/dev/null || { echo "crypto.sh: '$tool' not found" >&2; exit 1; }
done
if command -v taskset >/dev/null; then
    pin() { taskset -c "$core" "$@"; }
else
    echo "crypto.sh: taskset not found (util-linux); running unpinned" >&2
    pin() { "$@"; }
fi

if ((quick)); then
    ssl_seconds=1
    criterion_args=(--warm-up-time 0.5 --measurement-time 1 --sample-size 20)
else
    ssl_seconds=3
    criterion_args=(--warm-up-time 2 --measurement-time 5 --sample-size 50)
fi

out_dir=target/bench-crypto
mkdir -p "$out_dir"
raw=$out_dir/criterion-bencher.txt

# Bytes of ciphertext per criterion iteration (BUF_LEN in benches/crypto.rs).
readonly BUF_LEN=1048576
readonly TARGET=0.80
readonly SIZES=(1024 4096)

# openssl_rate SIZE encrypt|decrypt -> bytes per second (aes-256-cbc, 1 core)
openssl_rate() {
    local size=$1 dir=$2 extra=() rate
    [[ $dir == decrypt ]] && extra=(-decrypt)
    # -mr prints "+F:<index>:<cipher>:<bytes per second>" for each size.
    rate=$(pin openssl speed -elapsed -mr -seconds "$ssl_seconds" -bytes "$size" \
        "${extra[@]}" -evp aes-256-cbc 2>/dev/null | awk -F: '/^\+F:/ { print $NF; exit }')
    [[ $rate =~ ^[0-9]+(\.[0-9]+)?$ ]] || {
        echo "crypto.sh: could not read 'openssl speed' output for $size bytes ($dir)" >&2
        exit 1
    }
    echo "$rate"
}

declare -A ssl_before ssl_after ns
measure_openssl() { # NAME_OF_ARRAY
    local -n into=$1 # a nameref: writes go to the caller's array
    local size dir
    for size in "${SIZES[@]}"; do
        for dir in encrypt decrypt; do
            # shellcheck disable=SC2034 # used through the nameref
            into["$dir/$size"]=$(openssl_rate "$size" "$dir")
        done
    done
}

echo "== building benches/crypto.rs" >&2
cargo bench --bench crypto --no-run --quiet

echo "== openssl speed (before), ${ssl_seconds}s per figure, core $core" >&2
measure_openssl ssl_before

echo "== criterion (encrypt|decrypt)/aes256, core $core" >&2
pin cargo bench --quiet --bench crypto -- --output-format bencher "${criterion_args[@]}" \
    '^(encrypt|decrypt)/aes256/' >"$raw" 2>"$out_dir/criterion-stderr.txt" || {
    cat "$out_dir/criterion-stderr.txt" >&2
    echo "crypto.sh: criterion run failed" >&2
    exit 1
}

echo "== openssl speed (after)" >&2
measure_openssl ssl_after

# "test encrypt/aes256/bs1024/mac0 ... bench:   1,091,547 ns/iter (+/- 15,664)"
while read -r id value; do
    ns[$id]=$value
done < <(awk '$1 == "test" && $3 == "..." && $4 == "bench:" && $6 == "ns/iter" {
    gsub(",", "", $5); print $2, $5 }' "$raw")
((${#ns[@]})) || { echo "crypto.sh: no results in $raw" >&2; exit 1; }

echo
echo "encmount block crypto vs openssl aes-256-cbc, one core (MB/s = 10^6 B/s)"
echo
printf '%-30s %10s %14s %7s  %s\n' "benchmark" "ours MB/s" "openssl MB/s" "ratio" "note"
printf '%-30s %10s %14s %7s  %s\n' "------------------------------" "----------" \
    "--------------" "-------" "----"
below=0
noisy=0
for dir in encrypt decrypt; do
    for size in "${SIZES[@]}"; do
        for mac in 0 8; do
            id=$dir/aes256/bs$size/mac$mac
            [[ -n ${ns[$id]:-} ]] || { echo "crypto.sh: $id missing from $raw" >&2; exit 1; }
            plain=$((BUF_LEN * (size - mac) / size))
            read -r ours ssl ratio spread exact < <(awk -v p="$plain" -v n="${ns[$id]}" \
                -v a="${ssl_before[$dir/$size]}" -v b="${ssl_after[$dir/$size]}" 'BEGIN {
                ours = p / n * 1000; ssl = (a + b) / 2e6
                spread = (a > b ? a - b : b - a) / ((a + b) / 2)
                printf "%.0f %.0f %.2f %.2f %.6f\n", ours, ssl, ours / ssl, spread, ours / ssl }')
            note=""
            if [[ $dir == encrypt && $mac == 0 ]]; then
                if awk -v r="$exact" -v t="$TARGET" 'BEGIN { exit !(r >= t) }'; then
                    note="target >= $TARGET: ok"
                else
                    note="target >= $TARGET: BELOW"
                    below=1
                fi
            elif ((mac)); then
                note="8-byte block MACs (openssl: none)"
            fi
            if awk -v s="$spread" 'BEGIN { exit !(s > 0.15) }'; then
                note="${note:+$note; }openssl varied $(awk -v s="$spread" 'BEGIN { printf "%.0f", s * 100 }')%"
                noisy=1
            fi
            printf '%-30s %10s %14s %7s  %s\n' "$id" "$ours" "$ssl" "$ratio" "$note"
        done
    done
done
echo
echo "criterion medians: $raw"
((noisy)) && echo "note: openssl figures before and after the run differ by more than 15%: the machine was busy, rerun"
((below)) && echo "result: encryption is below ${TARGET}x openssl aes-256-cbc" || echo "result: encryption meets the ${TARGET}x target"

# ---- Part 2: restore throughput -------------------------------------------

# TODO(restore): fill in once `encmount restore` exists. Plan: generate ~256 MiB
# of random plaintext, make an AES-256 bs1024 volume without MACs (standard
# preset-like) with `encmount init --preset standard --password-file F CONFIG`,
# produce its ciphertext, then time `encmount restore` of it (pinned, MB/s of
# plaintext) and print it beside the figures above.
# `encmount restore` of 256 MiB (64 MiB with --quick) of random data in a
# standard-preset volume (AES-192, 1 KiB blocks): the cipher tree is made by
# our own reverse view, then restored onto tmpfs, pinned to one core.
restore_speed() {
    local mib=256 work
    [[ $quick == 1 ]] && mib=64
    work=$(mktemp -d "${TMPDIR:-/tmp}/encmount-restore-bench.XXXXXX")
    # shellcheck disable=SC2064
    trap "mountpoint -q '$work/view' && '$bin' umount '$work/view'; rm -rf '$work' /dev/shm/encmount-restore-bench.$$" RETURN
    mkdir -p "$work/plain" "$work/view" "$work/cipher"
    head -c $((mib << 20)) /dev/urandom >"$work/plain/data.bin"
    printf 'bench\n' >"$work/pw" && chmod 600 "$work/pw"
    "$bin" init --preset standard --kdf-iterations 1000 --password-file "$work/pw" "$work/v.xml" 2>/dev/null
    "$bin" mount --reverse --no-expose-config -c "$work/v.xml" --password-file "$work/pw" "$work/plain" "$work/view"
    cp -a "$work/view/." "$work/cipher/"
    "$bin" umount "$work/view"
    local dest=/dev/shm/encmount-restore-bench.$$ t0 t1
    t0=$(date +%s%N)
    pin "$bin" restore --quiet -c "$work/v.xml" --password-file "$work/pw" "$work/cipher" "$dest" 2>/dev/null
    t1=$(date +%s%N)
    cmp -s "$work/plain/data.bin" "$dest/data.bin" || { echo "restore benchmark: restored data differs!" >&2; return 1; }
    awk -v b=$((mib << 20)) -v ns=$((t1 - t0)) 'BEGIN {
        mbs = b / (ns / 1e9) / 1e6
        printf "restore (standard preset, 1 KiB blocks, one core, %d MiB to tmpfs): %.0f MB/s  target >= 300: %s\n",
            b / 1048576, mbs, (mbs >= 300 ? "ok" : "MISSED") }'
    rm -rf "$dest"
}

echo
bin=target/release/encmount
if [[ -x $bin ]] && "$bin" --help 2>/dev/null | grep -qE '^[[:space:]]+restore([[:space:]]|$)'; then
    restore_speed
else
    echo "restore benchmark: skipped ($bin has no 'restore' subcommand; build it with 'cargo build --release')"
fi
