//! The volume layer's one error type.

/// Everything that can go wrong in the volume layer. Crypto failures stay
/// coarse on purpose.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The config file is malformed.
    #[error("corrupt config: {0}")]
    Config(String),
    /// A well-formed config that encmount does not support.
    #[error("unsupported {0}")]
    Unsupported(String),
    /// Parameters out of range.
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// The key checksum did not match (format §3.3).
    #[error("wrong password")]
    WrongPassword,
    /// Zero-length passwords are refused, as encfs does.
    #[error("empty password")]
    EmptyPassword,
    /// An encrypted name that does not decode.
    #[error("undecodable name ({0})")]
    BadName(&'static str),
    /// A file header that decodes to the invalid IV 0.
    #[error("bad file header")]
    BadHeader,
    /// A block whose MAC does not match its contents (format §7.3).
    #[error("MAC mismatch in block {block}")]
    MacMismatch {
        /// Index of the bad block.
        block: u64,
    },
    /// Ciphertext that cannot be complete.
    #[error("truncated ciphertext: {0}")]
    Truncated(&'static str),
}
