//! File contents on arbitrary bytes, for layouts with and without block MACs
//! (and with MAC random bytes, holes, plain data): `decrypt_in_place`,
//! `decode_header`, `plain_size`, `cipher_size` and `plan_read` never panic;
//! decrypting yields exactly `plain_size` bytes; the bytes as plaintext
//! survive `encrypt_in_place` / `reverse_encrypt_in_place` then
//! `decrypt_in_place`.
#![no_main]

use std::sync::OnceLock;

use encmount::volume::{CipherOff, CipherSize, Params, PlainSize, Preset, Volume};
use libfuzzer_sys::fuzz_target;

fn fill(buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(53).wrapping_add(7);
    }
}

/// (block size, MAC bytes, MAC random bytes, uniqueIV, holes, plain data)
const LAYOUTS: &[(u32, u32, u32, bool, bool, bool)] = &[
    (1024, 0, 0, false, true, false), // standard
    (1024, 8, 0, true, true, false),  // hardened
    (64, 8, 4, true, false, false),
    (512, 4, 8, true, true, false),
    (80, 0, 0, true, false, false),
    (64, 0, 0, false, false, true), // plainData
];

fn volumes() -> &'static [Volume] {
    static VOLUMES: OnceLock<Vec<Volume>> = OnceLock::new();
    VOLUMES.get_or_init(|| {
        LAYOUTS
            .iter()
            .map(|&(block_size, mac, rand, unique_iv, holes, plain)| {
                let params = Params {
                    key_bits: 256,
                    block_size,
                    block_mac_bytes: mac,
                    block_mac_rand_bytes: rand,
                    unique_iv,
                    allow_holes: holes,
                    plain_data: plain,
                    ..Preset::Standard.params()
                };
                Volume::generate(params, fill).expect("valid fuzz parameters")
            })
            .collect()
    })
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = data.get(at..) {
        let n = s.len().min(8);
        b[..n].copy_from_slice(&s[..n]);
    }
    u64::from_le_bytes(b)
}

fn seeded_rand(block: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        *b = (block as u8).wrapping_add(i as u8) | 1;
    }
}

fuzz_target!(|data: &[u8]| {
    // Numbers for the size and offset maths, in the ranges a file system
    // or a FUSE request can hand over: sizes and offsets are off_t (below
    // 2^63), read lengths u32, so block indexes stay below 2^57.
    let (a, b) = (u64_at(data, 0), u64_at(data, 8));
    let (off, size) = (a >> 1, b >> 1);
    let first_block = a >> 7;
    let file_iv = b | 1;
    for vol in volumes() {
        let layout = *vol.layout();
        let _ = layout.plain_size(CipherSize(a));
        let _ = layout.cipher_size(PlainSize(size));
        let _ = layout.plan_read(CipherOff(off), (b >> 32) as usize, PlainSize(size));
        let _ = layout.plan_read(CipherOff(off >> 20), data.len(), PlainSize(size >> 20));
        let _ = vol.decode_header(&data[..data.len().min(8)], b);

        // The bytes as a raw file's data area (after any header).
        let codec = vol.file_codec(file_iv);
        let mut buf = data.to_vec();
        let want = layout
            .plain_size(CipherSize(
                data.len() as u64 + layout.header_len(CipherSize(1)),
            ))
            .expect("a data area with its header is never truncated");
        if let Ok(n) = codec.decrypt_in_place(first_block, &mut buf) {
            assert_eq!(n as u64, want.0, "decrypted length vs plain_size");
        }

        // The bytes as plaintext.
        let plain_len = data.len();
        let cipher_len = layout.blocks_cipher_len(plain_len as u64) as usize;
        let mut buf = data.to_vec();
        buf.resize(cipher_len, 0);
        let n = codec
            .encrypt_in_place(first_block, &mut buf, plain_len, &seeded_rand)
            .expect("encrypt");
        assert_eq!(n, cipher_len);
        let m = codec
            .decrypt_in_place(first_block, &mut buf)
            .expect("own ciphertext decrypts");
        assert_eq!(&buf[..m], data, "content round trip");

        let mut buf = data.to_vec();
        buf.resize(cipher_len, 0);
        vol.reverse_encrypt_in_place(file_iv, first_block, &mut buf, plain_len)
            .expect("reverse encrypt");
        let m = codec
            .decrypt_in_place(first_block, &mut buf)
            .expect("own ciphertext decrypts");
        assert_eq!(&buf[..m], data, "reverse content round trip");

        let header = vol.encode_header(file_iv, b);
        assert_eq!(
            vol.decode_header(&header, b),
            Ok(file_iv),
            "header round trip"
        );
    }
});
