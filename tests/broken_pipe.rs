//! A closed pipe on stdout (`encmount … | head -c 1`) ends every command
//! quietly: exit 0, nothing on stderr. The reading end is closed before the
//! command writes, so every write it makes fails with EPIPE.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

use crate::common::vectors::copy_vector;
use crate::common::{encmount_bin, tempdir};
use crate::rview::{self, init_volume};

/// Runs `cmd` with its stdout a pipe whose reading end is closed before
/// the command starts.
fn assert_quiet_on_closed_pipe(what: &str, cmd: &mut Command) {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run encmount: {e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{what}: stderr: {err}");
    assert!(err.is_empty(), "{what}: stderr: {err}");
}

#[test]
fn cat_ends_quietly_on_a_closed_pipe() {
    let v = copy_vector("f-forward-standard");
    let file = fs::read_dir(&v.plain)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file() && m.len() > 0))
        .expect("a non-empty file in the vector");
    let mut cat = Command::new(encmount_bin());
    cat.env_remove("ENCFS6_CONFIG")
        .arg("cat")
        .arg("--config")
        .arg(&v.config)
        .arg("--password-file")
        .arg(&v.password_file)
        .arg(&v.cipher)
        .arg(file.file_name().unwrap());
    assert_quiet_on_closed_pipe("cat", &mut cat);
}

#[test]
fn decode_ends_quietly_on_a_closed_pipe() {
    let t = tempdir();
    let vol = init_volume(t.path(), "standard");
    let names: Vec<Vec<u8>> = (0..100)
        .map(|i| format!("file-{i:03}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
    let encoded = rview::encode(&vol, &refs);
    let mut decode = vol.command("decode");
    decode
        .env_remove("ENCFS6_CONFIG")
        .arg("--")
        .args(encoded.iter().map(|n| OsStr::from_bytes(n)));
    assert_quiet_on_closed_pipe("decode", &mut decode);
}

#[test]
fn status_ends_quietly_on_a_closed_pipe() {
    let t = tempdir();
    let yaml = t.path().join("encmount.yaml");
    fs::write(
        &yaml,
        format!(
            "defaults:\n  mount_root: {}/mnt\nviews: {{}}\n",
            t.path().display()
        ),
    )
    .unwrap();
    for json in [false, true] {
        let mut status = Command::new(encmount_bin());
        status
            .env("ENCMOUNT_YAML", &yaml)
            .env("ENCMOUNT_RUN_DIR", t.path().join("run"))
            .arg("status");
        if json {
            status.arg("--json");
        }
        assert_quiet_on_closed_pipe("status", &mut status);
    }
}
