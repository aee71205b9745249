//! FUSE frontends (design §4, §5): thin maps from requests to the volume
//! and to the source tree.

pub mod excludes;
pub mod source;
