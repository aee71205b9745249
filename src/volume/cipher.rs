//! The EncFS cipher primitives (format §4): MAC_64/32/16, `setIVec`, block
//! (CBC) and stream (shuffled double CFB) encryption.
//!
//! A [`Cipher`] holds the expanded AES key and a pre-keyed HMAC-SHA1 state,
//! so the per-block work is only the IV HMAC and the cipher itself.

use aes::cipher::array::Array;
use aes::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockSizeUser, InnerIvInit, KeyInit, consts::U16,
};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::Zeroize;

use super::Error;
use super::key::{IV_LEN, KeyMaterial};

/// The AES block size; also the IV length.
pub const BLOCK_LEN: usize = 16;
/// How many independent CBC chains are encrypted side by side: AES-NI
/// pipelines this many blocks, while one chain waits on each round.
const LANES: usize = 8;
/// The largest CBC unit: a file block (format §2.4).
const MAX_UNIT: usize = 4096;

/// How `setIVec` turns a 64-bit seed into an IV (format §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IvScheme {
    /// Cipher interface major >= 3: HMAC-SHA1 of `volumeIV || u64le(seed)`.
    Hmac,
    /// Cipher interface major <= 2: the old XOR mixing (watermarkable).
    LegacyXor,
}

impl IvScheme {
    /// The scheme used by a given `ssl/aes` interface major version.
    pub fn for_cipher_major(major: u32) -> Self {
        if major >= 3 {
            Self::Hmac
        } else {
            Self::LegacyXor
        }
    }
}

enum Aes {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

/// Dispatches over the three AES key sizes with one generic body.
macro_rules! with_aes {
    ($aes:expr, $c:ident => $body:expr) => {
        match $aes {
            Aes::A128($c) => $body,
            Aes::A192($c) => $body,
            Aes::A256($c) => $body,
        }
    };
}

/// A loaded key: everything needed to encrypt and authenticate.
pub struct Cipher {
    aes: Aes,
    hmac: Hmac<Sha1>,
    iv: [u8; IV_LEN],
    scheme: IvScheme,
}

impl Drop for Cipher {
    fn drop(&mut self) {
        // The AES and HMAC states zeroize themselves (crate feature `zeroize`).
        self.iv.zeroize();
    }
}

type AesBlock = Array<u8, U16>;

impl Cipher {
    /// Expands `key` for AES and HMAC.
    pub fn new(key: &KeyMaterial, scheme: IvScheme) -> Self {
        let k = key.key();
        let aes = match k.len() {
            16 => Aes::A128(aes::Aes128::new_from_slice(k).expect("16-byte key")),
            24 => Aes::A192(aes::Aes192::new_from_slice(k).expect("24-byte key")),
            _ => Aes::A256(aes::Aes256::new_from_slice(k).expect("32-byte key")),
        };
        let hmac = <Hmac<Sha1> as KeyInit>::new_from_slice(k).expect("HMAC takes any key length");
        Self {
            aes,
            hmac,
            iv: *key.iv(),
            scheme,
        }
    }

    /// MAC_64 (format §4.2). With `chain`, its value is appended to the
    /// message as u64le and replaced by the result.
    pub fn mac64(&self, data: &[u8], chain: Option<&mut u64>) -> u64 {
        let mut h = self.hmac.clone();
        h.update(data);
        if let Some(c) = &chain {
            h.update(&c.to_le_bytes());
        }
        let md = h.finalize().into_bytes();
        let mut folded = [0u8; 8];
        // md[19] is not used: the fold runs over 19 bytes.
        for (i, b) in md[..19].iter().enumerate() {
            folded[i % 8] ^= b;
        }
        let v = u64::from_be_bytes(folded);
        if let Some(c) = chain {
            *c = v;
        }
        v
    }

    /// MAC_32 (format §4.2).
    pub fn mac32(&self, data: &[u8], chain: Option<&mut u64>) -> u32 {
        let v = self.mac64(data, chain);
        ((v >> 32) as u32) ^ (v as u32)
    }

    /// MAC_16 (format §4.2).
    pub fn mac16(&self, data: &[u8], chain: Option<&mut u64>) -> u16 {
        let m = self.mac32(data, chain);
        ((m >> 16) as u16) ^ (m as u16)
    }

    /// `setIVec`: the IV for a 64-bit seed (format §4.3).
    pub fn ivec(&self, seed: u64) -> [u8; IV_LEN] {
        match self.scheme {
            IvScheme::Hmac => {
                let mut h = self.hmac.clone();
                h.update(&self.iv);
                h.update(&seed.to_le_bytes());
                let md = h.finalize().into_bytes();
                md[..IV_LEN].try_into().expect("SHA-1 is 20 bytes")
            }
            IvScheme::LegacyXor => legacy_ivec(&self.iv, seed),
        }
    }

    /// CBC-encrypts `buf` in place; its length must be a multiple of 16
    /// (format §4.4).
    pub fn block_encrypt(&self, buf: &mut [u8], seed: u64) -> Result<(), Error> {
        self.block_encrypt_units(buf, buf.len(), |_| seed)
    }

    /// CBC-decrypts `buf` in place (format §4.4).
    pub fn block_decrypt(&self, buf: &mut [u8], seed: u64) -> Result<(), Error> {
        self.block_decrypt_units(buf, buf.len(), |_| seed)
    }

    /// CBC-encrypts `buf` in place as consecutive `unit`-byte chains, chain
    /// `i` with the IV of `seed_of(i)` (file blocks, format §7.2). The
    /// chains are independent, so up to [`LANES`] of them are encrypted
    /// side by side. `unit` must be a multiple of 16 and divide `buf`.
    pub fn block_encrypt_units(
        &self,
        buf: &mut [u8],
        unit: usize,
        seed_of: impl Fn(usize) -> u64,
    ) -> Result<(), Error> {
        check_units(buf.len(), unit)?;
        for (g, group) in buf.chunks_mut(unit * LANES).enumerate() {
            let n = group.len() / unit;
            let mut state = [AesBlock::default(); LANES];
            for (j, st) in state[..n].iter_mut().enumerate() {
                *st = AesBlock::from(self.ivec(seed_of(g * LANES + j)));
            }
            with_aes!(&self.aes, c => cbc_encrypt_lanes(c, &mut state[..n], group, unit));
        }
        Ok(())
    }

    /// Inverse of [`Cipher::block_encrypt_units`].
    pub fn block_decrypt_units(
        &self,
        buf: &mut [u8],
        unit: usize,
        seed_of: impl Fn(usize) -> u64,
    ) -> Result<(), Error> {
        check_units(buf.len(), unit)?;
        for (i, chain) in buf.chunks_mut(unit).enumerate() {
            let iv = self.ivec(seed_of(i));
            with_aes!(&self.aes, c => cbc_decrypt_chain(c, &iv, chain));
        }
        Ok(())
    }

    /// The stream encoding of format §4.5, for any length (0 is a no-op).
    pub fn stream_encrypt(&self, buf: &mut [u8], seed: u64) {
        if buf.is_empty() {
            return;
        }
        shuffle(buf);
        self.cfb_encrypt(buf, seed);
        flip(buf);
        shuffle(buf);
        self.cfb_encrypt(buf, seed.wrapping_add(1));
    }

    /// Inverse of [`Cipher::stream_encrypt`].
    pub fn stream_decrypt(&self, buf: &mut [u8], seed: u64) {
        if buf.is_empty() {
            return;
        }
        self.cfb_decrypt(buf, seed.wrapping_add(1));
        unshuffle(buf);
        flip(buf);
        self.cfb_decrypt(buf, seed);
        unshuffle(buf);
    }

    fn cfb_encrypt(&self, buf: &mut [u8], seed: u64) {
        let iv = self.ivec(seed);
        with_aes!(&self.aes, c => {
            cfb_mode::Encryptor::inner_iv_init(c, &AesBlock::from(iv)).encrypt(buf)
        });
    }

    fn cfb_decrypt(&self, buf: &mut [u8], seed: u64) {
        let iv = self.ivec(seed);
        with_aes!(&self.aes, c => {
            cfb_mode::Decryptor::inner_iv_init(c, &AesBlock::from(iv)).decrypt(buf)
        });
    }
}

fn check_units(len: usize, unit: usize) -> Result<(), Error> {
    if unit == 0 || !unit.is_multiple_of(BLOCK_LEN) || !len.is_multiple_of(unit) {
        return Err(Error::InvalidParams(
            "CBC input is not a multiple of the cipher block size".into(),
        ));
    }
    Ok(())
}

fn xor16(a: &[u8], b: &[u8]) -> [u8; BLOCK_LEN] {
    let a = u128::from_ne_bytes(a.try_into().expect("16 bytes"));
    let b = u128::from_ne_bytes(b.try_into().expect("16 bytes"));
    (a ^ b).to_ne_bytes()
}

/// Encrypts `state.len()` chains of `unit` bytes, laid out one after the
/// other in `buf`, in lockstep: step `k` encrypts AES block `k` of every
/// chain in one parallel call. `state` holds the IVs on entry.
fn cbc_encrypt_lanes<C>(c: &C, state: &mut [AesBlock], buf: &mut [u8], unit: usize)
where
    C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16>,
{
    for off in (0..unit).step_by(BLOCK_LEN) {
        for (j, st) in state.iter_mut().enumerate() {
            let at = j * unit + off;
            *st = AesBlock::from(xor16(st, &buf[at..at + BLOCK_LEN]));
        }
        c.encrypt_blocks(state);
        for (j, st) in state.iter().enumerate() {
            let at = j * unit + off;
            buf[at..at + BLOCK_LEN].copy_from_slice(st);
        }
    }
}

/// Decrypts one chain: all its AES blocks in one parallel call, then the
/// XOR with the previous ciphertext block (kept aside beforehand).
fn cbc_decrypt_chain<C>(c: &C, iv: &[u8; IV_LEN], chain: &mut [u8])
where
    C: BlockCipherDecrypt + BlockSizeUser<BlockSize = U16>,
{
    let mut prev = *iv;
    for piece in chain.chunks_mut(MAX_UNIT) {
        let mut saved = [0u8; MAX_UNIT];
        saved[..piece.len()].copy_from_slice(piece);
        let (blocks, _) = AesBlock::slice_as_chunks_mut(piece);
        c.decrypt_blocks(blocks);
        for (k, b) in blocks.iter_mut().enumerate() {
            let before = if k == 0 {
                &prev[..]
            } else {
                &saved[(k - 1) * BLOCK_LEN..k * BLOCK_LEN]
            };
            *b = AesBlock::from(xor16(b, before));
        }
        prev.copy_from_slice(&saved[piece.len() - BLOCK_LEN..piece.len()]);
    }
}

/// The pre-2010 IV mixing of format §4.3 (cipher major <= 2).
fn legacy_ivec(volume_iv: &[u8; IV_LEN], seed: u64) -> [u8; IV_LEN] {
    let s = seed as u32;
    let a = 0x060a_4011u32.wrapping_mul(s);
    let b = 0x0221_040du32.wrapping_mul(s ^ 0xD3FE_A11C);
    let mut iv = *volume_iv;
    let mix = [
        a >> 24,
        b >> 16,
        a >> 8,
        b,
        b >> 24,
        a >> 16,
        b >> 8,
        a,
        a,
        b >> 8,
        a >> 16,
        b >> 24,
        a >> 24,
        b >> 16,
        a >> 8,
        b,
    ];
    for (byte, m) in iv.iter_mut().zip(mix) {
        *byte ^= m as u8;
    }
    iv
}

/// Running XOR, in order (format §4.5).
fn shuffle(b: &mut [u8]) {
    for i in 1..b.len() {
        b[i] ^= b[i - 1];
    }
}

/// Inverse of [`shuffle`].
fn unshuffle(b: &mut [u8]) {
    for i in (1..b.len()).rev() {
        b[i] ^= b[i - 1];
    }
}

/// Reverses each 64-byte chunk in place (format §4.5).
fn flip(b: &mut [u8]) {
    for chunk in b.chunks_mut(64) {
        chunk.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn kat_cipher() -> Cipher {
        let key = KeyMaterial::new_with(24, |b| {
            for (i, x) in b[..24].iter_mut().enumerate() {
                *x = i as u8;
            }
            for (i, x) in b[24..].iter_mut().enumerate() {
                *x = 0x80 + i as u8;
            }
        })
        .unwrap();
        Cipher::new(&key, IvScheme::Hmac)
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    // Known answers of format §13.
    #[test]
    fn macs_match_format_kat() {
        let c = kat_cipher();
        assert_eq!(c.mac64(b"hello", None), 0x149f09ebbf083aef);
        let mut chain = 0u64;
        assert_eq!(c.mac64(b"hello", Some(&mut chain)), 0x616b99b83c2d4609);
        assert_eq!(chain, 0x616b99b83c2d4609);
        assert_eq!(c.mac32(b"hello", None), 0xab973304);
        assert_eq!(c.mac16(b"hello", None), 0x9893);
    }

    #[test]
    fn ivec_matches_format_kat() {
        let c = kat_cipher();
        assert_eq!(hex(&c.ivec(0)), "605f6bacb5e4e6e5110f114c2cd7f0d1");
        assert_eq!(hex(&c.ivec(1)), "f1b7a20edbc26eb57552690268c3a9eb");
        assert_eq!(
            hex(&c.ivec(0x0102030405060708)),
            "5489053f5ccb93a77ed64774c76c3f8f"
        );
    }

    #[test]
    fn stream_and_block_match_format_kat() {
        let c = kat_cipher();
        let mut s = *b"hello";
        c.stream_encrypt(&mut s, 0);
        assert_eq!(hex(&s), "ba44694feb");
        c.stream_decrypt(&mut s, 0);
        assert_eq!(&s, b"hello");

        let mut b = [0u8; 16];
        c.block_encrypt(&mut b, 0).unwrap();
        assert_eq!(hex(&b), "d210e3bc119e153ff034c9843bb4a502");
        c.block_decrypt(&mut b, 0).unwrap();
        assert_eq!(b, [0u8; 16]);
    }

    #[test]
    fn stream_round_trips_every_length_and_seed_edge() {
        let c = kat_cipher();
        for len in [1usize, 2, 15, 16, 17, 63, 64, 65, 200, 1023] {
            for seed in [0u64, 1, u64::MAX] {
                let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut buf = plain.clone();
                c.stream_encrypt(&mut buf, seed);
                assert_ne!(buf, plain);
                c.stream_decrypt(&mut buf, seed);
                assert_eq!(buf, plain, "len {len} seed {seed}");
            }
        }
    }

    #[test]
    fn units_match_one_chain_at_a_time() {
        let c = kat_cipher();
        for (unit, count) in [
            (16usize, 1usize),
            (64, 3),
            (1024, 8),
            (1024, 9),
            (4096, 17),
            (8192, 2),
        ] {
            let plain: Vec<u8> = (0..unit * count).map(|i| (i * 31 + 7) as u8).collect();
            let seed = |i: usize| 1000 + i as u64 * 3;
            let mut many = plain.clone();
            c.block_encrypt_units(&mut many, unit, seed).unwrap();
            for (i, chunk) in plain.chunks(unit).enumerate() {
                // reference: textbook CBC, block by block
                let mut prev = c.ivec(seed(i));
                for (k, b) in chunk.chunks(16).enumerate() {
                    let mut x = AesBlock::from(xor16(&prev, b));
                    with_aes!(&c.aes, a => a.encrypt_block(&mut x));
                    assert_eq!(
                        &many[i * unit + k * 16..][..16],
                        &x[..],
                        "unit {unit} chain {i} block {k}"
                    );
                    prev = x.into();
                }
            }
            c.block_decrypt_units(&mut many, unit, seed).unwrap();
            assert_eq!(many, plain, "unit {unit} x {count}");
        }
    }

    #[test]
    fn cbc_rejects_partial_blocks() {
        let c = kat_cipher();
        assert!(c.block_encrypt(&mut [0u8; 17], 0).is_err());
    }

    #[test]
    fn legacy_iv_differs_by_seed_and_keeps_length() {
        let iv = [0x80u8; 16];
        assert_ne!(legacy_ivec(&iv, 0), legacy_ivec(&iv, 1));
        // seed 0: a = 0, b = 0x0221040d * 0xD3FEA11C; byte 0 depends on a only.
        assert_eq!(legacy_ivec(&iv, 0)[0], 0x80);
    }
}
