//! The reverse view: a plaintext directory shown as a read-only encrypted
//! tree (design §4). The logic is in [`tree`]; the shared FUSE adapter
//! serves it.

pub mod tree;

use crate::view::fuse::ViewFs;
use tree::ReverseTree;

/// The FUSE filesystem of a reverse view.
pub type ReverseFs = ViewFs<ReverseTree>;
