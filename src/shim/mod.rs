//! `encmount-rsync`, the sudo shim (design §8): the one command the backup
//! user may run as root. It accepts a pull of ciphertext from one
//! configured view and nothing else, then becomes the caller and execs
//! rsync confined to that view.
//!
//! One pass, each step its own module: [`argv`] and [`protect`] parse the
//! request against the allow-list in [`policy`]; [`paths`] ties it to a
//! live view; [`privs`] and [`landlock`] take root away; [`audit`] logs
//! the decision. The configuration is always the system one
//! (`/etc/encmount/encmount.yaml`): no variable or option moves it.

pub mod argv;
mod audit;
mod landlock;
pub mod paths;
mod policy;
mod privs;
mod protect;
mod refusal;

pub use refusal::Refusal;

use std::convert::Infallible;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::log;
use crate::manager::{Paths, ensure_up, yaml};
use audit::Decision;

/// stdin read with read(2) itself: std's `Stdin` buffers, and a buffer
/// would swallow protocol bytes meant for rsync.
struct RawStdin;

impl Read for RawStdin {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(nix::unistd::read(std::io::stdin().as_fd(), buf)?)
    }
}

/// Runs the shim on sudo's argv (after the program name); returns only
/// to refuse, with the exit status (an allowed pull becomes rsync).
pub fn main(args: Vec<OsString>) -> i32 {
    log::init("encmount-rsync", log::Facility::Auth, false);
    let args: Vec<Vec<u8>> = args.into_iter().map(OsStringExt::into_vec).collect();
    let mut decision = Decision::default();
    let Err(Refusal(why)) = attempt(&args, &mut decision);
    decision.log(Some(&why));
    // A closed stderr must not turn a refusal into a panic.
    let _ = writeln!(
        std::io::stderr().lock(),
        "encmount-rsync: refused: {}",
        why.escape_debug()
    );
    1
}

fn attempt(args: &[Vec<u8>], decision: &mut Decision) -> Result<Infallible, Refusal> {
    // The cluster as given, so even a refused parse names it in the log.
    decision.cluster = args.get(2).map(|c| paths::show(c));
    let caller = privs::caller(|k| std::env::var_os(k))?;
    decision.caller(&caller);
    let req = parse(args, &mut RawStdin)?;
    decision.request(&req);
    run(&caller, &req, decision)
}

/// The request: argv, then the protected list from stdin when `s` says so.
/// `stdin` is only read as far as the protected list goes.
pub fn parse(args: &[Vec<u8>], stdin: &mut impl Read) -> Result<argv::Request, Refusal> {
    let mut req = argv::parse_argv(args)?;
    if req.protected {
        let list = protect::read_list(stdin)?;
        argv::parse_protected(&mut req, &list)?;
    }
    Ok(req)
}

/// Ties `req` to its view, drops root and execs rsync.
fn run(
    caller: &privs::Caller,
    req: &argv::Request,
    decision: &mut Decision,
) -> Result<Infallible, Refusal> {
    let fail = |e: &dyn std::fmt::Display| Refusal(e.to_string());
    let paths = Paths::system().map_err(|e| fail(&e))?;
    let cfg = yaml::load(&paths.yaml).map_err(|e| fail(&e))?;
    let view = paths::view_of(&req.paths, &cfg.views)?;
    decision.view = Some(view.name.clone());
    if !view.readers.iter().any(|r| r.uid == caller.uid) {
        return Err(Refusal(format!(
            "{} is not a reader of view {}",
            caller.name, view.name
        )));
    }
    if view.on_demand {
        ensure_up(view, &paths).map_err(|e| fail(&e))?;
    }
    let mnt = paths::open_mountpoint(view)?;
    paths::pin(view, &mnt, &req.paths)?;
    drop(mnt);
    let rsync = &cfg.shim.rsync;
    privs::apply_scheduling(cfg.shim.io_class, cfg.shim.nice)?;
    privs::drop_to(caller)?;
    // Asked as the caller: the only program the shim starts as root is the
    // view daemon (on demand).
    let mut extra = Vec::new();
    if supports_confine_root(rsync) {
        let mut o = b"--confine-root=".to_vec();
        o.extend_from_slice(view.mountpoint.as_os_str().as_bytes());
        extra.push(o);
    }
    let note = landlock::confine(&view.mountpoint, rsync)?;
    decision.note = Some(note.into());
    decision.log(None);
    let err = Command::new(rsync)
        .args(req.rsync_args(&extra).into_iter().map(OsString::from_vec))
        .env_clear()
        .envs(privs::clean_env())
        .exec();
    Err(Refusal(format!("cannot run {}: {err}", rsync.display())))
}

/// Whether `rsync --help` lists `--confine-root` (rsync ≥ 3.5.0).
fn supports_confine_root(rsync: &Path) -> bool {
    Command::new(rsync)
        .arg("--help")
        .env_clear()
        .envs(privs::clean_env())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.stdout.windows(15).any(|w| w == b"--confine-root="))
}
