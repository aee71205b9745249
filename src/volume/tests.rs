//! Known answers of format §13 on the whole `Volume`.

use super::*;
use sha2::{Digest, Sha256};

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The hand-built volume of format §13: standard forward parameters
/// (AES-192, B=1024, nameio/block 4:0, uniqueIV, chained names).
pub(crate) fn kat_params(chained: bool, codec: NameCodec) -> Params {
    Params {
        cipher_version: (3, 0),
        key_bits: 192,
        block_size: 1024,
        name_codec: codec,
        name_version: codec.current_version(),
        unique_iv: true,
        chained_name_iv: chained,
        external_iv_chaining: false,
        block_mac_bytes: 0,
        block_mac_rand_bytes: 0,
        allow_holes: true,
        plain_data: false,
    }
}

pub(crate) fn kat_volume(chained: bool, codec: NameCodec) -> Volume {
    let key = KeyMaterial::new_with(24, |b| {
        for (i, x) in b.iter_mut().enumerate() {
            *x = if i < 24 {
                i as u8
            } else {
                0x80 + (i - 24) as u8
            };
        }
    })
    .unwrap();
    Volume::from_key(kat_params(chained, codec), key).unwrap()
}

#[test]
fn unlock_with_kat_password_and_salt() {
    let salt: Vec<u8> = (1..=20).collect();
    let v = kat_volume(true, NameCodec::Block);
    let cfg = v
        .to_config(
            "EncFS 1.9.5",
            b"encfs-kat",
            Kdf::Pbkdf2 {
                salt,
                iterations: 1000,
                desired_ms: 500,
            },
        )
        .unwrap();
    assert_eq!(
        hex(&cfg.encoded_key),
        "4a704d16d4732a52bae342c9b69c9429c7aa850242c9ecacb0786ea34c921567c27aad7b39214e4b79ae3916"
    );
    assert!(
        cfg.to_xml()
            .contains("SnBNFtRzKlK640LJtpyUKceqhQJCyeyssHhuo0ySFWfCeq17OSFOS3muORY=")
    );
    let again = Volume::unlock(&cfg, b"encfs-kat").unwrap();
    assert_eq!(again.encode_name(b"a", 0), v.encode_name(b"a", 0));
    assert_eq!(
        Volume::unlock(&cfg, b"wrong").err(),
        Some(Error::WrongPassword)
    );
}

#[test]
fn kat_file_contents() {
    let v = kat_volume(true, NameCodec::Block);
    let mut plain = b"hello, world\n".to_vec();
    for _ in 0..5 {
        plain.extend(0..=255u8);
    }
    assert_eq!(plain.len(), 1293);
    let file_iv = 0x0102030405060708;
    let layout = *v.layout();
    assert_eq!(layout.cipher_size(PlainSize(1293)), CipherSize(1301));

    let mut raw = v.encode_header(file_iv, 0).to_vec();
    assert_eq!(hex(&raw), "fea492b91f359961");
    let mut body = plain.clone();
    let n = v
        .file_codec(file_iv)
        .encrypt_in_place(0, &mut body, plain.len(), &|_, _| {})
        .unwrap();
    raw.extend_from_slice(&body[..n]);
    assert_eq!(
        hex(&raw[8..40]),
        "fe31209bfa99da70890c192b305c718db174bf1afa81eca97d52d17b9e02b339"
    );
    assert_eq!(raw.len() - 8 - 1024, 269);
    assert_eq!(
        hex(&raw[8 + 1024..8 + 1024 + 32]),
        "9e6d63032c1592ee428830e58d05f652722aead8d9acfc5baae8a1f313566548"
    );
    assert_eq!(
        hex(&Sha256::digest(&raw)),
        "261d30e46a6a948d390178a42f7d14b0f3239189792cc65d757a48f8994bcb71"
    );

    // and back
    assert_eq!(v.decode_header(&raw[..8], 0).unwrap(), file_iv);
    let mut data = raw[8..].to_vec();
    let n = v
        .file_codec(file_iv)
        .decrypt_in_place(0, &mut data)
        .unwrap();
    assert_eq!(&data[..n], &plain[..]);
}

#[test]
fn kat_reverse_inode_header() {
    let v = kat_volume(false, NameCodec::Block);
    let iv = derive::file_iv_from_inode(12345);
    assert_eq!(iv, 0x3272c5fc66ef092f);
    assert_eq!(hex(&v.encode_header(iv, 0)), "20834277ac03ec27");
}

#[test]
fn generated_volume_round_trips_its_config() {
    let v = Volume::generate(Preset::Hardened.params(), |b| b.fill(7)).unwrap();
    let cfg = v
        .to_config(
            "encmount test",
            b"pw",
            Kdf::Pbkdf2 {
                salt: vec![9; 20],
                iterations: 1000,
                desired_ms: 1000,
            },
        )
        .unwrap();
    let parsed = Config::parse(cfg.to_xml().as_bytes(), ConfigFormat::V6).unwrap();
    assert_eq!(parsed, cfg);
    let back = Volume::unlock(&parsed, b"pw").unwrap();
    assert_eq!(back.encode_path(b"x/y"), v.encode_path(b"x/y"));
}

#[test]
fn reverse_encryption_with_mac_and_rand_is_deterministic_and_decodes() {
    let mut p = Preset::Hardened.params();
    p.block_mac_rand_bytes = 4;
    let v = Volume::generate(p, |b| b.fill(3)).unwrap();
    let plain: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let layout = *v.layout();
    let clen = layout.blocks_cipher_len(plain.len() as u64) as usize;
    let enc = || {
        let mut buf = vec![0u8; clen];
        buf[..plain.len()].copy_from_slice(&plain);
        let n = v
            .reverse_encrypt_in_place(42, 0, &mut buf, plain.len())
            .unwrap();
        assert_eq!(n, clen);
        buf
    };
    let a = enc();
    assert_eq!(a, enc());
    let mut d = a.clone();
    let n = v.file_codec(42).decrypt_in_place(0, &mut d).unwrap();
    assert_eq!(&d[..n], &plain[..]);
    // a flipped byte is a MAC failure, never wrong data
    let mut bad = a.clone();
    bad[1030] ^= 1;
    assert_eq!(
        v.file_codec(42).decrypt_in_place(0, &mut bad),
        Err(Error::MacMismatch { block: 1 })
    );
}

#[test]
fn planned_forward_reads_give_every_plaintext_slice() {
    let mut p = Preset::Hardened.params();
    p.block_size = 64;
    for (mac, unique) in [(8, true), (0, false), (0, true)] {
        p.block_mac_bytes = mac;
        p.unique_iv = unique;
        let v = Volume::generate(p.clone(), |b| b.fill(5)).unwrap();
        let layout = *v.layout();
        for size in [0usize, 1, 55, 56, 57, 64, 65, 300] {
            let plain: Vec<u8> = (0..size as u32).map(|i| (i * 7 % 253) as u8).collect();
            let mut raw = vec![0u8; layout.cipher_size(PlainSize(size as u64)).0 as usize];
            let hdr = layout.header_len(CipherSize(raw.len() as u64)) as usize;
            raw[..hdr].copy_from_slice(&v.encode_header(9, 0)[..hdr]);
            raw[hdr..hdr + size].copy_from_slice(&plain);
            let iv = if unique { 9 } else { 0 };
            v.reverse_encrypt_in_place(iv, 0, &mut raw[hdr..], size)
                .unwrap();
            for off in [0usize, 1, 55, 56, 57, 63, 64, 200, 299, 300, 400] {
                for len in [0usize, 1, 8, 56, 64, 1000] {
                    let plan = layout
                        .plan_decrypt(PlainOff(off as u64), len, CipherSize(raw.len() as u64))
                        .unwrap();
                    let want = &plain[off.min(size)..(off + len).min(size)];
                    assert_eq!(plan.len, want.len(), "mac {mac} size {size} {off}+{len}");
                    if plan.len == 0 {
                        continue;
                    }
                    let mut buf = raw[plan.raw.start as usize..plan.raw.end as usize].to_vec();
                    let n = v
                        .file_codec(iv)
                        .decrypt_in_place(plan.first_block, &mut buf)
                        .unwrap();
                    assert!(n >= plan.skip + plan.len);
                    assert_eq!(&buf[plan.skip..plan.skip + plan.len], want);
                }
            }
        }
    }
    let l = Layout::new(1024, 8, 0, true, true, false).unwrap();
    assert!(l.plan_decrypt(PlainOff(0), 10, CipherSize(5)).is_err());
    assert_eq!(
        l.plan_decrypt(PlainOff(0), 10, CipherSize(8)).unwrap().len,
        0
    );
}
