//! File contents (format §7): the per-file header, block layout with MAC
//! headers, plain <-> cipher sizes and offsets, holes.
//!
//! Offsets and sizes come in typed pairs so that a plaintext offset is never
//! used where a ciphertext one is meant; they convert only through
//! [`Layout`].

use std::ops::Range;

use super::Error;
use super::cipher::{BLOCK_LEN, Cipher};

/// Length of the per-file IV header (`uniqueIV`, format §7.1).
pub const HEADER_LEN: usize = 8;

/// A plaintext file size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlainSize(pub u64);
/// A ciphertext (raw) file size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CipherSize(pub u64);
/// An offset into plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlainOff(pub u64);
/// An offset into ciphertext (raw file, header included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CipherOff(pub u64);

/// How a volume lays out file contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    block_size: usize,
    mac_bytes: usize,
    rand_bytes: usize,
    unique_iv: bool,
    allow_holes: bool,
    plain_data: bool,
}

/// What a forward view must decrypt to answer a read of plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptPlan {
    /// The first block to decrypt (by index).
    pub first_block: u64,
    /// The raw bytes holding the blocks (offsets in the raw file).
    pub raw: Range<u64>,
    /// Bytes to drop from the front of the decrypted user data.
    pub skip: usize,
    /// Total length of the answer.
    pub len: usize,
}

/// What a reverse view must produce to answer a read of ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadPlan {
    /// Bytes of the 8-byte header that start the answer.
    pub header: Range<usize>,
    /// Blocks to encrypt (by index).
    pub blocks: Range<u64>,
    /// The plaintext those blocks cover.
    pub plain: Range<u64>,
    /// Bytes to drop from the front of the encrypted blocks.
    pub skip: usize,
    /// Total length of the answer (header part included).
    pub len: usize,
}

impl Layout {
    /// Checks and builds a layout (format §2.4, §7).
    pub fn new(
        block_size: u32,
        mac_bytes: u32,
        rand_bytes: u32,
        unique_iv: bool,
        allow_holes: bool,
        plain_data: bool,
    ) -> Result<Self, Error> {
        let bs = block_size as usize;
        if !(64..=4096).contains(&bs) || !bs.is_multiple_of(BLOCK_LEN) {
            return Err(Error::InvalidParams(format!(
                "block size {block_size} must be a multiple of 16 from 64 to 4096"
            )));
        }
        if mac_bytes > 8 || rand_bytes > 8 {
            return Err(Error::InvalidParams(format!(
                "blockMACBytes {mac_bytes} / blockMACRandBytes {rand_bytes}: each must be 0..8"
            )));
        }
        Ok(Self {
            block_size: bs,
            mac_bytes: mac_bytes as usize,
            rand_bytes: rand_bytes as usize,
            unique_iv,
            allow_holes,
            plain_data,
        })
    }

    /// `B`: raw bytes per block, MAC header included.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// `H = M + R`: bytes of MAC header per block (0 for plain data).
    pub fn overhead(&self) -> usize {
        if self.plain_data {
            0
        } else {
            self.mac_bytes + self.rand_bytes
        }
    }

    /// `M`: MAC bytes per block.
    pub fn mac_bytes(&self) -> usize {
        if self.plain_data { 0 } else { self.mac_bytes }
    }

    /// `R`: random bytes per block.
    pub fn rand_bytes(&self) -> usize {
        if self.plain_data { 0 } else { self.rand_bytes }
    }

    /// `D = B - H`: user bytes per block.
    pub fn data_per_block(&self) -> usize {
        self.block_size - self.overhead()
    }

    /// Whether non-empty files start with the 8-byte IV header.
    pub fn has_header(&self) -> bool {
        self.unique_iv && !self.plain_data
    }

    /// Whether all-zero raw blocks read back as zeros (format §7.5).
    pub fn allow_holes(&self) -> bool {
        self.allow_holes && !self.plain_data
    }

    /// Whether contents are stored unencrypted (`plainData`, format §7.6).
    pub fn plain_data(&self) -> bool {
        self.plain_data
    }

    /// Header length of a raw file of this size.
    pub fn header_len(&self, raw: CipherSize) -> u64 {
        if self.has_header() && raw.0 > 0 {
            HEADER_LEN as u64
        } else {
            0
        }
    }

    /// Cipher bytes of `plain_len` bytes of consecutive blocks (no header).
    pub fn blocks_cipher_len(&self, plain_len: u64) -> u64 {
        let d = self.data_per_block() as u64;
        // Saturating: sizes near 2^64 cannot be real files.
        plain_len.saturating_add(plain_len.div_ceil(d).saturating_mul(self.overhead() as u64))
    }

    /// Raw size for a plaintext size (format §7.4); empty stays empty.
    pub fn cipher_size(&self, plain: PlainSize) -> CipherSize {
        if plain.0 == 0 {
            return CipherSize(0);
        }
        let header = if self.has_header() {
            HEADER_LEN as u64
        } else {
            0
        };
        CipherSize(self.blocks_cipher_len(plain.0).saturating_add(header))
    }

    /// Plaintext size of a raw file (format §7.4). Raw sizes 1..7 in a
    /// uniqueIV volume cannot come from encfs and are an error.
    pub fn plain_size(&self, raw: CipherSize) -> Result<PlainSize, Error> {
        let header = self.header_len(raw);
        if raw.0 > 0 && raw.0 < header {
            return Err(Error::Truncated("file is shorter than its 8-byte header"));
        }
        let data = raw.0 - header;
        let (b, h) = (self.block_size as u64, self.overhead() as u64);
        let (full, rest) = (data / b, data % b);
        Ok(PlainSize(full * (b - h) + rest.saturating_sub(h)))
    }

    /// The block holding a plaintext offset.
    pub fn block_of(&self, off: PlainOff) -> u64 {
        off.0 / self.data_per_block() as u64
    }

    /// Plans the answer to a read of `len` bytes of ciphertext at `off` of
    /// a file whose plaintext is `plain` bytes long (format §7.4).
    pub fn plan_read(&self, off: CipherOff, len: usize, plain: PlainSize) -> ReadPlan {
        let raw = self.cipher_size(plain).0;
        let end = raw.min(off.0.saturating_add(len as u64));
        if off.0 >= end {
            return ReadPlan {
                header: 0..0,
                blocks: 0..0,
                plain: 0..0,
                skip: 0,
                len: 0,
            };
        }
        let hdr = self.header_len(CipherSize(raw));
        let header = if off.0 < hdr {
            off.0 as usize..end.min(hdr) as usize
        } else {
            0..0
        };
        let data_start = off.0.max(hdr) - hdr;
        let data_end = end.max(hdr) - hdr;
        let b = self.block_size as u64;
        let d = self.data_per_block() as u64;
        let blocks = if data_start < data_end {
            data_start / b..data_end.div_ceil(b)
        } else {
            0..0
        };
        let plain_range = blocks.start * d..(blocks.end * d).min(plain.0);
        ReadPlan {
            header,
            skip: (data_start - blocks.start * b) as usize,
            blocks,
            plain: plain_range,
            len: (end - off.0) as usize,
        }
    }

    /// Plans the answer to a read of `len` bytes of plaintext at `off` of a
    /// raw file of `raw` bytes (format §7.4, §7.7): the whole blocks to read
    /// and decrypt, then the slice of their user data to return. Fails like
    /// [`Layout::plain_size`] on impossible raw sizes.
    pub fn plan_decrypt(
        &self,
        off: PlainOff,
        len: usize,
        raw: CipherSize,
    ) -> Result<DecryptPlan, Error> {
        let plain = self.plain_size(raw)?.0;
        let end = plain.min(off.0.saturating_add(len as u64));
        if off.0 >= end {
            return Ok(DecryptPlan {
                first_block: 0,
                raw: 0..0,
                skip: 0,
                len: 0,
            });
        }
        let hdr = self.header_len(raw);
        let (b, d) = (self.block_size as u64, self.data_per_block() as u64);
        let first = off.0 / d;
        let last = (end - 1) / d;
        Ok(DecryptPlan {
            first_block: first,
            raw: hdr + first * b..(hdr + (last + 1) * b).min(raw.0),
            skip: (off.0 - first * d) as usize,
            len: (end - off.0) as usize,
        })
    }
}

/// The 8-byte header of a file with IV `file_iv` (format §7.1).
pub fn encode_header(cipher: &Cipher, file_iv: u64, external_iv: u64) -> [u8; HEADER_LEN] {
    let mut h = file_iv.to_be_bytes();
    cipher.stream_encrypt(&mut h, external_iv);
    h
}

/// The file IV stored in a header (format §7.1); 0 is invalid.
pub fn decode_header(cipher: &Cipher, header: &[u8], external_iv: u64) -> Result<u64, Error> {
    let mut h: [u8; HEADER_LEN] = header
        .try_into()
        .map_err(|_| Error::Truncated("file header is not 8 bytes"))?;
    cipher.stream_decrypt(&mut h, external_iv);
    match u64::from_be_bytes(h) {
        0 => Err(Error::BadHeader),
        iv => Ok(iv),
    }
}

/// Encrypts and decrypts the blocks of one file.
pub struct FileCodec<'a> {
    cipher: &'a Cipher,
    layout: Layout,
    file_iv: u64,
}

impl<'a> FileCodec<'a> {
    /// A codec for a file with IV `file_iv` (0 without uniqueIV).
    pub fn new(cipher: &'a Cipher, layout: Layout, file_iv: u64) -> Self {
        Self {
            cipher,
            layout,
            file_iv,
        }
    }

    /// The layout in use.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Encrypts consecutive blocks in place. On entry `buf[..plain_len]`
    /// holds the user data of blocks `first_block..` (D bytes each, the last
    /// one shorter only at end of file); `buf` must be at least
    /// `blocks_cipher_len(plain_len)` long. `rand(block, out)` fills the
    /// random bytes of a MAC header. Returns the cipher length.
    pub fn encrypt_in_place(
        &self,
        first_block: u64,
        buf: &mut [u8],
        plain_len: usize,
        rand: &dyn Fn(u64, &mut [u8]),
    ) -> Result<usize, Error> {
        let cipher_len = self.layout.blocks_cipher_len(plain_len as u64) as usize;
        if buf.len() < cipher_len {
            return Err(Error::InvalidParams("encryption buffer too small".into()));
        }
        if self.layout.plain_data() {
            return Ok(plain_len);
        }
        spread_blocks(buf, plain_len, &self.layout);
        let (b, m, h) = (
            self.layout.block_size(),
            self.layout.mac_bytes(),
            self.layout.overhead(),
        );
        let buf = &mut buf[..cipher_len];
        if h > 0 {
            for (i, block) in buf.chunks_mut(b).enumerate() {
                rand(first_block + i as u64, &mut block[m..h]);
                if m > 0 {
                    let mac = self.cipher.mac64(&block[m..], None).to_le_bytes();
                    block[..m].copy_from_slice(&mac[..m]);
                }
            }
        }
        // Full blocks are CBC, all in one call (their chains interleave);
        // a short last block uses the stream mode (format §7.2).
        let full = cipher_len / b * b;
        let (whole, tail) = buf.split_at_mut(full);
        let file_iv = self.file_iv;
        self.cipher
            .block_encrypt_units(whole, b, |i| (first_block + i as u64) ^ file_iv)?;
        if !tail.is_empty() {
            let k = first_block + (full / b) as u64;
            self.cipher.stream_encrypt(tail, k ^ file_iv);
        }
        Ok(cipher_len)
    }

    /// Decrypts one raw block in place (format §7.7) and returns the range
    /// of user data in it. A MAC mismatch is [`Error::MacMismatch`].
    pub fn decrypt_block(&self, k: u64, block: &mut [u8]) -> Result<Range<usize>, Error> {
        if self.layout.plain_data() {
            return Ok(0..block.len());
        }
        let seed = k ^ self.file_iv;
        let holes = self.layout.allow_holes();
        let full = block.len() == self.layout.block_size();
        if full {
            if !(holes && is_zero(block)) {
                self.cipher.block_decrypt(block, seed)?;
            }
        } else {
            self.cipher.stream_decrypt(block, seed);
        }
        let (m, h) = (self.layout.mac_bytes(), self.layout.overhead());
        if h == 0 {
            return Ok(0..block.len());
        }
        if block.len() <= h {
            return Ok(0..0);
        }
        if m > 0 && !(holes && is_zero(block)) {
            let mac = self.cipher.mac64(&block[m..], None).to_le_bytes();
            if mac[..m] != block[..m] {
                return Err(Error::MacMismatch { block: k });
            }
        }
        Ok(h..block.len())
    }

    /// Decrypts consecutive raw blocks from `first_block` in place and moves
    /// their user data to the front of `buf`; returns its length.
    pub fn decrypt_in_place(&self, first_block: u64, buf: &mut [u8]) -> Result<usize, Error> {
        let b = self.layout.block_size();
        let mut out = 0;
        let mut start = 0;
        let mut k = first_block;
        while start < buf.len() {
            let end = (start + b).min(buf.len());
            let data = self.decrypt_block(k, &mut buf[start..end])?;
            let (from, len) = (start + data.start, data.len());
            buf.copy_within(from..from + len, out);
            out += len;
            start = end;
            k += 1;
        }
        Ok(out)
    }
}

/// Moves `plain_len` bytes of contiguous user data at the front of `buf` to
/// their places after each block's MAC header, last block first so that no
/// byte is overwritten before it is moved.
fn spread_blocks(buf: &mut [u8], plain_len: usize, layout: &Layout) {
    let h = layout.overhead();
    if h == 0 || plain_len == 0 {
        return;
    }
    let (b, d) = (layout.block_size(), layout.data_per_block());
    let blocks = plain_len.div_ceil(d);
    for i in (0..blocks).rev() {
        let src = i * d;
        let len = d.min(plain_len - src);
        buf.copy_within(src..src + len, i * b + h);
    }
}

/// Whether every byte is zero (holes, format §7.5). ORs 16 bytes at a time
/// so the compiler can vectorize it; the scan runs on every block.
pub fn is_zero(b: &[u8]) -> bool {
    let (chunks, rest) = b.as_chunks::<16>();
    chunks
        .iter()
        .fold(0u128, |acc, c| acc | u128::from_ne_bytes(*c))
        == 0
        && rest.iter().all(|&x| x == 0)
}

#[cfg(test)]
mod tests;
