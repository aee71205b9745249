//! What the Debian package ships (design §9): the AppArmor profiles parse,
//! the sudoers drop-in is valid, the man pages are well-formed, and the
//! `.deb` that `cargo deb` builds has the right files, modes, conffiles,
//! control fields and no lintian errors.
//!
//! The `.deb` tests are `#[ignore]`d in a plain `cargo test`: they need
//! `cargo deb --locked` first (a release build), and the last one needs the
//! package installed. `.ci/run` builds and installs it, then runs them with
//! `--ignored`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{encmount_bin, output, require, run, tempdir};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The profiles in `apparmor/` (not the tunables or local hooks).
fn profiles() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(repo().join("apparmor"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// `apparmor_parser -Q -K --Werror=abi` on `profile`, with the includes of
/// `include_dir` found before the system's.
fn parse_profile(profile: &Path, include_dir: &Path) -> std::process::Output {
    output(
        Command::new("apparmor_parser")
            .args(["-Q", "-K", "--Werror=abi", "-I"])
            .arg(include_dir)
            .args(["-I", "/etc/apparmor.d"])
            .arg(profile),
    )
}

#[test]
fn apparmor_profiles_parse_with_their_tunables() {
    require(&["apparmor_parser"]);
    let names: Vec<String> = profiles()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["usr.bin.encmount", "usr.bin.encmount-rsync"]);
    for p in profiles() {
        let out = parse_profile(&p, &repo().join("apparmor"));
        assert!(
            out.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.contains("abi <abi/3.0>,"), "{}", p.display());
        assert!(
            text.contains("include <tunables/encmount>"),
            "{}",
            p.display()
        );
        let local = format!(
            "include if exists <local/{}>",
            p.file_name().unwrap().to_string_lossy()
        );
        assert!(text.contains(&local), "{}: no {local}", p.display());
    }
    // Every local hook a profile includes is shipped (empty but present, so
    // that admins find it).
    for hook in [
        "usr.bin.encmount",
        "usr.bin.encmount.password",
        "usr.bin.encmount-rsync",
        "usr.bin.encmount-rsync.rsync",
    ] {
        assert!(repo().join("apparmor/local").join(hook).is_file(), "{hook}");
    }
}

#[test]
fn apparmor_parse_check_fails_on_a_broken_profile_or_missing_tunables() {
    require(&["apparmor_parser"]);
    let t = tempdir();
    let text = fs::read_to_string(repo().join("apparmor/usr.bin.encmount-rsync")).unwrap();
    // A tunables file that lacks @{ENCMOUNT_RSYNC}: the profile must fail,
    // which shows that the repository's tunables (not some installed copy)
    // are the ones parsed.
    fs::create_dir(t.path().join("tunables")).unwrap();
    fs::write(
        t.path().join("tunables/encmount"),
        "@{ENCMOUNT_MOUNT_ROOT}=/srv/encmount\n@{ENCMOUNT_SOURCES}=/srv\n",
    )
    .unwrap();
    let p = t.path().join("usr.bin.encmount-rsync");
    fs::write(&p, &text).unwrap();
    let out = parse_profile(&p, t.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ENCMOUNT_RSYNC"), "{err}");

    fs::write(&p, text.replace("/dev/null rw,", "/dev/null rw")).unwrap();
    let out = parse_profile(&p, &repo().join("apparmor"));
    assert!(!out.status.success());
}

#[test]
fn apparmor_rsync_runs_stacked_under_the_shim_profile() {
    // The shim sets no_new_privs before it executes rsync; the kernel then
    // refuses a plain child-profile transition and allows only a stack.
    require(&["apparmor_parser"]);
    let out = run(Command::new("apparmor_parser")
        .args(["-Q", "-K", "-S", "-I"])
        .arg(repo().join("apparmor"))
        .args(["-I", "/etc/apparmor.d"])
        .arg(repo().join("apparmor/usr.bin.encmount-rsync")));
    let policy = String::from_utf8_lossy(&out.stdout);
    assert!(
        policy.contains("encmount-rsync//&rsync"),
        "no stacked transition"
    );
    let text = fs::read_to_string(repo().join("apparmor/usr.bin.encmount-rsync")).unwrap();
    let child = &text[text.find("profile rsync {").unwrap()..];
    // The rsync child writes nothing by path but /dev/null.
    for line in child.lines().map(str::trim) {
        if line.starts_with('#') || !line.ends_with(',') {
            continue;
        }
        let perms = line.trim_end_matches(',').rsplit(' ').next().unwrap();
        if perms.contains('w') || perms.contains('a') {
            assert_eq!(line, "/dev/null rw,", "rsync child may write: {line}");
        }
    }
}

#[test]
fn sudoers_dropin_passes_visudo() {
    require(&["visudo"]);
    let file = repo().join("sudoers.d/encmount");
    run(Command::new("visudo").arg("-cf").arg(&file));
    let text = fs::read_to_string(&file).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("backuppc ALL=(root) NOPASSWD: ")
                && l.ends_with("/usr/bin/encmount-rsync --server --sender *")),
        "{text}"
    );
}

/// The man pages the package ships.
fn man_pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = fs::read_dir(repo().join("packaging/man"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.push(repo().join("packaging/encmount-rsync.8"));
    pages.sort();
    pages
}

/// Checks that `page` is a well-formed man page: groff renders it (UTF-8
/// input through preconv, as man does) without a warning, and lexgrog
/// (what mandb runs) finds its NAME section.
fn assert_valid_man_page(page: &Path) {
    let out = run(Command::new("groff")
        .args(["-k", "-man", "-ww", "-z", "-Tutf8"])
        .arg(page));
    assert!(
        out.stderr.is_empty(),
        "{}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(Command::new("lexgrog").arg(page));
    let text = String::from_utf8_lossy(&out.stdout);
    let stem = page.file_stem().unwrap().to_string_lossy().into_owned();
    assert!(
        text.contains(&format!("\"{stem} - ")),
        "{}: lexgrog says {text}",
        page.display()
    );
}

#[test]
fn man_pages_are_well_formed() {
    require(&["groff", "lexgrog"]);
    let pages = man_pages();
    let names: Vec<String> = pages
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "encmount.8",
        "encmount-rsync.8",
        "encmount-up.8",
        "encmount-check.8",
    ] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }
    for p in &pages {
        assert_valid_man_page(p);
    }
}

/// Reads every file below `dir` (relative path -> bytes).
fn read_tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// The committed man pages and completion are what the clap definitions
/// generate now. `ENCMOUNT_BLESS=1` rewrites them instead.
#[test]
fn generated_man_pages_and_completion_are_current() {
    let t = tempdir();
    run(Command::new(encmount_bin())
        .arg("generate-docs")
        .arg(t.path()));
    let generated = read_tree(t.path());
    assert!(generated.contains_key(Path::new("man/encmount.8")));
    assert!(generated.contains_key(Path::new("completion/encmount")));
    let packaging = repo().join("packaging");
    let committed: BTreeMap<PathBuf, Vec<u8>> = ["man", "completion"]
        .iter()
        .flat_map(|d| {
            let dir = packaging.join(d);
            if dir.is_dir() {
                read_tree(&dir)
            } else {
                BTreeMap::new()
            }
            .into_iter()
            .map(move |(p, b)| (Path::new(d).join(p), b))
        })
        .collect();
    if std::env::var_os("ENCMOUNT_BLESS").is_some() {
        for (rel, _) in committed
            .iter()
            .filter(|(p, _)| !generated.contains_key(*p))
        {
            fs::remove_file(packaging.join(rel)).unwrap();
        }
        for (rel, bytes) in &generated {
            fs::create_dir_all(packaging.join(rel).parent().unwrap()).unwrap();
            fs::write(packaging.join(rel), bytes).unwrap();
        }
        return;
    }
    let names = |m: &BTreeMap<PathBuf, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&generated),
        "packaging/man or packaging/completion is stale: run \
         `ENCMOUNT_BLESS=1 cargo test --test integration package::generated` and commit"
    );
    for (rel, bytes) in &generated {
        assert!(
            committed[rel] == *bytes,
            "packaging/{} is stale: run `ENCMOUNT_BLESS=1 cargo test --test integration \
             package::generated` and commit",
            rel.display()
        );
    }
}

#[test]
fn bash_completion_completes_subcommands_and_options() {
    require(&["bash"]);
    let file = repo().join("packaging/completion/encmount");
    let script = format!(
        "source {}\n\
         COMP_WORDS=(encmount u); COMP_CWORD=1; COMP_LINE='encmount u'; COMP_POINT=10\n\
         _encmount encmount u encmount; echo \"${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(encmount check --v); COMP_CWORD=2; COMP_LINE='encmount check --v'; COMP_POINT=18\n\
         _encmount encmount --v check; echo \"${{COMPREPLY[*]}}\"\n",
        file.display()
    );
    let out = run(Command::new("bash").arg("--norc").arg("-c").arg(&script));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let first: Vec<&str> = lines[0].split(' ').collect();
    assert!(first.contains(&"up") && first.contains(&"umount"), "{text}");
    assert!(!first.contains(&"generate-docs"), "{text}");
    assert!(lines[1].split(' ').any(|w| w == "--views-only"), "{text}");
}

#[test]
fn check_views_only_skips_the_deployment_part() {
    let t = tempdir();
    let yaml = t.path().join("encmount.yaml");
    fs::copy(repo().join("packaging/encmount.yaml"), &yaml).unwrap();
    let check = |extra: &[&str]| {
        output(
            Command::new(encmount_bin())
                .args(["check", "--yaml"])
                .arg(&yaml)
                .args(extra)
                .env("ENCMOUNT_RUN_DIR", t.path())
                .env_remove("SUDO_UID"),
        )
    };
    let out = check(&["--views-only"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!all.contains("deployment"), "{all}");

    // Without it, the deployment is looked at: either it is fine or each
    // finding is one `deployment:` line.
    let out = check(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        assert!(stdout.contains("deployment: ok"), "{stdout}");
    } else {
        let findings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("encmount: deployment: "))
            .collect();
        assert!(!findings.is_empty(), "{stderr}");
        assert!(
            stderr.ends_with(&format!("check found {} problem(s)\n", findings.len())),
            "{stderr}"
        );
    }
}

// ---- the .deb (after `cargo deb --locked`) ----

/// The newest `target/debian/encmount_*.deb`.
fn deb() -> PathBuf {
    let dir = repo().join("target/debian");
    let mut debs: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "missing prerequisite: {} ({e}); run `cargo deb --locked` first",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("encmount_") && n.ends_with(".deb")
        })
        .map(|p| (fs::metadata(&p).unwrap().modified().unwrap(), p))
        .collect();
    debs.sort();
    debs.pop()
        .unwrap_or_else(|| {
            panic!(
                "missing prerequisite: no encmount_*.deb in {}; run `cargo deb --locked` first",
                dir.display()
            )
        })
        .1
}

/// `dpkg-deb -c`: path -> (mode string, owner/group).
fn deb_files(deb: &Path) -> BTreeMap<String, (String, String)> {
    let out = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let path = f[5].trim_start_matches('.').to_string();
            (path, (f[0].to_string(), f[1].to_string()))
        })
        .collect()
}

fn control_field(deb: &Path, field: &str) -> String {
    let out = run(Command::new("dpkg-deb").args(["-f"]).arg(deb).arg(field));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn extract(deb: &Path) -> tempfile::TempDir {
    let t = tempdir();
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(t.path()));
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(deb)
        .arg(t.path().join("DEBIAN")));
    t
}

#[test]
#[ignore = "needs `cargo deb --locked` first; .ci/run runs it with --ignored"]
fn deb_has_the_files_with_their_modes() {
    require(&["dpkg-deb"]);
    let files = deb_files(&deb());
    let want: &[(&str, &str)] = &[
        ("/usr/bin/encmount", "-rwxr-xr-x"),
        ("/usr/bin/encmount-rsync", "-rwxr-xr-x"),
        ("/etc/sudoers.d/encmount", "-r--r-----"),
        ("/etc/encmount/encmount.yaml", "-rw-r--r--"),
        ("/etc/apparmor.d/usr.bin.encmount", "-rw-r--r--"),
        ("/etc/apparmor.d/usr.bin.encmount-rsync", "-rw-r--r--"),
        ("/etc/apparmor.d/tunables/encmount", "-rw-r--r--"),
        ("/etc/apparmor.d/local/usr.bin.encmount", "-rw-r--r--"),
        (
            "/etc/apparmor.d/local/usr.bin.encmount-rsync.rsync",
            "-rw-r--r--",
        ),
        ("/usr/lib/systemd/system/encmount.service", "-rw-r--r--"),
        ("/usr/lib/systemd/system/encmount@.service", "-rw-r--r--"),
        ("/usr/share/man/man8/encmount.8.gz", "-rw-r--r--"),
        ("/usr/share/man/man8/encmount-rsync.8.gz", "-rw-r--r--"),
        ("/usr/share/man/man8/encmount-check.8.gz", "-rw-r--r--"),
        (
            "/usr/share/bash-completion/completions/encmount",
            "-rw-r--r--",
        ),
        ("/usr/share/doc/encmount/copyright", "-rw-r--r--"),
        ("/usr/share/doc/encmount/changelog.Debian.gz", "-rw-r--r--"),
    ];
    for (path, mode) in want {
        let got = files
            .get(*path)
            .unwrap_or_else(|| panic!("{path} not in the package: {files:#?}"));
        assert_eq!(got.0, *mode, "{path}");
    }
    for (path, (_, owner)) in &files {
        assert!(
            owner == "0/0" || owner == "root/root",
            "{path}: owner {owner}"
        );
    }
    // One man page per subcommand beside encmount(8).
    let out = run(Command::new(encmount_bin()).arg("--help"));
    let help = String::from_utf8_lossy(&out.stdout);
    let subs: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| *s != "help")
        .collect();
    assert!(subs.contains(&"up") && subs.contains(&"check"), "{help}");
    for s in subs {
        let page = format!("/usr/share/man/man8/encmount-{s}.8.gz");
        assert!(files.contains_key(&page), "no {page}");
    }
}

#[test]
#[ignore = "needs `cargo deb --locked` first; .ci/run runs it with --ignored"]
fn deb_control_conffiles_and_scripts() {
    require(&["dpkg-deb"]);
    let deb = deb();
    assert_eq!(control_field(&deb, "Package"), "encmount");
    let depends = control_field(&deb, "Depends");
    for d in ["fuse3", "rsync", "sudo", "libc6"] {
        assert!(
            depends.split(", ").any(|x| x.starts_with(d)),
            "Depends: {depends}"
        );
    }
    assert!(control_field(&deb, "Recommends").contains("encfs"));
    let t = extract(&deb);
    let conffiles = fs::read_to_string(t.path().join("DEBIAN/conffiles")).unwrap();
    let mut conffiles: Vec<&str> = conffiles.lines().collect();
    conffiles.sort();
    assert_eq!(
        conffiles,
        [
            "/etc/apparmor.d/local/usr.bin.encmount",
            "/etc/apparmor.d/local/usr.bin.encmount-rsync",
            "/etc/apparmor.d/local/usr.bin.encmount-rsync.rsync",
            "/etc/apparmor.d/local/usr.bin.encmount.password",
            "/etc/apparmor.d/tunables/encmount",
            "/etc/apparmor.d/usr.bin.encmount",
            "/etc/apparmor.d/usr.bin.encmount-rsync",
            "/etc/encmount/encmount.yaml",
            "/etc/sudoers.d/encmount",
        ]
    );
    // The packaged sudoers file is the repository's and valid.
    let sudoers = t.path().join("etc/sudoers.d/encmount");
    assert_eq!(
        fs::read(&sudoers).unwrap(),
        fs::read(repo().join("sudoers.d/encmount")).unwrap()
    );
    require(&["visudo"]);
    run(Command::new("visudo").arg("-cf").arg(&sudoers));
    // The packaged yaml is a valid config with no views.
    let out = run(Command::new(encmount_bin())
        .args(["check", "--views-only", "--yaml"])
        .arg(t.path().join("etc/encmount/encmount.yaml"))
        .env_remove("SUDO_UID"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("view "));
    // The maintainer scripts: the profiles are loaded only where AppArmor
    // is enabled, the service is enabled the debhelper way, views go down
    // before removal.
    let postinst = fs::read_to_string(t.path().join("DEBIAN/postinst")).unwrap();
    assert!(postinst.contains("aa-enabled --quiet"), "{postinst}");
    assert!(postinst.contains("deb-systemd-helper"), "{postinst}");
    assert!(postinst.contains("encmount.service"), "{postinst}");
    assert!(!postinst.contains("#DEBHELPER#"));
    let prerm = fs::read_to_string(t.path().join("DEBIAN/prerm")).unwrap();
    assert!(prerm.contains("encmount down --all --lazy"), "{prerm}");
    let postrm = fs::read_to_string(t.path().join("DEBIAN/postrm")).unwrap();
    assert!(postrm.contains("apparmor_parser --remove"), "{postrm}");
    for s in ["postinst", "prerm", "postrm"] {
        run(Command::new("sh")
            .arg("-n")
            .arg(t.path().join("DEBIAN").join(s)));
    }
    // The packaged man pages are the repository's, and valid.
    require(&["groff", "lexgrog"]);
    for page in man_pages() {
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        let gz = t
            .path()
            .join("usr/share/man/man8")
            .join(format!("{name}.gz"));
        let out = run(Command::new("gzip").arg("-dc").arg(&gz));
        assert_eq!(out.stdout, fs::read(&page).unwrap(), "{name}");
    }
}

#[test]
#[ignore = "needs `cargo deb --locked` first; .ci/run runs it with --ignored"]
fn deb_has_no_lintian_errors() {
    require(&["lintian"]);
    let deb = deb();
    let out = output(
        Command::new("lintian")
            .args(["--fail-on", "error", "--no-tag-display-limit"])
            .arg(&deb),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.lines().any(|l| l.starts_with("E: ")),
        "lintian errors:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The warnings are listed for the reader of the test log.
    eprintln!("lintian:\n{text}");
}

#[test]
#[ignore = "needs the package installed (dpkg -i); .ci/run runs it with --ignored"]
fn installed_package_matches_the_build() {
    require(&["dpkg-deb", "dpkg-query"]);
    let deb = deb();
    let out =
        output(Command::new("dpkg-query").args(["-W", "-f", "${Status} ${Version}", "encmount"]));
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.starts_with("install ok installed "),
        "missing prerequisite: the encmount package is not installed (dpkg -i {}): {status}",
        deb.display()
    );
    assert_eq!(
        status.rsplit(' ').next().unwrap(),
        control_field(&deb, "Version")
    );
    let t = extract(&deb);
    for bin in ["encmount", "encmount-rsync"] {
        let installed = Path::new("/usr/bin").join(bin);
        assert!(
            fs::read(&installed).unwrap() == fs::read(t.path().join("usr/bin").join(bin)).unwrap(),
            "{} differs from the one in {}",
            installed.display(),
            deb.display()
        );
    }
    let sudoers = Path::new("/etc/sudoers.d/encmount");
    assert_eq!(
        fs::read(sudoers).unwrap(),
        fs::read(repo().join("sudoers.d/encmount")).unwrap()
    );
    // The installed encmount is the version this tree builds.
    let out = run(Command::new("/usr/bin/encmount").arg("--version"));
    let want = run(Command::new(encmount_bin()).arg("--version"));
    assert_eq!(out.stdout, want.stdout);
}
