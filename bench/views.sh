#!/usr/bin/env bash
# bench/views.sh: the team's view benchmark (../shared/bench/views.sh) with
# encmount as a candidate beside plain, encfs --reverse and gocryptfs
# -reverse, all measured in the same run, interleaved.
#
# Usage: bench/views.sh [--preset hardened|standard|paranoia] [views.sh options…]
#   e.g. bench/views.sh --rounds 3 --dest-dir /dev/shm      (~13 min on 2 cores)
#        bench/views.sh --quick                              (~2 min smoke test)
# Builds target/release/encmount first. Run as root (it mounts FUSE).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
harness=$repo/../shared/bench/views.sh
[[ -x $harness || -f $harness ]] || { echo "views.sh: the team harness $harness is missing" >&2; exit 1; }
preset=hardened
if [[ ${1:-} == --preset ]]; then preset=$2; shift 2; fi
(cd "$repo" && cargo build --release --locked -q)
bin=$repo/target/release/encmount
exec bash "$harness" "$@" --candidate encmount \
    --init "$bin init --preset $preset --kdf-ms 500 --password-file {passfile} {state}/cfg.xml" \
    --mount "$bin mount --reverse -c {state}/cfg.xml --password-file {passfile} {src} {mnt}" \
    --umount "$bin umount {mnt}"
