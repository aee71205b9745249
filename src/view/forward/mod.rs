//! The forward view: a cipher directory shown as the read-only plaintext
//! tree it holds (design §5). The logic is in [`tree`]; the shared FUSE
//! adapter serves it.

pub mod content;
pub mod tree;

use crate::view::fuse::ViewFs;
use tree::ForwardTree;

/// The FUSE filesystem of a forward view.
pub type ForwardFs = ViewFs<ForwardTree>;
