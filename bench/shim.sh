#!/usr/bin/env bash
# bench/shim.sh: the shim's own cost, from its exec to its exec of rsync,
# median of 100 runs, for a mounted view and for an on-demand view that
# must come up first. The yaml's `rsync` is /bin/true, and the same
# fork+exec of /bin/true alone is measured as the baseline, so
# "shim - baseline" is what encmount-rsync adds (parse, yaml, mount checks,
# privilege drop, Landlock). sudo itself is not included: the shim runs as
# root with the variables sudo would set.
#
# Runs as root, in a private mount namespace where a temporary directory is
# bind-mounted over /etc/encmount and /run/encmount (the shim reads only
# those). Usage: bench/shim.sh [DIR-WITH-BINARIES] (default target/release).
set -euo pipefail
die() { printf 'bench/shim.sh: %s\n' "$*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "must run as root"
BIN=$(realpath "${1:-target/release}")
[[ -x $BIN/encmount && -x $BIN/encmount-rsync ]] || die "no encmount binaries in $BIN (cargo build --release)"
RUNS=100

T=$(mktemp -d); chmod 755 "$T"
USERNAME=esrbench$$
made=()
cleanup() {
    userdel "$USERNAME" 2>/dev/null || true
    for d in "${made[@]}"; do rmdir "$d" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
useradd -M -U -d /nonexistent -s /bin/sh "$USERNAME"
for d in /etc/encmount /run/encmount; do
    [[ -e $d ]] || { mkdir "$d"; made+=("$d"); }
done
export T BIN RUNS USERNAME
unshare -m --propagation private bash -euo pipefail <<'NS'
mkdir -p "$T"/{etc,run,src/docs,src/od}
printf 'bench password\n' > "$T/pass"; chmod 600 "$T/pass"
for i in $(seq 100); do printf 'file %s\n' "$i" > "$T/src/docs/f$i"; done
cp -r "$T/src/docs/." "$T/src/od/"
for v in docs od; do
    "$BIN/encmount" init --kdf-iterations 1000 --password-file "$T/pass" "$T/$v.xml" >/dev/null 2>&1
done
cat > "$T/etc/encmount.yaml" <<YAML
defaults:
  mount_root: $T/srv
  readers: [$USERNAME]
views:
  docs: {source: $T/src/docs, config: $T/docs.xml, password_file: $T/pass}
  od: {source: $T/src/od, config: $T/od.xml, password_file: $T/pass, on_demand: true}
shim:
  rsync: /bin/true
YAML
mount --bind "$T/etc" /etc/encmount
mount --bind "$T/run" /run/encmount
mgr() { "$BIN/encmount" "$@" -c "$T/etc/encmount.yaml"; }
export ENCMOUNT_RUN_DIR="$T/run"
mgr up docs >/dev/null 2>&1
uid=$(id -u "$USERNAME"); gid=$(id -g "$USERNAME")
shim() {
    SUDO_UID=$uid SUDO_GID=$gid SUDO_USER=$USERNAME \
        "$BIN/encmount-rsync" --server --sender -logDtpre.iLsfxC . "$T/srv/$1/" </dev/null
}
median() { sort -n | awk '{a[NR]=$1} END {print (a[int((NR+1)/2)] + a[int(NR/2)+1]) / 2}'; }
# one run, in microseconds
us() { local a b; a=$(date +%s%N); "$@"; b=$(date +%s%N); echo $(((b - a) / 1000)); }
shim docs || { echo "the shim refused the bench pull" >&2; exit 1; }
base=$(for _ in $(seq "$RUNS"); do us /bin/true; done | median)
mounted=$(for _ in $(seq "$RUNS"); do us shim docs; done | median)
ondemand=$(for _ in $(seq "$RUNS"); do
    mgr down od >/dev/null 2>&1 || true
    us shim od
done | median)
mgr down --all >/dev/null 2>&1 || true
printf 'runs=%s (median, microseconds)\n' "$RUNS"
printf 'baseline fork+exec /bin/true: %s\n' "$base"
printf 'shim, mounted view:           %s  (shim adds %s)\n' "$mounted" "$(awk "BEGIN{print $mounted-$base}")"
printf 'shim, on-demand view down:    %s  (shim adds %s)\n' "$ondemand" "$(awk "BEGIN{print $ondemand-$base}")"
NS
