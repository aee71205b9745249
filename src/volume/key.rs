//! Secret key material: a cipher key followed by its IV (format §3).
//!
//! Both the password-derived *user key* and the *volume key* have this shape:
//! K key bytes (16, 24 or 32 for AES) followed by I = 16 IV bytes. The bytes
//! live in one fixed-size [`SecretBox`], are filled in place and zeroized on
//! drop; the type has no `Debug`, `Display` or `Clone`.

use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox};

use super::Error;

/// Largest supported key length in bytes (AES-256).
pub const MAX_KEY_LEN: usize = 32;
/// IV length of every supported cipher (AES block size).
pub const IV_LEN: usize = 16;

/// A key and its IV, kept in one zeroizing buffer.
pub struct KeyMaterial {
    bytes: SecretBox<[u8; MAX_KEY_LEN + IV_LEN]>,
    key_len: usize,
}

impl KeyMaterial {
    /// Makes key material of `key_len` key bytes plus [`IV_LEN`] IV bytes,
    /// letting `fill` write all `key_len + IV_LEN` bytes in place.
    pub fn new_with(key_len: usize, fill: impl FnOnce(&mut [u8])) -> Result<Self, Error> {
        check_key_len(key_len)?;
        let mut bytes = SecretBox::new(Box::new([0u8; MAX_KEY_LEN + IV_LEN]));
        fill(&mut bytes.expose_secret_mut()[..key_len + IV_LEN]);
        Ok(Self { bytes, key_len })
    }

    /// Copies key material out of `key || iv` bytes (`key_len + IV_LEN` long).
    pub fn from_bytes(key_len: usize, key_and_iv: &[u8]) -> Result<Self, Error> {
        if key_and_iv.len() != key_len + IV_LEN {
            return Err(Error::InvalidParams(format!(
                "key material is {} bytes, expected {}",
                key_and_iv.len(),
                key_len + IV_LEN
            )));
        }
        Self::new_with(key_len, |buf| buf.copy_from_slice(key_and_iv))
    }

    /// Key length in bytes.
    pub fn key_len(&self) -> usize {
        self.key_len
    }

    /// The cipher key bytes (also the HMAC key, format §4.1).
    pub fn key(&self) -> &[u8] {
        &self.bytes.expose_secret()[..self.key_len]
    }

    /// The IV bytes used by `setIVec` (format §4.3).
    pub fn iv(&self) -> &[u8; IV_LEN] {
        self.bytes.expose_secret()[self.key_len..self.key_len + IV_LEN]
            .try_into()
            .expect("slice has IV_LEN bytes")
    }

    /// `key || iv`, the plaintext that the config wraps (format §3.3).
    pub fn key_and_iv(&self) -> &[u8] {
        &self.bytes.expose_secret()[..self.key_len + IV_LEN]
    }
}

/// Accepts the AES key lengths.
pub fn check_key_len(key_len: usize) -> Result<(), Error> {
    match key_len {
        16 | 24 | 32 => Ok(()),
        _ => Err(Error::InvalidParams(format!(
            "key size {} bits is not an AES key size (128, 192 or 256)",
            key_len * 8
        ))),
    }
}
