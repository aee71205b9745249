//! The EncFS V6 volume format as pure functions over bytes: no file, clock,
//! logging or randomness of its own (callers pass random bytes in).
//!
//! The byte format is `docs/encfs-format.md` of the team's shared docs,
//! cited here as "format §N".
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cipher;
pub(crate) mod config;
pub(crate) mod content;
pub mod derive;
mod error;
pub(crate) mod kdf;
mod key;
pub(crate) mod names;

pub use config::{Config, ConfigFormat, Kdf, Params, Preset};
pub use content::{
    CipherOff, CipherSize, DecryptPlan, FileCodec, Layout, PlainOff, PlainSize, ReadPlan,
};
pub use derive::FileIv;
pub use error::Error;
pub use key::KeyMaterial;
pub use names::{NameCodec, NameScheme};

use cipher::{Cipher, IvScheme};
use derive::Deriver;

/// A volume with its key loaded: encodes and decodes names, links and file
/// contents.
pub struct Volume {
    params: Params,
    layout: Layout,
    names: NameScheme,
    cipher: Cipher,
    key: KeyMaterial,
    deriver: Deriver,
}

impl Volume {
    /// Unwraps the volume key of `config` with `password`.
    pub fn unlock(config: &Config, password: &[u8]) -> Result<Self, Error> {
        let p = &config.params;
        let user = match &config.kdf {
            Kdf::Pbkdf2 {
                salt, iterations, ..
            } => kdf::derive_user_key(password, salt, *iterations, p.key_len())?,
            Kdf::Legacy => kdf::derive_legacy_user_key(password, p.key_len())?,
        };
        let scheme = IvScheme::for_cipher_major(p.cipher_version.0);
        let key = kdf::unwrap_volume_key(&user, scheme, &config.encoded_key)?;
        Self::from_key(p.clone(), key)
    }

    /// A volume from its parameters and raw key.
    pub fn from_key(params: Params, key: KeyMaterial) -> Result<Self, Error> {
        params.validate()?;
        if key.key_len() != params.key_len() {
            return Err(Error::InvalidParams(
                "key length does not match keySize".into(),
            ));
        }
        let cipher = Cipher::new(&key, IvScheme::for_cipher_major(params.cipher_version.0));
        Ok(Self {
            layout: params.layout()?,
            names: params.name_scheme(),
            deriver: Deriver::new(&key),
            cipher,
            key,
            params,
        })
    }

    /// A new volume with a key made by `fill_random` (which must fill the
    /// whole buffer with cryptographically random bytes, format §3.4).
    pub fn generate(params: Params, fill_random: impl FnOnce(&mut [u8])) -> Result<Self, Error> {
        let key = KeyMaterial::new_with(params.key_len(), fill_random)?;
        Self::from_key(params, key)
    }

    /// A config holding this volume's key wrapped under `password`.
    pub fn to_config(&self, creator: &str, password: &[u8], kdf: Kdf) -> Result<Config, Error> {
        let user = match &kdf {
            Kdf::Pbkdf2 {
                salt, iterations, ..
            } => kdf::derive_user_key(password, salt, *iterations, self.params.key_len())?,
            Kdf::Legacy => kdf::derive_legacy_user_key(password, self.params.key_len())?,
        };
        let scheme = IvScheme::for_cipher_major(self.params.cipher_version.0);
        Ok(Config {
            format: ConfigFormat::V6,
            sub_version: config::V6_SUB_VERSION,
            creator: creator.to_string(),
            params: self.params.clone(),
            encoded_key: kdf::wrap_volume_key(&user, scheme, &self.key),
            kdf,
        })
    }

    /// The volume parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The content layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The loaded cipher (for benchmarks and low-level tools).
    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// Whether names are chained (format §6.2).
    pub fn chained_names(&self) -> bool {
        self.names.chained
    }

    /// Encrypts one name inside a directory whose chain IV is `dir_iv` (0 at
    /// the root). Returns the encoded name and the name's own chain IV.
    pub fn encode_name(&self, name: &[u8], dir_iv: u64) -> (Vec<u8>, u64) {
        let mut iv = dir_iv;
        let out = self.names.encode(&self.cipher, name, &mut iv);
        (out, iv)
    }

    /// Inverse of [`Volume::encode_name`].
    pub fn decode_name(&self, encoded: &[u8], dir_iv: u64) -> Result<(Vec<u8>, u64), Error> {
        let mut iv = dir_iv;
        let out = self.names.decode(&self.cipher, encoded, &mut iv)?;
        Ok((out, iv))
    }

    /// Encrypts a relative path; also returns the chain IV of its last name.
    pub fn encode_path(&self, path: &[u8]) -> (Vec<u8>, u64) {
        self.names.encode_path(&self.cipher, path)
    }

    /// Decrypts a relative cipher path; also returns the chain IV of its
    /// last name.
    pub fn decode_path(&self, path: &[u8]) -> Result<(Vec<u8>, u64), Error> {
        self.names.decode_path(&self.cipher, path)
    }

    /// Encrypts a symlink target (format §6.8).
    pub fn encode_link(&self, target: &[u8]) -> Vec<u8> {
        self.names.encode_link(&self.cipher, target)
    }

    /// Decrypts a symlink target (format §6.8).
    pub fn decode_link(&self, encoded: &[u8]) -> Result<Vec<u8>, Error> {
        self.names.decode_link(&self.cipher, encoded)
    }

    /// The longest plaintext name whose encrypted form fits in 255 bytes.
    pub fn max_plain_name_len(&self) -> usize {
        self.names.max_plain_name_len()
    }

    /// Whether a plaintext name of `len` bytes encrypts to at most 255.
    pub fn name_fits(&self, len: usize) -> bool {
        self.names.encoded_len(len) <= names::NAME_MAX
    }

    /// How a name too long to encrypt is stored (`names::long`); `None`
    /// when it fits.
    pub fn long_name(&self, name: &[u8]) -> Option<names::long::LongName> {
        if self.name_fits(name.len()) {
            return None;
        }
        let tag = self.deriver.long_name_tag(name);
        Some(names::long::shorten(name, &tag, self.max_plain_name_len()))
    }

    /// Whether `short` is the short name of the long name `full`.
    pub fn is_short_name_of(&self, short: &[u8], full: &[u8]) -> bool {
        self.long_name(full).is_some_and(|l| l.short == short)
    }

    /// The header seed of a file whose name chain IV is `name_iv`: the IV
    /// itself with external IV chaining, else 0 (format §7.1).
    pub fn external_iv(&self, name_iv: u64) -> u64 {
        if self.params.external_iv_chaining {
            name_iv
        } else {
            0
        }
    }

    /// The 8-byte header for `file_iv` (format §7.1).
    pub fn encode_header(&self, file_iv: u64, external_iv: u64) -> [u8; content::HEADER_LEN] {
        content::encode_header(&self.cipher, file_iv, external_iv)
    }

    /// The file IV in a header (format §7.1).
    pub fn decode_header(&self, header: &[u8], external_iv: u64) -> Result<u64, Error> {
        content::decode_header(&self.cipher, header, external_iv)
    }

    /// A block codec for one file (`file_iv` 0 without uniqueIV).
    pub fn file_codec(&self, file_iv: u64) -> FileCodec<'_> {
        FileCodec::new(&self.cipher, self.layout, file_iv)
    }

    /// encmount's path-derived reverse file IV (design §3).
    pub fn file_iv_from_path(&self, rel_path: &[u8]) -> u64 {
        self.deriver.file_iv_from_path(rel_path)
    }

    /// A synthetic, stable inode number for a view entry (design §3).
    pub fn view_ino(&self, rel_path: &[u8]) -> u64 {
        self.deriver.view_ino(rel_path)
    }

    /// Encrypts blocks for a reverse view: like
    /// [`FileCodec::encrypt_in_place`], with the MAC header's random bytes
    /// derived so every mount shows the same bytes.
    pub fn reverse_encrypt_in_place(
        &self,
        file_iv: u64,
        first_block: u64,
        buf: &mut [u8],
        plain_len: usize,
    ) -> Result<usize, Error> {
        let rand = |block: u64, out: &mut [u8]| self.deriver.mac_rand_bytes(file_iv, block, out);
        self.file_codec(file_iv)
            .encrypt_in_place(first_block, buf, plain_len, &rand)
    }
}

#[cfg(test)]
mod tests;
