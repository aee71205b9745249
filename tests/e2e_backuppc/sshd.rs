//! A real sshd on 127.0.0.1 for one run: its own host key, config, port and log, the backup
//! user's key in its own authorized_keys (with `restrict`), and a client config for that user
//! that pins the host key.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::sandbox::Ns;
use crate::common::{require, run};

const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Sshd {
    child: Child,
    /// The `ssh -F` config of the backup user: host 127.0.0.1 on our port, our key, our
    /// known_hosts, batch mode.
    pub client_config: PathBuf,
    /// sshd's own log (`-e`).
    pub log: PathBuf,
}

impl Sshd {
    /// Starts sshd in the namespace, admitting only `user` with a fresh key. `dir` is
    /// created and holds every file.
    pub fn start(ns: Ns, dir: &Path, user: &str) -> Sshd {
        require(&["sshd", "ssh", "ssh-keygen"]);
        fs::create_dir_all(dir).unwrap();
        let host_key = dir.join("host_key");
        let client_key = dir.join("client_key");
        for (key, comment) in [(&host_key, "e2e-host"), (&client_key, "e2e-client")] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(key));
        }
        run(Command::new("chown").arg(user).arg(&client_key));
        let public = |k: &Path| {
            let text = fs::read_to_string(k.with_extension("pub")).unwrap();
            text.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let authorized = dir.join("authorized_keys");
        fs::write(&authorized, format!("restrict {}\n", public(&client_key))).unwrap();
        let log = dir.join("sshd.log");
        let client_config = dir.join("ssh_config");
        let known_hosts = dir.join("known_hosts");

        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let config = dir.join("sshd_config");
            fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile none\n\
                     AuthorizedKeysFile {auth}\n\
                     # The run's files live under /tmp (world-writable), so sshd's path checks\n\
                     # would refuse them; the files themselves are root-owned 0644.\n\
                     StrictModes no\n\
                     # The Debian backuppc account is locked ('!'): key logins need PAM.\n\
                     UsePAM yes\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     PubkeyAuthentication yes\nPermitRootLogin no\nAllowUsers {user}\n\
                     LogLevel VERBOSE\n",
                    host = host_key.display(),
                    auth = authorized.display(),
                ),
            )
            .unwrap();
            fs::write(
                &known_hosts,
                format!("[127.0.0.1]:{port} {}\n", public(&host_key)),
            )
            .unwrap();
            fs::write(
                &client_config,
                format!(
                    "Host 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  \
                     IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n  \
                     BatchMode yes\n  LogLevel ERROR\n",
                    key = client_key.display(),
                    kh = known_hosts.display(),
                ),
            )
            .unwrap();
            for f in [&client_config, &known_hosts, &authorized] {
                fs::set_permissions(f, fs::Permissions::from_mode(0o644)).unwrap();
            }
            let log_file = fs::File::create(&log).unwrap();
            let child = ns
                .cmd("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .spawn()
                .expect("cannot start sshd");
            let mut sshd = Sshd {
                child,
                client_config: client_config.clone(),
                log: log.clone(),
            };
            match sshd.wait_listening() {
                Ok(()) => return sshd,
                Err(text) => last = text,
            }
        }
        panic!("sshd did not start; its last log:\n{last}");
    }

    fn wait_listening(&mut self) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains("Server listening on 127.0.0.1") {
                return Ok(());
            }
            if self.child.try_wait().unwrap().is_some() || start.elapsed() > START_TIMEOUT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(text);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (sshd's start is retried if it is taken meanwhile).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}
