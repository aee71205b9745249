//! Throughput of the EncFS format core: file blocks and names.
//!
//! Benchmark ids (stable: `bench/crypto.sh` parses them):
//! - `encrypt/aes{128,256}/bs{1024,4096}/mac{0,8}` and the same under
//!   `decrypt/`: [`FileCodec`] over a 1 MiB buffer of consecutive blocks
//!   (1 MiB of ciphertext; with MAC 8 the plaintext is that minus the MAC
//!   headers). Throughput counts plaintext bytes.
//! - `names/{encode,decode}/block/{chained,unchained}`: one 20-byte name,
//!   AES-256, `nameio/block`.
//!
//! Run: `cargo bench --bench crypto`, or `bench/crypto.sh` for a comparison
//! with `openssl speed`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use encmount::volume::{Params, Preset, Volume};

/// Bytes of ciphertext each content iteration produces or consumes.
const BUF_LEN: usize = 1 << 20;
/// A fixed, non-zero file IV (any value works; 0 would mean "no uniqueIV").
const FILE_IV: u64 = 0x0123_4567_89ab_cdef;
/// The name the name benchmarks encode: 20 bytes, a typical file name.
const NAME: &[u8; 20] = b"holiday-2024-06.jpeg";

/// The volume key comes from a fixed fill so every run measures the same
/// work.
fn fixed_fill(buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
}

/// Plaintext that is neither zero (that would take the hole shortcut) nor
/// trivially repetitive: a xorshift stream.
fn plaintext(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The standard preset with the given key size, block size and MAC bytes.
fn volume(key_bits: u32, block_size: u32, mac_bytes: u32) -> Volume {
    let params = Params {
        key_bits,
        block_size,
        block_mac_bytes: mac_bytes,
        block_mac_rand_bytes: 0,
        unique_iv: true,
        ..Preset::Standard.params()
    };
    Volume::generate(params, fixed_fill).expect("valid benchmark parameters")
}

/// No random bytes in a MAC header (`block_mac_rand_bytes` is 0).
fn no_rand(_block: u64, _out: &mut [u8]) {}

fn content(c: &mut Criterion) {
    for key_bits in [128u32, 256] {
        for block_size in [1024u32, 4096] {
            for mac in [0u32, 8] {
                let id = format!("aes{key_bits}/bs{block_size}/mac{mac}");
                let vol = volume(key_bits, block_size, mac);
                let layout = *vol.layout();
                let blocks = BUF_LEN / layout.block_size();
                let plain_len = blocks * layout.data_per_block();
                assert_eq!(layout.blocks_cipher_len(plain_len as u64), BUF_LEN as u64);
                let plain = plaintext(plain_len);

                let mut cipher = vec![0u8; BUF_LEN];
                cipher[..plain_len].copy_from_slice(&plain);
                let codec = vol.file_codec(FILE_IV);
                codec
                    .encrypt_in_place(0, &mut cipher, plain_len, &no_rand)
                    .expect("encrypt");
                let mut check = cipher.clone();
                let n = codec.decrypt_in_place(0, &mut check).expect("decrypt");
                assert_eq!(&check[..n], &plain[..], "round trip {id}");

                let mut g = c.benchmark_group("encrypt");
                g.throughput(Throughput::Bytes(plain_len as u64));
                // Encryption cost does not depend on the bytes, so the
                // buffer is re-encrypted in place without a fresh copy.
                let mut buf = cipher.clone();
                g.bench_function(&id, |b| {
                    b.iter(|| {
                        codec
                            .encrypt_in_place(0, black_box(&mut buf), plain_len, &no_rand)
                            .expect("encrypt")
                    })
                });
                g.finish();

                let mut g = c.benchmark_group("decrypt");
                g.throughput(Throughput::Bytes(plain_len as u64));
                // Decryption must see real ciphertext (MACs are checked), so
                // each iteration gets a fresh copy; the copy is not timed.
                g.bench_function(&id, |b| {
                    b.iter_batched_ref(
                        || cipher.clone(),
                        |buf| codec.decrypt_in_place(0, black_box(buf)).expect("decrypt"),
                        BatchSize::LargeInput,
                    )
                });
                g.finish();
            }
        }
    }
}

fn names(c: &mut Criterion) {
    let mut g = c.benchmark_group("names");
    g.throughput(Throughput::Elements(1));
    for chained in [false, true] {
        let params = Params {
            chained_name_iv: chained,
            ..Preset::Hardened.params()
        };
        let vol = Volume::generate(params, fixed_fill).expect("valid parameters");
        let kind = if chained { "chained" } else { "unchained" };
        // A non-zero parent chain value, as for a name below the root.
        let dir_iv = if chained { 0x1122_3344_5566_7788 } else { 0 };
        let (encoded, _) = vol.encode_name(NAME, dir_iv);
        assert_eq!(vol.decode_name(&encoded, dir_iv).expect("decode").0, NAME);

        g.bench_function(format!("encode/block/{kind}"), |b| {
            b.iter(|| vol.encode_name(black_box(NAME), black_box(dir_iv)))
        });
        g.bench_function(format!("decode/block/{kind}"), |b| {
            b.iter(|| {
                vol.decode_name(black_box(&encoded), black_box(dir_iv))
                    .expect("decode")
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // Shorter than criterion's defaults (3 s + 5 s, 100 samples): 24
    // benchmarks then take about two minutes. Command-line flags override.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = content, names
}
criterion_main!(benches);
