#!/usr/bin/env bash
# bench/scale.sh: how the reverse views scale with the tree size.
#
# For each size, makes a tree (bench/gen-tree.py) and, in one run, mounts it
# through encmount, gocryptfs -reverse and encfs --reverse in turn; for each:
# `find` over the view and `rsync -a` of it into an empty directory (wall
# time of each), the daemon's peak RSS (VmHWM) and the most fds it held
# (sampled every 50 ms). Prints one table; the log goes to OUT/log.txt.
#
# Usage: bench/scale.sh [--sizes 10000,100000] [--dir-percent 5]
#                       [--preset hardened|standard] [--work DIR] [--out DIR]
#   --sizes        entry counts (files + directories), comma-separated
#   --dir-percent  share of directories (1-10 is what servers look like)
#   --work         where trees and copies go (default: a new dir in /var/tmp)
# Needs root (FUSE), rsync, gocryptfs and encfs (Debian packages gocryptfs,
# encfs). Builds target/release/encmount first. The page cache is warm for
# every candidate alike (each tree is read once before the first view).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
sizes=10000,100000 pct=5 preset=hardened work="" out=""
while (($#)); do
  case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --dir-percent) pct=$2; shift 2 ;;
    --preset) preset=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "scale.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for t in rsync gocryptfs encfs fusermount python3; do
  command -v "$t" >/dev/null || { echo "scale.sh: $t is missing" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "scale.sh: run as root (it mounts FUSE)" >&2; exit 1; }
(cd "$repo" && cargo build --release --locked -q)
bin=$repo/target/release/encmount
work=${work:-$(mktemp -d /var/tmp/encmount-scale.XXXXXX)}
out=${out:-$work}
mkdir -p "$work" "$out"
log=$out/log.txt
: >"$log"
mounts=()

cleanup() {
  set +e
  for m in "${mounts[@]}"; do
    mountpoint -q "$m" && { fusermount -u "$m" 2>>"$log" || fusermount -u -z "$m"; }
  done
}
trap cleanup EXIT

say() { printf '%s %s\n' "$(date -u +%T)" "$*" | tee -a "$log" >&2; }

# The pid of the daemon serving $1 (its argv names the mountpoint).
daemon_of() {
  local p
  for p in /proc/[0-9]*; do
    [[ ${p#/proc/} == "$$" ]] && continue
    tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF "$1" && { echo "${p#/proc/}"; return; }
  done
}

pass=$work/passfile
printf 'scale bench password\n' >"$pass"
chmod 600 "$pass"
state=$work/state
mkdir -p "$state/empty"
[[ -f $state/encmount.xml ]] ||
  "$bin" init --preset "$preset" --kdf-ms 200 --password-file "$pass" "$state/encmount.xml" >>"$log" 2>&1
[[ -f $state/gocryptfs.conf ]] ||
  gocryptfs -init -reverse -q -scryptn 10 -passfile "$pass" -config "$state/gocryptfs.conf" "$state/empty" >>"$log" 2>&1
if [[ ! -f $state/encfs6.xml ]]; then
  d=$state/encfs-init && mkdir -p "$d/src" "$d/mnt"
  printf '\n%s\n' "$(cat "$pass")" | encfs --reverse --stdinpass "$d/src" "$d/mnt" >>"$log" 2>&1
  fusermount -u "$d/mnt" && mv "$d/src/.encfs6.xml" "$state/encfs6.xml" && rm -rf "$d"
fi

mount_view() { # CAND SRC MNT
  case $1 in
    encmount) "$bin" mount --reverse -c "$state/encmount.xml" --password-file "$pass" "$2" "$3" ;;
    gocryptfs) gocryptfs -reverse -ro -q -nosyslog -config "$state/gocryptfs.conf" -passfile "$pass" "$2" "$3" ;;
    encfs) ENCFS6_CONFIG=$state/encfs6.xml encfs --reverse --stdinpass -o ro "$2" "$3" <"$pass" ;;
  esac >>"$log" 2>&1
}

# Runs "$@" (timed) while sampling the fds of daemon $PID; sets SECS, MAXFD.
timed() {
  local stop=$work/.stop s=$work/.fds start end
  rm -f "$stop"; echo 0 >"$s"
  ( m=0; while [[ ! -e $stop ]]; do
      n=$(ls "/proc/$PID/fd" 2>/dev/null | wc -l); ((n > m)) && { m=$n; echo "$m" >"$s"; }
      sleep 0.05
    done ) &
  local sampler=$!
  start=$(date +%s.%N)
  "$@" >>"$log" 2>&1 || say "  $* exited $?"
  end=$(date +%s.%N)
  touch "$stop"; wait "$sampler"
  SECS=$(echo "$end - $start" | bc -l)
  MAXFD=$(cat "$s")
}

results=$out/results.tsv
printf 'entries\tview\tfind_s\trsync_s\tfind_us_per_entry\trsync_us_per_entry\tpeak_rss_kib\tmax_fds\n' >"$results"
IFS=, read -ra sizes_a <<<"$sizes"
for n in "${sizes_a[@]}"; do
  src=$work/tree-$n
  if [[ ! -d $src ]]; then
    say "generating $n entries ($pct % directories)"
    python3 "$repo/bench/gen-tree.py" "$src" "$n" "$pct" | tee -a "$log"
  fi
  find "$src" >/dev/null   # warm the page cache alike for all
  for cand in encmount gocryptfs encfs; do
    mnt=$work/mnt-$cand dest=$work/dest-$cand
    mkdir -p "$mnt"; rm -rf "$dest"; mkdir -p "$dest"
    mounts+=("$mnt")
    mount_view "$cand" "$src" "$mnt"
    PID=$(daemon_of "$mnt")
    [[ -n $PID ]] || { say "no daemon found for $cand"; exit 1; }
    timed find "$mnt"; find_s=$SECS fd1=$MAXFD
    timed rsync -a "$mnt/" "$dest/"; rsync_s=$SECS fd2=$MAXFD
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$PID/status")
    maxfd=$((fd1 > fd2 ? fd1 : fd2))
    fusermount -u "$mnt"
    rm -rf "$dest"
    printf '%s\t%s\t%.2f\t%.2f\t%.1f\t%.1f\t%s\t%s\n' "$n" "$cand" "$find_s" "$rsync_s" \
      "$(echo "$find_s * 1000000 / $n" | bc -l)" "$(echo "$rsync_s * 1000000 / $n" | bc -l)" \
      "$hwm" "$maxfd" | tee -a "$results"
  done
done
say "results in $results"
column -t "$results"
