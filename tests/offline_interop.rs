//! Live interop of the offline tools with the real encfs 1.9.5: a config
//! made by `encmount init` (every preset) or re-wrapped by `encmount passwd`
//! is accepted by stock encfs, and `encmount restore` of what encfs wrote
//! equals the tree that was written.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::encfs::forward_mount;
use common::tree::{CompareOptions, TreeOptions, assert_same_tree, generate};
use common::{encmount_bin, require, run, tempdir};

const PRESETS: [&str; 3] = ["hardened", "standard", "paranoia"];

fn write_secret(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    run(Command::new("chmod").arg("600").arg(path));
}

fn init(config: &Path, preset: &str, password_file: &Path) {
    run(Command::new(encmount_bin())
        .args([
            "init",
            "--kdf-iterations",
            "1000",
            "--preset",
            preset,
            "--password-file",
        ])
        .arg(password_file)
        .arg(config));
}

#[test]
fn stock_encfs_accepts_every_preset_and_restore_gives_the_tree_back() {
    require(&["encfs", "fusermount3", "fuse", "root"]);
    for preset in PRESETS {
        let t = tempdir();
        let [src, raw, mnt, out] = ["src", "raw", "mnt", "out"].map(|d| t.path().join(d));
        for d in [&raw, &mnt] {
            fs::create_dir(d).unwrap();
        }
        let pw = t.path().join("pw");
        write_secret(&pw, "correct horse\n");
        let config = t.path().join("volume.xml");
        init(&config, preset, &pw);

        // encfs refuses hard links with external IV chaining (format §7.1).
        let hard_links = preset != "paranoia";
        let opts = TreeOptions {
            hard_links,
            ..TreeOptions::default()
        };
        generate(&src, &opts);
        {
            let m = forward_mount(&raw, &config, b"correct horse", &mnt, false);
            // cp -a keeps hard links; rsync's ".NAME.XXXXXX" temporary names
            // would exceed what a 175-byte name may grow by.
            run(Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", src.display()))
                .arg(&m.mnt));
        }
        let o = run(Command::new(encmount_bin())
            .args(["restore", "--quiet", "--password-file"])
            .arg(&pw)
            .arg("--config")
            .arg(&config)
            .arg(&raw)
            .arg(&out));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("restored"),
            "{preset}"
        );
        // encfs keeps only microseconds of the times it is given.
        let cmp = CompareOptions {
            hard_links,
            mtime_granularity_ns: 1000,
            ..CompareOptions::ALL
        };
        assert_same_tree(&src, &out, &cmp);

        run(Command::new(encmount_bin())
            .args(["verify", "--quiet", "--password-file"])
            .arg(&pw)
            .arg("-c")
            .arg(&config)
            .arg(&raw));
    }
}

#[test]
fn passwd_output_is_accepted_by_stock_encfs() {
    require(&["encfs", "fusermount3", "fuse", "root"]);
    let t = tempdir();
    let (raw, mnt) = (t.path().join("raw"), t.path().join("mnt"));
    fs::create_dir(&raw).unwrap();
    fs::create_dir(&mnt).unwrap();
    let old = t.path().join("old");
    write_secret(&old, "old password");
    let config = t.path().join("v.xml");
    init(&config, "hardened", &old);
    {
        let m = forward_mount(&raw, &config, b"old password", &mnt, false);
        fs::write(m.mnt.join("file.txt"), b"kept across the password change\n").unwrap();
    }
    let before = fs::read_to_string(&config).unwrap();
    let o = common::run_with_stdin(
        Command::new(encmount_bin())
            .args([
                "passwd",
                "--stdinpass",
                "--new-stdinpass",
                "--kdf-iterations",
                "2000",
            ])
            .arg(&config),
        b"old password\nnew password\n",
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("password of"));
    let after = fs::read_to_string(&config).unwrap();
    assert_ne!(before, after);
    assert!(after.contains("<kdfIterations>2000</kdfIterations>"));
    {
        let m = forward_mount(&raw, &config, b"new password", &mnt, true);
        assert_eq!(
            fs::read(m.mnt.join("file.txt")).unwrap(),
            b"kept across the password change\n"
        );
    }
    // the old password no longer opens it, with encfs or with encmount
    let o = common::output_with_stdin(
        Command::new("encfs")
            .arg("--stdinpass")
            .env("ENCFS6_CONFIG", &config)
            .arg(&raw)
            .arg(&mnt),
        b"old password\n",
    );
    assert!(!o.status.success());
    let o = common::output(
        Command::new(encmount_bin())
            .args(["verify", "--password-file"])
            .arg(&old)
            .arg("-c")
            .arg(&config)
            .arg(&raw),
    );
    assert_eq!(o.status.code(), Some(1));
}
