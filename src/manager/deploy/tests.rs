//! The deployment findings, each provoked on real files in a temporary
//! directory (real `visudo`, real `setfacl`, real rsync).

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;
use std::process::Command;

use super::*;
use crate::manager::yaml;

const GOOD_SUDOERS: &str = "Defaults!/X/encmount-rsync !requiretty\n\
    nobody ALL=(root) NOPASSWD: /X/encmount-rsync --server --sender *\n";

struct Fixture {
    dir: tempfile::TempDir,
    deploy: Deployment,
}

impl Fixture {
    /// A good deployment: sudoers drop-in, shim, mount root with the ACL,
    /// AppArmor disabled.
    fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("encmount-deploy-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        let bin = d.join("bin");
        fs::create_dir(&bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let shim = bin.join(SHIM_NAME);
        fs::write(&shim, "#!/bin/sh\nexit 1\n").unwrap();
        fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).unwrap();
        let sudoers = d.join("sudoers-encmount");
        write_sudoers(
            &sudoers,
            &GOOD_SUDOERS.replace("/X", &bin.to_string_lossy()),
        );
        let sys = d.join("sys");
        fs::create_dir(&sys).unwrap();
        fs::write(sys.join("enabled"), "N\n").unwrap();
        fs::create_dir(d.join("src")).unwrap();
        let root = d.join("views");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
        setfacl(&root, "u:nobody:--x");
        Fixture {
            deploy: Deployment {
                sudoers,
                shim,
                visudo: PathBuf::from("/usr/sbin/visudo"),
                apparmor_fs: sys.clone(),
                apparmor_enabled: sys.join("enabled"),
            },
            dir,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A yaml with one view read by `nobody`, mounted under `views/`.
    fn config(&self, rsync: &str) -> ManagerConfig {
        let d = self.dir.path().display();
        let yaml = format!(
            "defaults:\n  mount_root: {d}/views\n  readers: [nobody]\n\
             views:\n  docs:\n    source: {d}/src\n    config: {d}/docs.xml\n    \
             password_file: {d}/docs.pass\n\
             shim:\n  rsync: {rsync}\n"
        );
        let file = self.path("encmount.yaml");
        fs::write(&file, yaml).unwrap();
        yaml::load(&file).unwrap()
    }

    fn findings(&self) -> Vec<DeployFinding> {
        check_deployment(&self.config("/usr/bin/rsync"), &self.deploy)
    }
}

fn write_sudoers(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o440)).unwrap();
}

fn setfacl(path: &Path, entry: &str) {
    let out = Command::new("setfacl")
        .args(["-m", entry])
        .arg(path)
        .output()
        .expect("setfacl (package acl) is needed by this test");
    assert!(
        out.status.success(),
        "setfacl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn problems(f: &[DeployFinding]) -> Vec<&str> {
    f.iter()
        .filter(|f| f.problem)
        .map(|f| f.message.as_str())
        .collect()
}

/// The one problem of `f`; fails the test unless there is exactly one.
fn only_problem(f: &[DeployFinding]) -> String {
    let p = problems(f);
    assert_eq!(p.len(), 1, "{p:?}");
    p[0].to_string()
}

fn notes(f: &[DeployFinding]) -> Vec<&str> {
    f.iter()
        .filter(|f| !f.problem)
        .map(|f| f.message.as_str())
        .collect()
}

#[test]
fn a_good_deployment_has_no_problems() {
    let fx = Fixture::new();
    let f = fx.findings();
    assert_eq!(problems(&f), Vec::<&str>::new());
    // Every finding is one line.
    assert!(f.iter().all(|f| !f.message.contains('\n')), "{f:?}");
}

#[test]
fn a_missing_sudoers_dropin_is_a_problem() {
    let fx = Fixture::new();
    fs::remove_file(&fx.deploy.sudoers).unwrap();
    let p = only_problem(&fx.findings());
    assert!(p.contains("sudoers drop-in") && p.contains("mode 0440"));
}

#[test]
fn a_sudoers_dropin_with_the_wrong_mode_is_a_problem() {
    let fx = Fixture::new();
    fs::set_permissions(&fx.deploy.sudoers, fs::Permissions::from_mode(0o644)).unwrap();
    let p = only_problem(&fx.findings());
    assert!(p.contains("mode 0644") && p.contains("chmod 0440"), "{p:?}");
}

#[test]
fn an_invalid_sudoers_dropin_is_a_problem() {
    let fx = Fixture::new();
    let shim = fx.deploy.shim.display().to_string();
    write_sudoers(
        &fx.deploy.sudoers,
        &format!("nobody ALL=(root) NOPASSWD {shim} --server --sender *\n"),
    );
    let f = fx.findings();
    let p = problems(&f);
    assert!(p.iter().any(|m| m.contains("visudo -cf")), "{p:?}");
}

#[test]
fn a_sudoers_dropin_for_another_shim_is_a_problem() {
    let fx = Fixture::new();
    write_sudoers(
        &fx.deploy.sudoers,
        &GOOD_SUDOERS.replace("/X", "/usr/local/bin"),
    );
    let p = only_problem(&fx.findings());
    assert!(p.contains("no NOPASSWD rule for") && p.contains(&*fx.deploy.shim.to_string_lossy()));
}

#[test]
fn a_shim_that_others_can_replace_is_a_problem() {
    let fx = Fixture::new();
    let bin = fx.path("bin");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o777)).unwrap();
    let p = only_problem(&fx.findings());
    assert!(
        p.starts_with(&format!("{} is owner uid 0, mode 0777", bin.display())),
        "{p:?}"
    );

    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    chown(&fx.deploy.shim, Some(65534), None).unwrap();
    let p = only_problem(&fx.findings());
    assert!(
        p.contains("is owner uid 65534") && p.contains("chown root:root"),
        "{p:?}"
    );
}

#[test]
fn a_missing_shim_is_a_problem() {
    let fx = Fixture::new();
    fs::remove_file(&fx.deploy.shim).unwrap();
    let p = only_problem(&fx.findings());
    assert!(p.starts_with("shim ") && p.contains("install the encmount package"));
}

#[test]
fn an_open_mount_root_is_a_problem() {
    let fx = Fixture::new();
    fs::set_permissions(fx.path("views"), fs::Permissions::from_mode(0o755)).unwrap();
    let p = only_problem(&fx.findings());
    assert!(p.contains("mode 0755") && p.contains("chmod 0700"), "{p:?}");
}

#[test]
fn a_mount_root_without_the_readers_acl_entry_is_a_problem() {
    let fx = Fixture::new();
    let root = fx.path("views");
    let out = Command::new("setfacl")
        .arg("-b")
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success());
    let p = only_problem(&fx.findings());
    assert!(
        p.contains("lacks the ACL entry user:nobody:--x") && p.contains("setfacl -m u:nobody:--x"),
        "{p:?}"
    );

    // The ACL mask (shown as the group bits) grows with the entry: the mode
    // is then 0750 too, a second finding.
    setfacl(&root, "u:nobody:r-x");
    let f = fx.findings();
    let p = problems(&f);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].contains("mode 0750"), "{p:?}");
    assert!(p[1].contains("gives reader nobody more than --x"), "{p:?}");
}

#[test]
fn a_mount_root_not_yet_created_is_a_note() {
    let fx = Fixture::new();
    let config = fx.config("/usr/bin/rsync");
    fs::remove_dir(fx.path("views")).unwrap();
    let f = check_deployment(&config, &fx.deploy);
    assert_eq!(problems(&f), Vec::<&str>::new());
    assert!(
        notes(&f).iter().any(|n| n.contains("does not exist yet")),
        "{f:?}"
    );
}

#[test]
fn an_rsync_without_confine_root_is_a_note_and_a_missing_one_a_problem() {
    let fx = Fixture::new();
    let help = Command::new("/usr/bin/rsync")
        .arg("--help")
        .output()
        .expect("rsync is needed by this test");
    let has = String::from_utf8_lossy(&help.stdout).contains("--confine-root");
    let f = fx.findings();
    let n = notes(&f);
    assert_eq!(
        n.iter().any(|n| n.contains("has no --confine-root")),
        !has,
        "{n:?}"
    );

    let p = only_problem(&check_deployment(
        &fx.config("/nonexistent/rsync"),
        &fx.deploy,
    ));
    assert!(p.contains("the shim's rsync /nonexistent/rsync"), "{p:?}");
}

#[test]
fn apparmor_profiles_must_be_loaded_where_apparmor_is_enabled() {
    let fx = Fixture::new();
    fs::write(&fx.deploy.apparmor_enabled, "Y\n").unwrap();
    let profiles = fx.deploy.apparmor_fs.join("profiles");
    fs::write(
        &profiles,
        "encmount (enforce)\nencmount//password (enforce)\nencmount-rsync//&rsync (enforce)\n",
    )
    .unwrap();
    let p = only_problem(&fx.findings());
    assert!(
        p.contains("profile encmount-rsync is not loaded")
            && p.contains("apparmor_parser -r /etc/apparmor.d/usr.bin.encmount-rsync"),
        "{p:?}"
    );

    fs::write(&profiles, "encmount (complain)\nencmount-rsync (enforce)\n").unwrap();
    let f = fx.findings();
    assert_eq!(problems(&f), Vec::<&str>::new());
    assert!(
        notes(&f).iter().any(|n| n.contains("complain mode")),
        "{f:?}"
    );

    // Disabled: nothing to say, whatever is (not) loaded.
    fs::write(&fx.deploy.apparmor_enabled, "N\n").unwrap();
    fs::write(&profiles, "").unwrap();
    assert_eq!(problems(&fx.findings()), Vec::<&str>::new());
}
