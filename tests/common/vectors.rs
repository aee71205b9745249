//! Private copies of the shared vector volumes (`../shared/vectors`).
//!
//! The checkout of the vectors may store symlinks as small files holding
//! the target (as git does without symlink support); a copy turns every
//! manifest symlink back into a real one, so restores see what encfs made.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// A writable copy of one vector volume.
pub struct VectorCopy {
    /// The temporary directory holding everything below.
    pub dir: TempDir,
    /// `cipher/`, with real symlinks.
    pub cipher: PathBuf,
    /// `plain/`, with real symlinks.
    pub plain: PathBuf,
    /// The volume config.
    pub config: PathBuf,
    /// A 0600 file holding the password (no newline).
    pub password_file: PathBuf,
    /// The password bytes.
    pub password: Vec<u8>,
}

/// The target of a symlink, or the contents of a file standing in for one.
pub fn link_text(path: &Path) -> Vec<u8> {
    match fs::read_link(path) {
        Ok(t) => t.into_os_string().into_encoded_bytes(),
        Err(_) => fs::read(path).unwrap(),
    }
}

/// (plain path, cipher path) of every symlink in a vector's manifest.
pub fn manifest_symlinks(vector: &Path) -> Vec<(String, String)> {
    fs::read_to_string(vector.join("manifest.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|c| c[2] == "symlink")
        .map(|c| (c[0].to_string(), c[1].to_string()))
        .collect()
}

/// Copies the vector volume `name` (e.g. "g-forward-mac8-uniqueiv-nochain").
pub fn copy_vector(name: &str) -> VectorCopy {
    let src = super::vectors_dir().join(name);
    let dir = super::tempdir();
    let (cipher, plain) = (dir.path().join("cipher"), dir.path().join("plain"));
    for (from, to) in [(src.join("cipher"), &cipher), (src.join("plain"), &plain)] {
        let ok = Command::new("cp")
            .arg("-a")
            .arg(&from)
            .arg(to)
            .status()
            .unwrap();
        assert!(ok.success(), "cp -a {}", from.display());
        make_writable(to);
    }
    for (p, c) in manifest_symlinks(&src) {
        for path in [plain.join(&p), cipher.join(&c)] {
            let target = link_text(&path);
            fs::remove_file(&path).unwrap();
            std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path).unwrap();
        }
    }
    let config = dir.path().join("encfs6.xml");
    fs::copy(src.join("encfs6.xml"), &config).unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).unwrap();
    let password = fs::read(src.join("password")).unwrap();
    let password_file = dir.path().join("password");
    fs::write(&password_file, &password).unwrap();
    fs::set_permissions(&password_file, fs::Permissions::from_mode(0o600)).unwrap();
    VectorCopy {
        dir,
        cipher,
        plain,
        config,
        password_file,
        password,
    }
}

/// The shared vectors are read-only; copies must be editable.
fn make_writable(root: &Path) {
    let ok = Command::new("chmod")
        .arg("-R")
        .arg("u+w")
        .arg(root)
        .status()
        .unwrap();
    assert!(ok.success());
}
