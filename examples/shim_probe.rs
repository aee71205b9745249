//! Test fixture for the encmount-rsync live tests (not shipped): set as
//! the yaml's `rsync`, it reports from inside the process the shim execs
//! what that process may do, one `key=value` line each, and exits 0.
//! `--help` prints nothing, so the shim sees no `--confine-root`.

use std::io::Read;

use caps::CapSet;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help") {
        return;
    }
    let groups = nix::unistd::getgroups()
        .map(|g| g.len())
        .unwrap_or(usize::MAX);
    let set = |s| caps::read(None, s).map(|c| c.len()).unwrap_or(usize::MAX);
    // SAFETY: prctl queries with integer arguments.
    let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    let bounding = (0..64)
        // SAFETY: as above.
        .filter(|&c| unsafe { libc::prctl(libc::PR_CAPBSET_READ, c, 0, 0, 0) } == 1)
        .count();
    println!(
        "uid={} gid={}",
        nix::unistd::getuid(),
        nix::unistd::getgid()
    );
    println!(
        "euid={} egid={}",
        nix::unistd::geteuid(),
        nix::unistd::getegid()
    );
    println!("groups={groups}");
    println!(
        "cap_eff={} cap_prm={} cap_bnd={bounding}",
        set(CapSet::Effective),
        set(CapSet::Permitted)
    );
    println!("no_new_privs={nnp}");
    println!("args={}", args.join(" "));
    println!(
        "env={}",
        std::env::vars()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
            .join(",")
    );
    // The shim clears the environment and checks every path argument, so
    // the targets sit beside the probe: DIR/bin/probe reads DIR/outside
    // and tries to write DIR/writable/x (both allowed by plain DAC).
    let me = std::path::PathBuf::from(std::env::args_os().next().unwrap_or_default());
    let dir = me
        .parent()
        .and_then(|p| p.parent())
        .unwrap_or(&me)
        .to_path_buf();
    let show = |r: std::io::Result<()>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("denied ({e})"),
    };
    println!(
        "outside={}",
        show(std::fs::read(dir.join("outside")).map(|_| ()))
    );
    println!(
        "write={}",
        show(std::fs::write(dir.join("writable/x"), b"x"))
    );
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    println!(
        "stdin={}",
        rest.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
}
