//! Name, path and symlink decoding on arbitrary bytes with every name codec
//! (block, block32, stream, null; current and old interface versions;
//! chained and not; the legacy IV scheme): never a panic. Also, when the
//! input is a valid name, path or link target, encoding then decoding must
//! give it back.
//!
//! Regression input: `fuzz/known/name_decoder-stream-v0.bin` (`nameio/stream`
//! version 0 names once did not round-trip).
#![no_main]

use std::sync::OnceLock;

use encmount::volume::{NameCodec, Params, Preset, Volume};
use libfuzzer_sys::fuzz_target;

fn fill(buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(29).wrapping_add(3);
    }
}

/// (codec, interface major, chained, key bits, cipher interface major)
const SCHEMES: &[(NameCodec, u32, bool, u32, u32)] = &[
    (NameCodec::Block, 4, false, 192, 3),
    (NameCodec::Block, 4, true, 256, 3),
    (NameCodec::Block, 2, true, 128, 3),
    (NameCodec::Block32, 4, true, 256, 3),
    (NameCodec::Block32, 3, false, 128, 2),
    (NameCodec::Stream, 2, true, 128, 3),
    (NameCodec::Stream, 1, false, 256, 3),
    (NameCodec::Stream, 0, true, 192, 1),
    (NameCodec::Null, 1, false, 256, 3),
];

fn volumes() -> &'static [Volume] {
    static VOLUMES: OnceLock<Vec<Volume>> = OnceLock::new();
    VOLUMES.get_or_init(|| {
        SCHEMES
            .iter()
            .map(|&(codec, major, chained, key_bits, cipher_major)| {
                let params = Params {
                    cipher_version: (cipher_major, 0),
                    key_bits,
                    name_codec: codec,
                    name_version: (major, 0),
                    chained_name_iv: chained,
                    ..Preset::Standard.params()
                };
                Volume::generate(params, fill).expect("valid fuzz parameters")
            })
            .collect()
    })
}

fn is_name(b: &[u8]) -> bool {
    !b.is_empty() && b != b"." && b != b".." && !b.contains(&b'/') && !b.contains(&0)
}

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes, when present, are a parent chain IV.
    let dir_iv = data
        .get(..8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()));
    for vol in volumes() {
        // Arbitrary bytes as ciphertext.
        let _ = vol.decode_name(data, dir_iv);
        let _ = vol.decode_name(data, 0);
        let _ = vol.decode_path(data);
        let _ = vol.decode_link(data);

        // Arbitrary bytes as plaintext.
        let null = vol.params().name_codec == NameCodec::Null;
        if is_name(data) {
            let (enc, iv) = vol.encode_name(data, dir_iv);
            let (dec, iv2) = vol.decode_name(&enc, dir_iv).expect("own name decodes");
            assert_eq!(dec, data, "name round trip");
            assert_eq!(iv, iv2, "chain IV round trip");
        }
        if !data.contains(&0) {
            let (enc, iv) = vol.encode_path(data);
            let (dec, iv2) = vol.decode_path(&enc).expect("own path decodes");
            assert_eq!(iv, iv2, "path chain IV round trip");
            // Decoding yields the canonical form: empty components dropped.
            let canonical: Vec<&[u8]> = data
                .split(|&b| b == b'/')
                .filter(|c| !c.is_empty())
                .collect();
            assert_eq!(dec, canonical.join(&b'/'), "path round trip");

            // With nameio/null a relative target starting with `+` reads
            // back as absolute (the `+` marker is ambiguous there).
            if !(null && data.starts_with(b"+")) {
                let link = vol.encode_link(data);
                let back = vol.decode_link(&link).expect("own link decodes");
                if data.starts_with(b"/") {
                    assert_eq!(back, data, "absolute link round trip");
                } else {
                    assert_eq!(back, canonical.join(&b'/'), "relative link round trip");
                }
            }
        }
    }
});
