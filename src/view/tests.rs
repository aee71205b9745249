//! Setting up either tree on a directory that is not there: the error
//! names the directory and keeps the cause.

use std::path::Path;

use crate::excludes::Excludes;
use crate::view::error::ViewError;
use crate::view::forward::tree::ForwardTree;
use crate::view::reverse::tree::{ReverseOptions, ReverseTree};
use crate::volume::{FileIv, Preset, Volume};

/// Nothing can be created there.
const MISSING: &str = "/proc/encmount-missing";

fn volume() -> Volume {
    Volume::generate(Preset::Standard.params(), |b| b.fill(1)).unwrap()
}

#[test]
fn a_missing_source_is_named() {
    let missing = Path::new(MISSING);
    let opts = ReverseOptions {
        file_iv: FileIv::Path,
        excludes: Excludes::new(&[]).unwrap(),
        config: None,
    };
    let e = ReverseTree::new(volume(), missing, opts).err().unwrap();
    assert!(
        matches!(&e, ViewError::Source { path, source }
            if path == missing && source.raw_os_error() == Some(libc::ENOENT)),
        "{e:?}"
    );
}

#[test]
fn a_missing_cipher_directory_is_named() {
    let missing = Path::new(MISSING);
    let e = ForwardTree::new(volume(), missing).err().unwrap();
    assert!(
        matches!(&e, ViewError::CipherDir { path, source }
            if path == missing && source.raw_os_error() == Some(libc::ENOENT)),
        "{e:?}"
    );
}
