//! The client side of a run: which encmount binaries it uses, the sudoers rule the backup
//! user pulls through, and the yaml of its views.
//!
//! With the Debian package installed (CI installs it before the tests), the run uses the
//! installed `/usr/bin/encmount`, `/usr/bin/encmount-rsync` and `/etc/sudoers.d/encmount`,
//! exactly as an admin would. Without it, it uses the binaries cargo built for this test run
//! and the repository's `sudoers.d/encmount` with the shim's path rewritten, installed only
//! inside the run's private `/etc`. A half-installed package is an error naming what is
//! missing, never a silent fallback.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::sandbox::Ns;
use crate::common::{encmount_bin, require, run};

const INSTALLED_ENCMOUNT: &str = "/usr/bin/encmount";
const INSTALLED_SHIM: &str = "/usr/bin/encmount-rsync";
const INSTALLED_SUDOERS: &str = "/etc/sudoers.d/encmount";
/// The repository's sudoers drop-in (design §9), relative to the crate.
const REPO_SUDOERS: &str = "sudoers.d/encmount";

/// How the backup user's rsync server runs on the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    /// Today's setup: `sudo /usr/bin/rsync`, allowed by
    /// `backuppc ALL=NOPASSWD: /usr/bin/rsync --server --sender *`.
    PlainRsync,
    /// The product: `sudo encmount-rsync`, allowed by the packaged sudoers drop-in.
    Shim,
}

/// The encmount programs of the run.
#[derive(Clone, Debug)]
pub struct Programs {
    /// `encmount` (manager, restore).
    pub encmount: PathBuf,
    /// `encmount-rsync`, the sudo shim.
    pub shim: PathBuf,
    /// Whether they are the package's (`/usr/bin`).
    pub installed: bool,
}

impl Programs {
    /// The installed package's programs if it is installed, else the ones cargo built.
    pub fn locate() -> Programs {
        let installed = [INSTALLED_ENCMOUNT, INSTALLED_SHIM];
        let present: Vec<&str> = installed
            .iter()
            .copied()
            .filter(|p| Path::new(p).exists())
            .collect();
        if present.is_empty() {
            return Programs {
                encmount: encmount_bin(),
                shim: PathBuf::from(env!("CARGO_BIN_EXE_encmount-rsync")),
                installed: false,
            };
        }
        let missing: Vec<&str> = installed
            .iter()
            .chain(&[INSTALLED_SUDOERS])
            .copied()
            .filter(|p| !Path::new(p).exists())
            .collect();
        assert!(
            missing.is_empty(),
            "the encmount package looks half installed: {} present but {} missing \
             (reinstall it with dpkg -i, or remove it with dpkg -r to test the built binaries)",
            present.join(", "),
            missing.join(", ")
        );
        Programs {
            encmount: PathBuf::from(INSTALLED_ENCMOUNT),
            shim: PathBuf::from(INSTALLED_SHIM),
            installed: true,
        }
    }

    /// `RsyncClientPath` for BackupPC, and installs (inside the namespace's private `/etc`)
    /// the sudoers rule that lets the backup user run it.
    pub fn client_path(&self, ns: Ns, pull: Pull, user: &str, dir: &Path) -> String {
        require(&["sudo", "visudo", "rsync"]);
        match pull {
            Pull::PlainRsync => {
                let rule =
                    format!("{user} ALL=(root) NOPASSWD: /usr/bin/rsync --server --sender *\n");
                install_sudoers(ns, dir, "encmount-e2e-plain", &rule);
                "sudo /usr/bin/rsync".into()
            }
            Pull::Shim if self.installed => {
                // The packaged drop-in, as dpkg installed it (the namespace's /etc is an
                // overlay of the real one).
                run(ns.cmd("visudo").args(["-c", "-f", INSTALLED_SUDOERS]));
                format!("sudo {INSTALLED_SHIM}")
            }
            Pull::Shim => {
                let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join(REPO_SUDOERS);
                let text = fs::read_to_string(&repo).unwrap_or_else(|e| {
                    panic!(
                        "missing: the repository's sudoers drop-in {} ({e}); the end-to-end \
                         test installs it, with the shim's path rewritten, in its namespace",
                        repo.display()
                    )
                });
                assert!(
                    text.contains(INSTALLED_SHIM),
                    "{} does not name {INSTALLED_SHIM}",
                    repo.display()
                );
                let shim = self.shim.to_str().expect("the shim's path is UTF-8");
                install_sudoers(ns, dir, "encmount", &text.replace(INSTALLED_SHIM, shim));
                format!("sudo {shim}")
            }
        }
    }
}

/// Installs `rule` as `/etc/sudoers.d/NAME` in the namespace (0440, checked by visudo).
fn install_sudoers(ns: Ns, dir: &Path, name: &str, rule: &str) {
    let file = dir.join(format!("sudoers-{name}"));
    fs::write(&file, rule).unwrap();
    run(Command::new("visudo").arg("-cf").arg(&file));
    run(ns
        .cmd("install")
        .args(["-m", "0440", "-o", "root", "-g", "root"])
        .arg(&file)
        .arg(format!("/etc/sudoers.d/{name}")));
}

/// One view of the yaml.
pub struct View<'a> {
    pub name: &'a str,
    pub source: &'a Path,
    pub on_demand: bool,
}

/// Writes a volume config and password for each view and the yaml into `etc` (the
/// directory the namespace shows as `/etc/encmount`). Views mount under `mount_root`.
pub fn write_config(encmount: &Path, etc: &Path, mount_root: &Path, reader: &str, views: &[View]) {
    fs::create_dir_all(etc).unwrap();
    let mut yaml = format!(
        "defaults:\n  mount_root: {}\n  readers: [{reader}]\n  idle_timeout: 15m\nviews:\n",
        mount_root.display()
    );
    for v in views {
        let pass = etc.join(format!("{}.pass", v.name));
        fs::write(&pass, password(v.name)).unwrap();
        fs::set_permissions(&pass, fs::Permissions::from_mode(0o600)).unwrap();
        let config = volume_config(etc, v.name);
        run(Command::new(encmount)
            .args(["init", "--kdf-iterations", "1000", "--password-file"])
            .arg(&pass)
            .arg(&config));
        yaml.push_str(&format!(
            "  {}:\n    source: {}\n    config: {}\n    password_file: {}\n",
            v.name,
            v.source.display(),
            config.display(),
            pass.display()
        ));
        if v.on_demand {
            yaml.push_str("    on_demand: true\n    idle_timeout: 3s\n");
        }
    }
    fs::write(etc.join("encmount.yaml"), yaml).unwrap();
}

/// The password of a view's volume (one line).
pub fn password(view: &str) -> String {
    format!("e2e password of {view}\n")
}

/// The volume config of a view, as the admin keeps it.
pub fn volume_config(etc: &Path, view: &str) -> PathBuf {
    etc.join(format!("{view}.encfs6.xml"))
}
