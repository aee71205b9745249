//! The shim's one error: a refused request. (Its own module, so that the
//! shim's parts can use it without importing `shim` itself.)

/// Why a request is refused: one line for the caller and the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);
