//! `mount` (reverse and forward views) and `umount` (design §4, §5). The
//! set-up is the library's `view::run`.

use anyhow::{Result, bail};
use encmount::cli::mount::{MountArgs, UmountArgs};
use encmount::mounts;
use encmount::view::mount as vmount;

pub fn mount(a: &MountArgs) -> Result<()> {
    let spec = a.spec()?;
    // Without syslog, a daemon not named a log file logs in the manager's
    // run directory.
    let run_dir = encmount::manager::Paths::from_env(None).map(|p| p.run_dir);
    encmount::view::run::run(&spec, run_dir.as_deref().ok())?;
    Ok(())
}

pub fn umount(a: &UmountArgs) -> Result<()> {
    // A dead mount cannot be canonicalized (ENOTCONN): match it as given.
    let mnt = match a.mountpoint.canonicalize() {
        Ok(m) => m,
        Err(_) => std::path::absolute(&a.mountpoint)?,
    };
    let Some(entry) = mounts::mount_entry(&mnt) else {
        bail!("{} is not mounted", a.mountpoint.display());
    };
    if !entry.is_view() {
        bail!(
            "{} is a {} mount, not an encmount view; use umount(8)",
            a.mountpoint.display(),
            entry.fs_type
        );
    }
    vmount::unmount(&mnt, a.lazy)?;
    Ok(())
}
