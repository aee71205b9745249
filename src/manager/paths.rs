//! Where the manager finds its yaml, keeps its state (`/run/encmount/`), and
//! the `encmount` binary it runs for each view.
//!
//! Tests may move the yaml and the state directory with `ENCMOUNT_CONFIG`
//! and `ENCMOUNT_RUN_DIR`, but only when the process is not running under
//! sudo: `encmount-rsync` runs as root for an unprivileged caller, who must
//! not be able to point it at another configuration (design §8). The binary
//! is never taken from the environment.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use super::ManagerError;
use super::config::DEFAULT_PATH;

/// The state directory: pid, state and lock files of the views.
pub const RUN_DIR: &str = "/run/encmount";
/// Moves the yaml, outside sudo only (tests).
pub const ENV_CONFIG: &str = "ENCMOUNT_CONFIG";
/// Moves the state directory, outside sudo only (tests).
pub const ENV_RUN_DIR: &str = "ENCMOUNT_RUN_DIR";

/// The files and programs the manager works with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The yaml.
    pub yaml: PathBuf,
    /// The state directory.
    pub run_dir: PathBuf,
    /// The `encmount` binary that runs the views.
    pub encmount_bin: PathBuf,
}

impl Paths {
    /// The fixed system paths, whatever the environment says; the binary
    /// is the `encmount` next to the running executable.
    pub fn system() -> Result<Paths, ManagerError> {
        Ok(Paths {
            yaml: PathBuf::from(DEFAULT_PATH),
            run_dir: PathBuf::from(RUN_DIR),
            encmount_bin: sibling_binary()?,
        })
    }

    /// The paths for this process: `yaml` if given (the `-c` option),
    /// then `$ENCMOUNT_CONFIG` and `$ENCMOUNT_RUN_DIR` when not running
    /// under sudo, else the system paths. Under sudo, `-c` is honoured
    /// only for a caller who is root already (`SUDO_UID=0`).
    pub fn from_env(yaml: Option<&Path>) -> Result<Paths, ManagerError> {
        Self::resolve(yaml, |k| std::env::var_os(k))
    }

    fn resolve(
        yaml: Option<&Path>,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Paths, ManagerError> {
        let mut p = Paths::system()?;
        let sudo_uid = env("SUDO_UID");
        if let Some(y) = yaml {
            if sudo_uid.as_ref().is_some_and(|u| u != "0") {
                return Err(ManagerError::Refused(
                    "-c is not accepted under sudo; the system configuration is used".into(),
                ));
            }
            p.yaml = absolute(y)?;
        }
        if sudo_uid.is_none() {
            let nonempty = |k| env(k).filter(|v: &OsString| !v.is_empty());
            if let (None, Some(y)) = (yaml, nonempty(ENV_CONFIG)) {
                p.yaml = absolute(Path::new(&y))?;
            }
            if let Some(r) = nonempty(ENV_RUN_DIR) {
                p.run_dir = absolute(Path::new(&r))?;
            }
        }
        Ok(p)
    }

    /// The view daemon's pid file.
    pub fn pid_file(&self, view: &str) -> PathBuf {
        self.run_dir.join(format!("{view}.pid"))
    }

    /// The view daemon's JSON state file.
    pub fn state_file(&self, view: &str) -> PathBuf {
        self.run_dir.join(format!("{view}.json"))
    }

    /// The lock held while a view is checked and mounted.
    pub fn lock_file(&self, view: &str) -> PathBuf {
        self.run_dir.join(format!("{view}.lock"))
    }
}

/// `encmount` in the directory of the running executable.
fn sibling_binary() -> Result<PathBuf, ManagerError> {
    let exe = std::env::current_exe().map_err(|e| ManagerError::Io {
        what: "cannot find the running executable".into(),
        source: e,
    })?;
    Ok(exe.with_file_name("encmount"))
}

fn absolute(p: &Path) -> Result<PathBuf, ManagerError> {
    std::path::absolute(p).map_err(|e| ManagerError::Io {
        what: format!("bad path {}", p.display()),
        source: e,
    })
}

/// Creates `dir` and its missing parents, each root-owned (the manager
/// runs as root) and mode 0755 whatever the umask, so readers can reach
/// the views below. Existing directories are left as they are.
pub fn create_dir(dir: &Path) -> Result<(), ManagerError> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |p: &Path, e: io::Error| ManagerError::Io {
        what: format!("cannot create {}", p.display()),
        source: e,
    };
    let missing: Vec<&Path> = dir.ancestors().take_while(|p| !p.is_dir()).collect();
    for p in missing.into_iter().rev() {
        match std::fs::create_dir(p) {
            Ok(()) => std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| fail(p, e))?,
            // Made meanwhile by a racing caller.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => {}
            Err(e) => return Err(fail(p, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
    }

    #[test]
    fn overrides_only_outside_sudo() {
        let vars = [(ENV_CONFIG, "/t/e.yaml"), (ENV_RUN_DIR, "/t/run")];
        let p = Paths::resolve(None, env(&vars)).unwrap();
        assert_eq!(
            (p.yaml.to_str(), p.run_dir.to_str()),
            (Some("/t/e.yaml"), Some("/t/run"))
        );
        let p = Paths::resolve(Some(Path::new("/t/c.yaml")), env(&vars)).unwrap();
        assert_eq!(p.yaml, Path::new("/t/c.yaml"));

        let sudo = [
            (ENV_CONFIG, "/t/e.yaml"),
            (ENV_RUN_DIR, "/t/run"),
            ("SUDO_UID", "1000"),
        ];
        let p = Paths::resolve(None, env(&sudo)).unwrap();
        assert_eq!(
            (p.yaml.to_str(), p.run_dir.to_str()),
            (Some(DEFAULT_PATH), Some(RUN_DIR))
        );
        assert!(Paths::resolve(Some(Path::new("/t/c.yaml")), env(&sudo)).is_err());
        let root = [("SUDO_UID", "0"), (ENV_RUN_DIR, "/t/run")];
        let p = Paths::resolve(Some(Path::new("/t/c.yaml")), env(&root)).unwrap();
        assert_eq!(
            (p.yaml.to_str(), p.run_dir.to_str()),
            (Some("/t/c.yaml"), Some(RUN_DIR))
        );
        assert_eq!(p.encmount_bin.file_name().unwrap(), "encmount");
        assert_eq!(p.pid_file("docs"), Path::new("/run/encmount/docs.pid"));
    }

    #[test]
    fn created_dirs_are_0755() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        // (The umask is process-wide: this test leaves it alone.)
        create_dir(&d.path().join("a/b")).unwrap();
        for p in [d.path().join("a"), d.path().join("a/b")] {
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o755
            );
        }
        create_dir(&d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("f"), "").unwrap();
        assert!(create_dir(&d.path().join("f/x")).is_err());
    }
}
