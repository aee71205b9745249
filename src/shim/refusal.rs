//! The one error of the shim (a leaf module: every step returns it).

/// Why a request is refused: one line for the caller and the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);
