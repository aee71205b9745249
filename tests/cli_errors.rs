//! Bad input to the offline tools: every case ends with a clear one-line
//! error naming the thing at fault, a non-zero exit, no panic, and nothing
//! written that should not be.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::vectors::copy_vector;
use common::{encmount_bin, output, output_with_stdin};

const MAC_VOLUME: &str = "g-forward-mac8-uniqueiv-nochain";

fn encmount(args: &[&std::ffi::OsStr]) -> Output {
    output(Command::new(encmount_bin()).args(args))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 1, one line on stderr starting "encmount: ", containing `want`.
fn assert_one_line_error(o: &Output, want: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {err}");
    assert!(lines[0].starts_with("encmount: "), "{err}");
    assert!(lines[0].contains(want), "{want:?} not in {err}");
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn restore_args<'a>(
    config: &'a Path,
    pwfile: &'a Path,
    cipher: &'a Path,
    dest: &'a Path,
) -> Vec<&'a std::ffi::OsStr> {
    vec![
        os("restore"),
        os("--quiet"),
        os("--config"),
        config.as_os_str(),
        os("--password-file"),
        pwfile.as_os_str(),
        cipher.as_os_str(),
        dest.as_os_str(),
    ]
}

#[test]
fn wrong_password_names_the_config_and_writes_nothing() {
    let v = copy_vector(MAC_VOLUME);
    let bad = v.dir.path().join("bad-pw");
    fs::write(&bad, "not the password").unwrap();
    common::run(Command::new("chmod").arg("600").arg(&bad));
    let dest = v.dir.path().join("dest");
    let o = encmount(&restore_args(&v.config, &bad, &v.cipher, &dest));
    assert_one_line_error(&o, &format!("wrong password for {}", v.config.display()));
    assert!(!dest.exists(), "nothing may be written");
    for cmd in ["verify", "decode"] {
        let mut c = Command::new(encmount_bin());
        c.arg(cmd)
            .arg("-c")
            .arg(&v.config)
            .arg("--password-file")
            .arg(&bad);
        if cmd == "decode" {
            c.arg("--root").arg(&v.cipher).arg("x");
        } else {
            c.arg(&v.cipher);
        }
        assert_one_line_error(&output(&mut c), "wrong password for");
    }
    // the same through stdin, as encfs --stdinpass does
    let o = output_with_stdin(
        Command::new(encmount_bin())
            .arg("verify")
            .arg("-S")
            .arg("-c")
            .arg(&v.config)
            .arg(&v.cipher),
        b"nope\n",
    );
    assert_one_line_error(&o, "wrong password");
}

#[test]
fn broken_configs_give_clear_errors() {
    let v = copy_vector(MAC_VOLUME);
    let good = fs::read_to_string(&v.config).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"\x00\x01 not xml at all".to_vec(),
            "corrupt config",
        ),
        ("empty", Vec::new(), "corrupt config"),
        (
            "truncated",
            good.as_bytes()[..good.len() / 2].to_vec(),
            "not well-formed XML",
        ),
        (
            "future version",
            good.replace("<version>20100713</version>", "<version>20300101</version>")
                .into_bytes(),
            "unsupported config version 20300101",
        ),
        (
            "blowfish",
            good.replace("ssl/aes", "ssl/blowfish").into_bytes(),
            "AES volumes only",
        ),
        (
            "key size mismatch",
            good.replace("<keySize>256</keySize>", "<keySize>128</keySize>")
                .into_bytes(),
            "encodedKeyData",
        ),
    ];
    for (what, bytes, want) in cases {
        let cfg = v.dir.path().join(format!("{}.xml", what.replace(' ', "-")));
        fs::write(&cfg, &bytes).unwrap();
        let o = encmount(&[os("info"), cfg.as_os_str()]);
        assert_one_line_error(&o, want);
        assert!(
            stderr(&o).contains(&*cfg.to_string_lossy()),
            "{what}: must name the file"
        );
        let dest = v.dir.path().join("dest");
        let o = encmount(&restore_args(&cfg, &v.password_file, &v.cipher, &dest));
        assert_one_line_error(&o, want);
        assert!(!dest.exists());
    }
    let missing = v.dir.path().join("missing.xml");
    assert_one_line_error(&encmount(&[os("info"), missing.as_os_str()]), "missing.xml");
}

/// The cipher path of the 70000-byte file (7 blocks of 512 in the MAC volume).
fn big_file(v: &common::vectors::VectorCopy) -> PathBuf {
    let manifest =
        fs::read_to_string(common::vectors_dir().join(MAC_VOLUME).join("manifest.tsv")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.starts_with("size-70000.bin\t"))
        .unwrap();
    v.cipher.join(line.split('\t').nth(1).unwrap())
}

#[test]
fn tampered_ciphertext_is_named_and_never_restored_as_good() {
    let v = copy_vector(MAC_VOLUME);
    let victim = big_file(&v);
    let mut bytes = fs::read(&victim).unwrap();
    bytes[8 + 512 * 40 + 100] ^= 0x01;
    fs::write(&victim, &bytes).unwrap();

    let o = encmount(&[
        os("verify"),
        os("-q"),
        os("-c"),
        v.config.as_os_str(),
        os("--password-file"),
        v.password_file.as_os_str(),
        v.cipher.as_os_str(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("size-70000.bin") && err.contains("MAC mismatch in block 40"),
        "{err}"
    );
    assert!(err.contains("1 entries failed"), "{err}");

    let dest = v.dir.path().join("dest");
    let o = encmount(&restore_args(&v.config, &v.password_file, &v.cipher, &dest));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("size-70000.bin") && err.contains("MAC mismatch"),
        "{err}"
    );
    assert!(
        !dest.join("size-70000.bin").exists(),
        "a bad file must not be written"
    );
    // everything else was restored
    assert_eq!(
        fs::read(dest.join("size-70001.bin").with_file_name("size-04097.bin")).unwrap(),
        fs::read(v.plain.join("size-04097.bin")).unwrap()
    );

    // a truncated file is reported too
    fs::write(&victim, &bytes[..5]).unwrap();
    let o = encmount(&[
        os("verify"),
        os("-q"),
        os("-c"),
        v.config.as_os_str(),
        os("--password-file"),
        v.password_file.as_os_str(),
        v.cipher.as_os_str(),
    ]);
    assert!(
        stderr(&o).contains("size-70000.bin") && stderr(&o).contains("truncated"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn restore_refuses_a_non_empty_destination_without_force() {
    let v = copy_vector(MAC_VOLUME);
    let dest = v.dir.path().join("dest");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("precious"), b"keep me").unwrap();
    let o = encmount(&restore_args(&v.config, &v.password_file, &v.cipher, &dest));
    assert_one_line_error(&o, "is not empty (use --force");
    assert_eq!(fs::read_dir(&dest).unwrap().count(), 1);
    let mut args = restore_args(&v.config, &v.password_file, &v.cipher, &dest);
    args.insert(1, os("--force"));
    let o = encmount(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fs::read(dest.join("precious")).unwrap(), b"keep me");
    assert_eq!(
        fs::read(dest.join("a")).unwrap(),
        fs::read(v.plain.join("a")).unwrap()
    );
}

#[test]
fn init_never_overwrites_and_checks_password_files() {
    let t = common::tempdir();
    let cfg = t.path().join("v.xml");
    fs::write(&cfg, "existing").unwrap();
    let pw = t.path().join("pw");
    fs::write(&pw, "pw\n").unwrap();
    common::run(Command::new("chmod").arg("644").arg(&pw));
    let o = encmount(&[
        os("init"),
        os("--password-file"),
        pw.as_os_str(),
        cfg.as_os_str(),
    ]);
    assert_one_line_error(&o, "already exists");
    assert_eq!(fs::read_to_string(&cfg).unwrap(), "existing");

    let fresh = t.path().join("fresh.xml");
    let o = encmount(&[
        os("init"),
        os("--password-file"),
        pw.as_os_str(),
        fresh.as_os_str(),
    ]);
    assert_one_line_error(&o, "chmod 600");
    assert!(!fresh.exists());

    let o = output_with_stdin(
        Command::new(encmount_bin())
            .args(["init", "--stdinpass", "--kdf-iterations", "1000"])
            .arg(&fresh),
        b"\n",
    );
    assert_one_line_error(&o, "empty password");
    assert!(!fresh.exists());
}

#[test]
fn undecodable_paths_are_reported() {
    let v = copy_vector(MAC_VOLUME);
    let o = encmount(&[
        os("decode"),
        os("-c"),
        v.config.as_os_str(),
        os("--password-file"),
        v.password_file.as_os_str(),
        os("--root"),
        v.cipher.as_os_str(),
        os("NotACipherName"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot decode NotACipherName"),
        "{}",
        stderr(&o)
    );
    let o = encmount(&[os("restore"), os("--bogus-flag")]);
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");
}
