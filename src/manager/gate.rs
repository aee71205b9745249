//! The gate in front of the views (design §8, "who can reach a view at
//! all"): the directory holding a view's mountpoint (the mount root) is
//! root-owned, mode 0700, with a POSIX ACL entry `user:<reader>:--x` for
//! each reader of the views below it. Other local users are refused by
//! the kernel at that directory, before the FUSE daemon is asked, and
//! without the attribute cache's one-second window.

use std::collections::BTreeSet;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;

use exacl::{AclEntry, Perm};

use super::{ManagerConfig, ManagerError, View};

/// Closes the mount root for everyone but root and the readers of the
/// views below it, when `view` mounts directly in it. A mountpoint
/// elsewhere (`mountpoint:` in the yaml) is left alone: its parent may be
/// a directory like /mnt or /home that others need.
pub fn close(view: &View, config: &ManagerConfig) -> Result<(), ManagerError> {
    let root = config.mount_root.as_path();
    if view.mountpoint.parent() != Some(root) {
        return Ok(());
    }
    let uids: BTreeSet<u32> = config
        .views
        .iter()
        .chain([view])
        .filter(|v| v.mountpoint.parent() == Some(root))
        .flat_map(|v| v.readers.iter().map(|r| r.uid))
        .collect();
    apply(root, &uids).map_err(|e| ManagerError::Io {
        what: format!(
            "view {}: cannot restrict the mount root {}",
            view.name,
            root.display()
        ),
        source: e,
    })
}

/// Owner root:root, 0700, and `user:UID:--x` per reader.
pub fn apply(dir: &Path, readers: &BTreeSet<u32>) -> std::io::Result<()> {
    chown(dir, Some(0), Some(0))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let mut acl = vec![
        AclEntry::allow_user("", Perm::READ | Perm::WRITE | Perm::EXECUTE, None),
        AclEntry::allow_group("", Perm::empty(), None),
        AclEntry::allow_other(Perm::empty(), None),
    ];
    if !readers.is_empty() {
        acl.push(AclEntry::allow_mask(Perm::EXECUTE, None));
        acl.extend(
            readers
                .iter()
                .map(|uid| AclEntry::allow_user(&uid.to_string(), Perm::EXECUTE, None)),
        );
    }
    exacl::setfacl(&[dir], &acl, None)
}
