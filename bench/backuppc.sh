#!/usr/bin/env bash
# bench/backuppc.sh: wall time of real BackupPC 4 full and incremental backups
# of one generated tree (default 20,000 files, about 330 MB), pulled three ways
# over ssh on 127.0.0.1 as the backuppc user through sudo:
#   encmount  an encmount reverse view (hardened preset), through the shim
#             (`sudo encmount-rsync`) when one is found, else `sudo rsync`
#   plain     the plaintext itself, `sudo /usr/bin/rsync` (today's setup)
#   encfs     a stock `encfs --reverse` view (standard mode), `sudo rsync`
# One run, interleaved: the three fulls, then one round of edits of the tree,
# then the three incrementals. Prints each wall time (request to "Finished" in
# BackupPC's LOG), the ratios to plain and to encfs, and the load average.
# Not a test: nothing is asserted; a failed backup stops the run.
#
# Everything runs in a private mount namespace (own /etc/backuppc, sudoers
# drop-in, /etc/encmount, /run), with its own sshd and BackupPC daemon, like
# tests/e2e_backuppc. Binaries: the installed package's /usr/bin ones when it
# is installed, else target/release (built first).
#
# Usage: bench/backuppc.sh [--files N] [--keep]
#   --files N  number of files in the tree (default 20000)
#   --keep     keep the temporary directory (its path is printed)
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "backuppc.sh: $*" >&2; exit 1; }

files=20000
keep=0
while (($#)); do
    case $1 in
        --files)
            [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || die "--files needs a number"
            files=$2
            shift
            ;;
        --keep) keep=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done

[[ $(id -u) == 0 ]] || die "must run as root (namespaces, FUSE, sudo rules)"
bpcbin=/usr/share/backuppc/bin
[[ -x $bpcbin/BackupPC && -x /usr/libexec/backuppc-rsync/rsync_bpc ]] ||
    die "BackupPC 4 is missing (apt-get install backuppc backuppc-rsync)"
for tool in encfs rsync /usr/sbin/sshd ssh ssh-keygen sudo unshare nsenter setpriv perl fusermount3; do
    command -v "$tool" >/dev/null || die "'$tool' not found"
done

repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ -x /usr/bin/encmount ]]; then
    enc=/usr/bin/encmount
    shim=/usr/bin/encmount-rsync
    [[ -x $shim ]] || die "the package is half installed: /usr/bin/encmount-rsync is missing"
else
    (cd "$repo" && cargo build --release --locked -q --bins)
    enc=$repo/target/release/encmount
    shim=$repo/target/release/encmount-rsync
fi
[[ -x $shim ]] || shim=

T=$(mktemp -d /tmp/encmount-bench-bpc.XXXXXX)
chmod 0755 "$T"
holder=
pids=()
cleanup() {
    set +e
    if [[ -n $holder ]]; then
        timeout 60 nsenter --target="$holder" --mount -- env -i PATH=/usr/bin:/bin "$enc" down --all --lazy >/dev/null 2>&1
        timeout 30 nsenter --target="$holder" --mount -- fusermount3 -u -z "$T/mnt-encfs" >/dev/null 2>&1
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        sleep 1
        kill "$holder" 2>/dev/null
        wait 2>/dev/null
    fi
    if ((keep)); then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
ns() { nsenter --target="$holder" --mount -- "$@"; }
as_bpc() { ns setpriv --reuid=backuppc --regid=backuppc --init-groups --reset-env "$@"; }

echo "== generating $files files in $T/src"
mkdir -p "$T/src"
perl -e '
    use strict; my ($root, $n) = @ARGV;
    open(my $rnd, "<", "/dev/urandom") or die;
    srand(20000);
    for my $i (0 .. $n - 1) {
        my $dir = sprintf("%s/d%02d/e%02d", $root, $i % 50, int($i / 50) % 20);
        system("mkdir", "-p", $dir) == 0 or die unless -d $dir;
        my $r = rand();
        my $size = $r < 0.80 ? 512 + int(rand(7680))
                 : $r < 0.99 ? 8192 + int(rand(57344))
                 : 262144 + int(rand(786432));
        read($rnd, my $buf, $size) == $size or die;
        open(my $f, ">", "$dir/file-$i.dat") or die; print $f $buf; close $f;
    }' "$T/src" "$files"
du -sh "$T/src" | sed 's/^/   /'

# --- the namespace ----------------------------------------------------------
mkdir -p "$T"/{etc-upper,etc-work,run-upper,run-work,conf,etc-encmount,top,log,run,ssh,mnt-encfs,srv}
unshare --mount --propagation private -- sh -c "
    set -eu
    mount --make-rprivate /
    mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/etc-upper,workdir=$T/etc-work /etc
    mount -t overlay overlay -o lowerdir=/run,upperdir=$T/run-upper,workdir=$T/run-work /run
    mkdir -p -m 0755 /run/sshd /etc/encmount
    mount --bind $T/conf /etc/backuppc
    mount --bind $T/etc-encmount /etc/encmount
    echo ready
    exec sleep 86400" </dev/null >"$T/holder.out" &
holder=$!
for _ in $(seq 100); do grep -q ready "$T/holder.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$T/holder.out" || die "the private namespace did not come up"

# --- the views ----------------------------------------------------------------
echo "bench password" >"$T/etc-encmount/bench.pass"
chmod 0600 "$T/etc-encmount/bench.pass"
"$enc" init --password-file "$T/etc-encmount/bench.pass" "$T/etc-encmount/bench.encfs6.xml" >/dev/null 2>&1
cat >"$T/etc-encmount/encmount.yaml" <<EOF
defaults:
  mount_root: $T/srv
  readers: [backuppc]
views:
  bench:
    source: $T/src
    config: $T/etc-encmount/bench.encfs6.xml
    password_file: $T/etc-encmount/bench.pass
EOF
ns env -i PATH=/usr/bin:/bin "$enc" up bench >/dev/null
mkdir -p "$T/encfs-new" "$T/encfs-tmp"
echo "bench password" | encfs --standard --reverse --stdinpass "$T/encfs-new" "$T/encfs-tmp" >/dev/null
fusermount3 -u "$T/encfs-tmp"
mv "$T/encfs-new/.encfs6.xml" "$T/encfs.xml"
echo "bench password" | ns env ENCFS6_CONFIG="$T/encfs.xml" encfs --reverse --stdinpass -o ro \
    "$T/src" "$T/mnt-encfs" >/dev/null

# --- sudo rules ---------------------------------------------------------------
{
    echo "backuppc ALL=(root) NOPASSWD: /usr/bin/rsync --server --sender *"
    [[ -n $shim ]] && echo "backuppc ALL=(root) NOPASSWD: $shim --server --sender *"
} >"$T/sudoers"
visudo -cqf "$T/sudoers" || die "the bench's sudoers rules do not parse"
ns install -m 0440 -o root -g root "$T/sudoers" /etc/sudoers.d/encmount-bench

# --- sshd ---------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/client_key"
chown backuppc "$T/ssh/client_key"
port=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1:0")->sockport')
echo "restrict $(cut -d' ' -f1,2 "$T/ssh/client_key.pub")" >"$T/ssh/authorized_keys"
cat >"$T/ssh/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $T/ssh/host_key
PidFile none
AuthorizedKeysFile $T/ssh/authorized_keys
StrictModes no
UsePAM yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers backuppc
EOF
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$T/ssh/host_key.pub")" >"$T/ssh/known_hosts"
cat >"$T/ssh/ssh_config" <<EOF
Host 127.0.0.1
  Port $port
  User backuppc
  IdentityFile $T/ssh/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $T/ssh/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
EOF
chmod 0644 "$T/ssh/"{ssh_config,known_hosts,authorized_keys}
nsenter --target="$holder" --mount -- /usr/sbin/sshd -D -e -f "$T/ssh/sshd_config" >"$T/ssh/sshd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q 'Server listening' "$T/ssh/sshd.log" && break; sleep 0.1; done
grep -q 'Server listening' "$T/ssh/sshd.log" || die "sshd did not start: $(cat "$T/ssh/sshd.log")"

# --- BackupPC -----------------------------------------------------------------
enc_path=${shim:+sudo $shim}
enc_path=${enc_path:-sudo /usr/bin/rsync}
cp /etc/backuppc/config.pl "$T/conf/config.pl"
cat >>"$T/conf/config.pl" <<EOF
\$Conf{TopDir} = '$T/top';
\$Conf{LogDir} = '$T/log';
\$Conf{RunDir} = '$T/run';
\$Conf{WakeupSchedule} = [$((($(date +%-H) + 12) % 24))];
\$Conf{BackupsDisable} = 1;
\$Conf{BlackoutPeriods} = [];
\$Conf{DfMaxUsagePct} = 100;
\$Conf{PingPath} = ''; \$Conf{PingCmd} = '';
\$Conf{NmbLookupPath} = ''; \$Conf{NmbLookupCmd} = '';
\$Conf{SmbClientPath} = ''; \$Conf{SendmailPath} = '';
\$Conf{ClientNameAlias} = '127.0.0.1';
\$Conf{XferMethod} = 'rsync';
\$Conf{CompressLevel} = 0;
\$Conf{RsyncRestoreArgs} = undef;
\$Conf{RsyncClientPath} = 'sudo /usr/bin/rsync';
\$Conf{RsyncSshArgs} = ['-e', '\$sshPath -F $T/ssh/ssh_config'];
\$Conf{RsyncShareName} = ['/nonexistent-encmount-bench'];
EOF
printf 'host dhcp user moreUsers\nencmount 0 backuppc\nplain 0 backuppc\nencfs 0 backuppc\n' >"$T/conf/hosts"
echo "\$Conf{RsyncShareName} = ['$T/srv/bench']; \$Conf{RsyncClientPath} = '$enc_path';" >"$T/conf/encmount.pl"
echo "\$Conf{RsyncShareName} = ['$T/src'];" >"$T/conf/plain.pl"
echo "\$Conf{RsyncShareName} = ['$T/mnt-encfs'];" >"$T/conf/encfs.pl"
chown -R backuppc "$T"/{conf,top,log,run}
# nsenter and setpriv exec, so $! is the daemon itself (a shell function would fork).
nsenter --target="$holder" --mount -- setpriv --reuid=backuppc --regid=backuppc --init-groups \
    --reset-env "$bpcbin/BackupPC" >"$T/log/daemon.out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q ' started, pid ' "$T/log/LOG" 2>/dev/null && break; sleep 0.2; done
grep -q ' started, pid ' "$T/log/LOG" 2>/dev/null || die "BackupPC did not start: $(cat "$T/log/daemon.out")"

declare -A secs
# backup HOST full|incr: request it, wait for BackupPC's "Finished" line.
backup() {
    local host=$1 kind=$2 flag done before start end
    flag=$([[ $kind == full ]] && echo 1 || echo 0)
    done="Finished $kind backup on $host"
    before=$(grep -c "$done" "$T/log/LOG" || true)
    read -r load _ </proc/loadavg
    start=$(date +%s.%N)
    as_bpc "$bpcbin/BackupPC_serverMesg" backup "$host" "$host" backuppc "$flag" >/dev/null
    while (($(grep -c "$done" "$T/log/LOG" || true) <= before)); do
        if grep -qE "Backup (failed|aborted) on $host|^[-0-9: ]+$host: " "$T/log/LOG"; then
            tail -20 "$T/log/LOG" >&2
            die "the $kind backup of $host failed"
        fi
        sleep 0.2
    done
    end=$(date +%s.%N)
    secs[$host-$kind]=$(perl -e "printf '%.3f', $end - $start")
    printf '   %-8s %-4s %8.2f s   (load before: %s)\n' "$host" "$kind" "${secs[$host-$kind]}" "$load"
}

echo "== pulls: encmount via '$enc_path', plain and encfs via 'sudo /usr/bin/rsync'"
echo "== full backups (--checksum: every byte read, and encrypted by the views)"
for h in encmount plain encfs; do backup "$h" full; done

echo "== edits: 1% of the files rewritten, 0.5% appended to, 100 added, 50 deleted"
perl -e '
    use strict; use File::Path qw(make_path); my ($root, $n) = @ARGV;
    open(my $rnd, "<", "/dev/urandom") or die;
    sub path { my $i = shift; sprintf("%s/d%02d/e%02d/file-%d.dat", $root, $i % 50, int($i / 50) % 20, $i) }
    for (my $i = 0; $i < $n; $i += 100) { my $s = -s path($i); read($rnd, my $b, $s); open(my $f, ">", path($i)) or die; print $f $b; }
    for (my $i = 37; $i < $n; $i += 200) { read($rnd, my $b, 4096); open(my $f, ">>", path($i)) or die; print $f $b; }
    for my $i ($n .. $n + 99) { read($rnd, my $b, 3000); make_path(path($i) =~ s{/[^/]*$}{}r); open(my $f, ">", path($i)) or die; print $f $b; }
    for (my $i = 51; $i < $n; $i += $n / 50) { unlink(path(int($i))); }' "$T/src" "$files"

echo "== incremental backups (stat only; changed files are read and encrypted)"
for h in encmount plain encfs; do backup "$h" incr; done

read -r l1 l5 l15 _ </proc/loadavg
echo "== result ($files files, $(du -sh "$T/src" | cut -f1), $(nproc) cores; load now $l1 $l5 $l15)"
ratio() { perl -e "printf '%.2f', $1 / $2"; }
for kind in full incr; do
    printf '   %-4s  encmount %7.2f s   plain %7.2f s   encfs %7.2f s   encmount/plain %s   encmount/encfs %s\n' \
        "$kind" "${secs[encmount-$kind]}" "${secs[plain-$kind]}" "${secs[encfs-$kind]}" \
        "$(ratio "${secs[encmount-$kind]}" "${secs[plain-$kind]}")" \
        "$(ratio "${secs[encmount-$kind]}" "${secs[encfs-$kind]}")"
done
