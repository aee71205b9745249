//! File names (format §5, §6): EncFS base64/base32, the `nameio/*` codecs,
//! chained name IVs, whole paths and symlink targets.
//!
//! Names are bytes: any byte but `/` and NUL, not necessarily UTF-8.

use super::Error;
use super::cipher::{BLOCK_LEN, Cipher};

pub mod long;

const B64_ALPHABET: &[u8; 64] = b",-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const B32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Longest file name the backing file systems take.
pub const NAME_MAX: usize = 255;

/// The file-name codec of a volume (`nameAlg`, format §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameCodec {
    /// `nameio/block`: padded CBC, base64.
    Block,
    /// `nameio/block32`: padded CBC, base32.
    Block32,
    /// `nameio/stream`: stream cipher, base64.
    Stream,
    /// `nameio/null`: names stored unchanged.
    Null,
}

impl NameCodec {
    /// The interface name written to the config.
    pub fn interface_name(self) -> &'static str {
        match self {
            Self::Block => "nameio/block",
            Self::Block32 => "nameio/block32",
            Self::Stream => "nameio/stream",
            Self::Null => "nameio/null",
        }
    }

    /// The interface version (major, minor) encfs 1.9.5 writes.
    pub fn current_version(self) -> (u32, u32) {
        match self {
            Self::Block | Self::Block32 => (4, 0),
            Self::Stream => (2, 1),
            Self::Null => (1, 0),
        }
    }

    /// Parses an interface name and checks that `major` is one 1.9.5 reads.
    pub fn from_interface(name: &str, major: u32) -> Result<Self, Error> {
        let (codec, range) = match name {
            "nameio/block" => (Self::Block, 2..=4),
            "nameio/block32" => (Self::Block32, 2..=4),
            "nameio/stream" => (Self::Stream, 0..=2),
            "nameio/null" => (Self::Null, 1..=1),
            other => return Err(Error::Unsupported(format!("name codec {other:?}"))),
        };
        if !range.contains(&major) {
            return Err(Error::Unsupported(format!(
                "{name} interface version {major} (supported: {}..{})",
                range.start(),
                range.end()
            )));
        }
        Ok(codec)
    }
}

/// A name codec at a given interface version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameScheme {
    /// The codec.
    pub codec: NameCodec,
    /// Its interface major version; old versions differ in details (§6.3, §6.4).
    pub major: u32,
    /// `chainedNameIV`.
    pub chained: bool,
}

impl NameScheme {
    /// Whether the chain value is XORed into the encryption seed.
    fn seed_uses_chain(&self) -> bool {
        self.chained
            && match self.codec {
                NameCodec::Block | NameCodec::Block32 => self.major >= 3,
                NameCodec::Stream => self.major >= 2,
                NameCodec::Null => false,
            }
    }

    /// Encrypts one name (not `.` or `..`). `iv` is the parent directory's
    /// chain value (ignored unless chained) and becomes this name's.
    pub fn encode(&self, cipher: &Cipher, name: &[u8], iv: &mut u64) -> Vec<u8> {
        let iv_in = if self.seed_uses_chain() { *iv } else { 0 };
        let chain = self.chained.then_some(iv);
        match self.codec {
            NameCodec::Null => name.to_vec(),
            NameCodec::Stream => {
                let mac = cipher.mac16(name, chain);
                let mut body = name.to_vec();
                cipher.stream_encrypt(&mut body, u64::from(mac) ^ iv_in);
                // Version 0 (EncFS 0.x) keeps the checksum after the data.
                let out = if self.major == 0 {
                    [&body[..], &mac.to_be_bytes()].concat()
                } else {
                    [&mac.to_be_bytes()[..], &body].concat()
                };
                base64_encode(&out)
            }
            NameCodec::Block | NameCodec::Block32 => {
                let pad = BLOCK_LEN - name.len() % BLOCK_LEN;
                let mut out = Vec::with_capacity(2 + name.len() + pad);
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(name);
                out.resize(2 + name.len() + pad, pad as u8);
                let mac = cipher.mac16(&out[2..], chain);
                out[..2].copy_from_slice(&mac.to_be_bytes());
                cipher
                    .block_encrypt(&mut out[2..], u64::from(mac) ^ iv_in)
                    .expect("padded to the block size");
                if self.codec == NameCodec::Block {
                    base64_encode(&out)
                } else {
                    base32_encode(&out)
                }
            }
        }
    }

    /// Decrypts one encoded name; `iv` as in [`NameScheme::encode`]. It is
    /// updated only when the name decodes.
    pub fn decode(&self, cipher: &Cipher, encoded: &[u8], iv: &mut u64) -> Result<Vec<u8>, Error> {
        self.decode_inner(cipher, encoded, iv, false)
    }

    /// `allow_slash` is for absolute link targets, encoded as one name.
    fn decode_inner(
        &self,
        cipher: &Cipher,
        encoded: &[u8],
        iv: &mut u64,
        allow_slash: bool,
    ) -> Result<Vec<u8>, Error> {
        if self.codec == NameCodec::Null {
            return Ok(encoded.to_vec());
        }
        let iv_in = if self.seed_uses_chain() { *iv } else { 0 };
        let raw = match self.codec {
            NameCodec::Block32 => base32_decode(encoded),
            _ => base64_decode(encoded),
        }
        .ok_or(Error::BadName("not in the name alphabet"))?;
        let mut chain = *iv;
        let chain_ref = self.chained.then_some(&mut chain);
        let name = match self.codec {
            NameCodec::Stream => {
                if raw.len() < 3 {
                    return Err(Error::BadName("too short"));
                }
                // Version 0 (EncFS 0.x) keeps the checksum after the data.
                let (mac_bytes, body) = if self.major == 0 {
                    let (b, m) = raw.split_at(raw.len() - 2);
                    (m, b)
                } else {
                    let (m, b) = raw.split_at(2);
                    (m, b)
                };
                let mac = u16::from_be_bytes([mac_bytes[0], mac_bytes[1]]);
                let mut body = body.to_vec();
                cipher.stream_decrypt(&mut body, u64::from(mac) ^ iv_in);
                if cipher.mac16(&body, chain_ref) != mac {
                    return Err(Error::BadName("checksum mismatch"));
                }
                body
            }
            _ => {
                if raw.len() < 2 + BLOCK_LEN || (raw.len() - 2) % BLOCK_LEN != 0 {
                    return Err(Error::BadName("wrong length"));
                }
                let mac = u16::from_be_bytes([raw[0], raw[1]]);
                let mut body = raw[2..].to_vec();
                cipher.block_decrypt(&mut body, u64::from(mac) ^ iv_in)?;
                let pad = usize::from(*body.last().expect("at least one block"));
                if pad == 0 || pad > BLOCK_LEN {
                    return Err(Error::BadName("bad padding"));
                }
                if cipher.mac16(&body, chain_ref) != mac {
                    return Err(Error::BadName("checksum mismatch"));
                }
                body.truncate(body.len() - pad);
                body
            }
        };
        // encfs never encrypts "." or ".." (format §6.1); a tree that holds
        // them is hostile, as is a name with '/' or NUL.
        let dots = name == b"." || name == b"..";
        if name.is_empty() || dots || name.contains(&0) || (!allow_slash && name.contains(&b'/')) {
            return Err(Error::BadName("decodes to an invalid name"));
        }
        if self.chained {
            *iv = chain;
        }
        Ok(name)
    }

    /// Encrypts a path component by component (format §6.1); `.` and `..`
    /// pass unchanged. Returns the path and the chain value of its last
    /// name (the file's external IV, §7.1).
    pub fn encode_path(&self, cipher: &Cipher, path: &[u8]) -> (Vec<u8>, u64) {
        let mut iv = 0u64;
        let mut out = Vec::with_capacity(path.len() * 2);
        for comp in components(path) {
            if !out.is_empty() {
                out.push(b'/');
            }
            if comp == b"." || comp == b".." {
                out.extend_from_slice(comp);
            } else {
                out.extend_from_slice(&self.encode(cipher, comp, &mut iv));
            }
        }
        (out, iv)
    }

    /// Inverse of [`NameScheme::encode_path`].
    pub fn decode_path(&self, cipher: &Cipher, path: &[u8]) -> Result<(Vec<u8>, u64), Error> {
        let mut iv = 0u64;
        let mut out = Vec::with_capacity(path.len());
        for comp in components(path) {
            if !out.is_empty() {
                out.push(b'/');
            }
            if comp == b"." || comp == b".." {
                out.extend_from_slice(comp);
            } else {
                out.extend_from_slice(&self.decode(cipher, comp, &mut iv)?);
            }
        }
        Ok((out, iv))
    }

    /// Encrypts a symlink target (format §6.8): absolute targets become `+`
    /// and the rest encoded as one unchained name; others are recoded as a
    /// path from the volume root.
    pub fn encode_link(&self, cipher: &Cipher, target: &[u8]) -> Vec<u8> {
        if let Some(rest) = target.strip_prefix(b"/") {
            if rest.is_empty() {
                // "/" alone: encfs would encode an empty name; keep it usable.
                return b"+".to_vec();
            }
            let unchained = NameScheme {
                chained: false,
                ..*self
            };
            let mut out = b"+".to_vec();
            out.extend_from_slice(&unchained.encode(cipher, rest, &mut 0));
            out
        } else {
            self.encode_path(cipher, target).0
        }
    }

    /// Inverse of [`NameScheme::encode_link`].
    pub fn decode_link(&self, cipher: &Cipher, encoded: &[u8]) -> Result<Vec<u8>, Error> {
        if let Some(rest) = encoded.strip_prefix(b"+") {
            if rest.is_empty() {
                return Ok(b"/".to_vec());
            }
            let unchained = NameScheme {
                chained: false,
                ..*self
            };
            let mut out = b"/".to_vec();
            out.extend_from_slice(&unchained.decode_inner(cipher, rest, &mut 0, true)?);
            Ok(out)
        } else {
            Ok(self.decode_path(cipher, encoded)?.0)
        }
    }

    /// The encoded length of a name of `len` bytes (format §6.6).
    pub fn encoded_len(&self, len: usize) -> usize {
        match self.codec {
            NameCodec::Null => len,
            NameCodec::Stream => (8 * (2 + len)).div_ceil(6),
            NameCodec::Block => (8 * (2 + len + BLOCK_LEN - len % BLOCK_LEN)).div_ceil(6),
            NameCodec::Block32 => (8 * (2 + len + BLOCK_LEN - len % BLOCK_LEN)).div_ceil(5),
        }
    }

    /// The longest plaintext name whose encoded form fits in [`NAME_MAX`].
    pub fn max_plain_name_len(&self) -> usize {
        (1..=NAME_MAX)
            .rev()
            .find(|&n| self.encoded_len(n) <= NAME_MAX)
            .unwrap_or(0)
    }
}

/// Path components, with empty ones (leading, doubled or trailing `/`)
/// dropped (format §6.1).
pub fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

/// EncFS base64, least significant bits first, no padding (format §5).
pub fn base64_encode(data: &[u8]) -> Vec<u8> {
    encode_bits(data, 6, B64_ALPHABET)
}

/// EncFS base32 (format §5).
pub fn base32_encode(data: &[u8]) -> Vec<u8> {
    encode_bits(data, 5, B32_ALPHABET)
}

/// Inverse of [`base64_encode`]; `None` on a character outside the alphabet.
pub fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    decode_bits(text, 6, |c| B64_ALPHABET.iter().position(|&a| a == c))
}

/// Inverse of [`base32_encode`], case-insensitive.
pub fn base32_decode(text: &[u8]) -> Option<Vec<u8>> {
    decode_bits(text, 5, |c| {
        let c = c.to_ascii_uppercase();
        B32_ALPHABET.iter().position(|&a| a == c)
    })
}

fn encode_bits(data: &[u8], bits: u32, alphabet: &[u8]) -> Vec<u8> {
    let mask = (1u32 << bits) - 1;
    let mut out = Vec::with_capacity((data.len() * 8).div_ceil(bits as usize));
    let (mut acc, mut held) = (0u32, 0u32);
    for &b in data {
        acc |= u32::from(b) << held;
        held += 8;
        while held >= bits {
            out.push(alphabet[(acc & mask) as usize]);
            acc >>= bits;
            held -= bits;
        }
    }
    if held > 0 {
        out.push(alphabet[(acc & mask) as usize]);
    }
    out
}

fn decode_bits(text: &[u8], bits: u32, value: impl Fn(u8) -> Option<usize>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * bits as usize / 8);
    let (mut acc, mut held) = (0u32, 0u32);
    for &c in text {
        acc |= (value(c)? as u32) << held;
        held += bits;
        if held >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            held -= 8;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
