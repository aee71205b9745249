//! A real BackupPC 4 server for one run: its own config dir (bind-mounted over
//! `/etc/backuppc` in the namespace), TopDir, LogDir and RunDir, and its own server daemon
//! (`BackupPC` in the foreground, as the `backuppc` user). Backups are asked for the way the
//! CGI asks, with `BackupPC_serverMesg backup`, and read back with `BackupPC_tarCreate`.
//!
//! Facts this relies on (`research/backuppc-argv.md`, observed with 4.4.0 on Debian 12):
//! host configs are `$ConfDir/HOST.pl`; the daemon refuses to start while `SmbClientPath`,
//! `PingPath` or `SendmailPath` name missing programs; an empty `NmbLookupCmd` and a
//! `ClientNameAlias` keep it from looking the host name up; `BackupsDisable = 1` stops
//! scheduled backups but not requested ones.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::sandbox::Ns;
use crate::common::{failure_report, output, run};

/// BackupPC's programs (Debian package `backuppc`).
pub const BIN: &str = "/usr/share/backuppc/bin";
/// The user BackupPC runs as, created by the Debian package.
pub const USER: &str = "backuppc";
/// How long one backup may take before the test gives up (hang detection only).
const BACKUP_TIMEOUT: Duration = Duration::from_secs(900);

/// One host of the server: its name and its one share (an absolute path on the client).
pub struct Host<'a> {
    pub name: &'a str,
    pub share: &'a Path,
}

pub struct BackupPc {
    ns: Ns,
    daemon: Child,
    pub top: PathBuf,
    pub log_dir: PathBuf,
}

/// What one finished backup was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub num: u32,
    pub kind: String,
}

impl BackupPc {
    /// Writes the config under `dir` and starts the daemon in the namespace. `conf` must be
    /// the directory that the namespace shows as `/etc/backuppc`. `client_path` is
    /// `RsyncClientPath` (e.g. `sudo /usr/bin/encmount-rsync`); `ssh_config` the backup
    /// user's `ssh -F` file.
    pub fn start(
        ns: Ns,
        dir: &Path,
        conf: &Path,
        hosts: &[Host],
        client_path: &str,
        ssh_config: &Path,
    ) -> BackupPc {
        let stock = Path::new("/etc/backuppc/config.pl");
        assert!(
            Path::new(BIN).join("BackupPC").is_file() && stock.is_file(),
            "missing prerequisite: BackupPC 4 (apt-get install backuppc backuppc-rsync)"
        );
        assert!(
            Path::new("/usr/libexec/backuppc-rsync/rsync_bpc").is_file(),
            "missing prerequisite: rsync_bpc (apt-get install backuppc-rsync)"
        );
        let top = dir.join("top");
        let log_dir = dir.join("log");
        let run_dir = dir.join("run");
        for d in [&top, &log_dir, &run_dir, &conf.to_path_buf()] {
            fs::create_dir_all(d).unwrap();
        }
        // Debian's config.pl, then our settings after it (later assignments win).
        let mut text = fs::read_to_string(stock).unwrap();
        // Never in the past, so the daemon starts no nightly or scheduled run while we work.
        let hour = (chrono_hour() + 12) % 24;
        text.push_str(&format!(
            "\n# --- encmount end-to-end test ---\n\
             $Conf{{TopDir}} = '{top}';\n$Conf{{LogDir}} = '{log}';\n$Conf{{RunDir}} = '{run}';\n\
             $Conf{{WakeupSchedule}} = [{hour}];\n$Conf{{BackupsDisable}} = 1;\n\
             $Conf{{BlackoutPeriods}} = [];\n$Conf{{DfMaxUsagePct}} = 100;\n\
             $Conf{{PingPath}} = '';\n$Conf{{PingCmd}} = '';\n\
             $Conf{{NmbLookupPath}} = '';\n$Conf{{NmbLookupCmd}} = '';\n\
             $Conf{{SmbClientPath}} = '';\n$Conf{{SendmailPath}} = '';\n\
             $Conf{{ClientNameAlias}} = '127.0.0.1';\n\
             $Conf{{XferMethod}} = 'rsync';\n$Conf{{XferLogLevel}} = 1;\n\
             # The README's host settings: ciphertext does not compress, and direct\n\
             # restores to the client are refused by the shim.\n\
             $Conf{{CompressLevel}} = 0;\n$Conf{{RsyncRestoreArgs}} = undef;\n\
             $Conf{{RsyncClientPath}} = '{client_path}';\n\
             $Conf{{RsyncSshArgs}} = ['-e', '$sshPath -F {ssh}'];\n\
             # A host without its own share backs up nothing real.\n\
             $Conf{{RsyncShareName}} = ['/nonexistent-encmount-e2e'];\n",
            top = top.display(),
            log = log_dir.display(),
            run = run_dir.display(),
            ssh = ssh_config.display(),
        ));
        fs::write(conf.join("config.pl"), text).unwrap();
        let mut list = String::from("host dhcp user moreUsers\n");
        for h in hosts {
            list.push_str(&format!("{} 0 {USER}\n", h.name));
            fs::write(
                conf.join(format!("{}.pl", h.name)),
                format!("$Conf{{RsyncShareName}} = ['{}'];\n", h.share.display()),
            )
            .unwrap();
        }
        fs::write(conf.join("hosts"), list).unwrap();
        for d in [&top, &log_dir, &run_dir, &conf.to_path_buf()] {
            run(Command::new("chown").arg("-R").arg(USER).arg(d));
        }
        let out = fs::File::create(dir.join("daemon.out")).unwrap();
        let daemon = ns
            .as_user(USER, Path::new(BIN).join("BackupPC"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("cannot start BackupPC");
        let mut bpc = BackupPc {
            ns,
            daemon,
            top,
            log_dir,
        };
        bpc.wait_log("BackupPC daemon start", Duration::from_secs(60), |log| {
            log.contains(" started, pid ").then_some(())
        });
        bpc
    }

    /// The daemon's `LOG` so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_dir.join("LOG")).unwrap_or_default()
    }

    fn wait_log<T>(&mut self, what: &str, timeout: Duration, f: impl Fn(&str) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            let log = self.log();
            if let Some(v) = f(&log) {
                return v;
            }
            if let Some(status) = self.daemon.try_wait().unwrap() {
                panic!("{what}: BackupPC ended ({status}); its LOG:\n{log}");
            }
            assert!(
                start.elapsed() < timeout,
                "{what}: nothing after {timeout:?}; BackupPC's LOG:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A BackupPC program run as the backuppc user in the namespace.
    pub fn tool(&self, name: &str) -> Command {
        self.ns.as_user(USER, Path::new(BIN).join(name))
    }

    /// Asks the daemon for a full or an incremental backup of `host` and waits until it is
    /// done; panics (with the daemon's LOG and the host's XferLOG) unless it finished with no
    /// transfer error.
    pub fn backup(&mut self, host: &str, full: bool) -> Backup {
        let kind = if full { "full" } else { "incr" };
        let done = format!("Finished {kind} backup on {host}");
        let failed = [
            format!("Backup failed on {host}"),
            format!("Backup aborted on {host}"),
            format!("{host}: "),
        ];
        let before = self.log().matches(&done).count();
        let before_failed: usize = failed.iter().map(|f| self.log().matches(f).count()).sum();
        let reply = run(self.tool("BackupPC_serverMesg").args([
            "backup",
            host,
            host,
            USER,
            if full { "1" } else { "0" },
        ]));
        let reply = String::from_utf8_lossy(&reply.stdout).into_owned();
        assert!(
            reply.contains("ok: requested backup"),
            "BackupPC refused the request: {reply}"
        );
        let ok = self.wait_log(&format!("{kind} backup of {host}"), BACKUP_TIMEOUT, |log| {
            let n_failed: usize = failed.iter().map(|f| log.matches(f).count()).sum();
            if log.matches(&done).count() > before {
                Some(true)
            } else if n_failed > before_failed {
                Some(false)
            } else {
                None
            }
        });
        let backup = self.last_backup(host);
        let xfer = self.xfer_log(host, backup.as_ref().map_or(0, |b| b.num));
        assert!(
            ok,
            "the {kind} backup of {host} failed; LOG:\n{}\nlast XferLOG:\n{xfer}",
            self.log()
        );
        let backup = backup.expect("a finished backup is in the backups file");
        assert_eq!(backup.kind, kind, "backups file of {host}");
        let summary = format!("{kind} backup {} complete", backup.num);
        let line = xfer
            .lines()
            .find(|l| l.starts_with(&summary))
            .unwrap_or_else(|| panic!("no '{summary}' line in the XferLOG:\n{xfer}"));
        assert!(
            line.contains(" 0 xferErrs"),
            "the {kind} backup of {host} had transfer errors: {line}\n{xfer}"
        );
        backup
    }

    /// The last line of `TopDir/pc/HOST/backups`, if any.
    pub fn last_backup(&self, host: &str) -> Option<Backup> {
        let text = fs::read_to_string(self.top.join("pc").join(host).join("backups")).ok()?;
        let line = text.lines().last()?;
        let mut f = line.split('\t');
        let num = f.next()?.parse().ok()?;
        let kind = f.next()?.to_string();
        Some(Backup { num, kind })
    }

    /// The transfer log of backup `num` of `host` (empty if there is none).
    pub fn xfer_log(&self, host: &str, num: u32) -> String {
        fs::read_to_string(
            self.top
                .join("pc")
                .join(host)
                .join(format!("XferLOG.{num}")),
        )
        .unwrap_or_default()
    }

    /// Backup `num` of `share` on `host`, straight from the pool as BackupPC's tar stream
    /// (`BackupPC_tarCreate -h HOST -n NUM -s SHARE .`), unpacked into `dest` (created) as
    /// root with owners, modes and mtimes.
    pub fn restore_tar(&self, host: &str, num: u32, share: &Path, dest: &Path) {
        fs::create_dir_all(dest).unwrap();
        let tar_file = dest.with_extension("tar");
        let out = fs::File::create(&tar_file).unwrap();
        let mut cmd = self.tool("BackupPC_tarCreate");
        cmd.args(["-h", host, "-n", &num.to_string(), "-s"])
            .arg(share)
            .arg(".")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::piped());
        let res = output(&mut cmd);
        assert!(res.status.success(), "{}", failure_report(&cmd, &res));
        // tarCreate writes each directory before its contents: without
        // --delay-directory-restore the directory mtimes come out as "now".
        run(Command::new("tar")
            .args([
                "-x",
                "--delay-directory-restore",
                "--same-permissions",
                "--same-owner",
                "--numeric-owner",
                "-f",
            ])
            .arg(&tar_file)
            .arg("-C")
            .arg(dest));
        fs::remove_file(&tar_file).unwrap();
    }
}

impl Drop for BackupPc {
    fn drop(&mut self) {
        // SIGTERM lets the daemon stop its running jobs and remove its socket.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.daemon.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.daemon.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// The current UTC hour.
fn chrono_hour() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    ((secs / 3600) % 24) as u32
}
