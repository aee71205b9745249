use super::*;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors");

fn vector_xmls() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(VECTORS)
        .expect("the shared vectors sit beside the repository")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("encfs6.xml").exists())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(p.join("encfs6.xml")).unwrap())
        })
        .collect();
    out.sort();
    assert_eq!(out.len(), 7);
    out
}

#[test]
fn every_vector_config_is_rewritten_byte_for_byte() {
    for (name, xml) in vector_xmls() {
        let cfg = Config::parse(&xml, ConfigFormat::V6).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(cfg.to_xml().as_bytes(), &xml[..], "{name}");
    }
}

#[test]
fn vector_parameters_are_read() {
    let xmls = vector_xmls();
    let e = Config::parse(&xmls[4].1, ConfigFormat::V6).unwrap();
    assert_eq!(xmls[4].0, "e-forward-paranoia");
    assert_eq!(e.params.key_bits, 256);
    assert!(e.params.external_iv_chaining && e.params.chained_name_iv && e.params.unique_iv);
    assert_eq!(e.params.block_mac_bytes, 8);
    assert!(matches!(
        e.kdf,
        Kdf::Pbkdf2 {
            iterations: 1000,
            desired_ms: 3000,
            ..
        }
    ));
}

fn edit(xml: &str, from: &str, to: &str) -> Vec<u8> {
    assert!(xml.contains(from), "{from}");
    xml.replacen(from, to, 1).into_bytes()
}

#[test]
fn bad_configs_give_clear_errors() {
    let xml = String::from_utf8(vector_xmls().remove(0).1).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "<keySize>192</keySize>",
            "<keySize> 192 </keySize>",
            "not a number",
        ),
        ("<keySize>192</keySize>", "", "no <keySize>"),
        (
            "<keySize>192</keySize>",
            "<keySize>100</keySize>",
            "key size",
        ),
        (
            "<blockSize>1024</blockSize>",
            "<blockSize>1000</blockSize>",
            "block size",
        ),
        (
            "<name>ssl/aes</name>",
            "<name>ssl/blowfish</name>",
            "AES volumes only",
        ),
        (
            "<name>nameio/block</name>",
            "<name>nameio/rot13</name>",
            "name codec",
        ),
        (
            "<version>20100713</version>",
            "<version>20200101</version>",
            "config version",
        ),
        (
            "<version>20100713</version>",
            "<version>1</version>",
            "config version",
        ),
        (
            "<encodedKeySize>44</encodedKeySize>",
            "<encodedKeySize>45</encodedKeySize>",
            "encodedKeySize",
        ),
        ("</boost_serialization>", "", "XML"),
        (
            "<blockMACBytes>0</blockMACBytes>",
            "<blockMACBytes>9</blockMACBytes>",
            "blockMACBytes",
        ),
    ];
    for (from, to, want) in cases {
        let err = Config::parse(&edit(&xml, from, to), ConfigFormat::V6)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{from} -> {to}: {err}");
    }
    let renamed = xml.replace("<cfg ", "<cfx ").replace("</cfg>", "</cfx>");
    let err = Config::parse(renamed.as_bytes(), ConfigFormat::V6).unwrap_err();
    assert!(err.to_string().contains("no <cfg>"), "{err}");
    for n in [0, 10, 100, xml.len() / 2, xml.len() - 30] {
        assert!(
            Config::parse(&xml.as_bytes()[..n], ConfigFormat::V6).is_err(),
            "truncated at {n}"
        );
    }
    assert!(Config::parse(&[0xff, 0xfe, 0], ConfigFormat::V6).is_err());
    assert!(Config::parse(&vec![b' '; MAX_CONFIG_LEN + 1], ConfigFormat::V6).is_err());
}

#[test]
fn old_numbering_and_attribute_version_are_understood() {
    let xml = String::from_utf8(vector_xmls().remove(0).1).unwrap();
    let no_version = edit(&xml, "        <version>20100713</version>\n", "");
    assert_eq!(
        Config::parse(&no_version, ConfigFormat::V6)
            .unwrap()
            .sub_version,
        V6_SUB_VERSION
    );
    let old = edit(
        &xml,
        "<version>20100713</version>",
        "<version>20080813</version>",
    );
    assert_eq!(
        Config::parse(&old, ConfigFormat::V6).unwrap().kdf,
        Kdf::Legacy
    );
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut groups = vec![(v & 0x7f) as u8];
    v >>= 7;
    while v > 0 {
        groups.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    groups.reverse();
    groups
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut out = varint(s.len() as u64);
    out.extend_from_slice(s);
    out
}

fn binary_config(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = varint(entries.len() as u64);
    for (k, v) in entries {
        out.extend(string(k.as_bytes()));
        out.extend(string(v));
    }
    out
}

fn iface(name: &str, cur: u64, rev: u64) -> Vec<u8> {
    let mut v = string(name.as_bytes());
    v.extend(varint(cur));
    v.extend(varint(rev));
    v.extend(varint(0));
    v
}

#[test]
fn v5_and_v4_binary_configs_parse() {
    let key = vec![0xab; 4 + 24 + 16];
    let v5 = binary_config(&[
        ("creator", string(b"EncFS 1.1")),
        ("subVersion", varint(20040813)),
        ("cipher", iface("ssl/aes", 2, 1)),
        ("naming", iface("nameio/block", 3, 0)),
        ("keySize", varint(192)),
        ("blockSize", varint(512)),
        ("keyData", string(&key)),
        ("uniqueIV", varint(1)),
        ("chainedIV", varint(1)),
        ("externalIV", varint(0)),
        ("blockMACBytes", varint(8)),
        ("blockMACRandBytes", varint(0)),
    ]);
    let c = Config::parse(&v5, ConfigFormat::V5).unwrap();
    assert_eq!(c.creator, "EncFS 1.1");
    assert_eq!((c.params.block_size, c.params.cipher_version.0), (512, 2));
    assert!(c.params.unique_iv && c.params.chained_name_iv && !c.params.allow_holes);
    assert_eq!(c.encoded_key, key);
    assert_eq!(c.kdf, Kdf::Legacy);

    let v4 = binary_config(&[
        ("cipher", iface("ssl/aes", 1, 0)),
        ("keySize", varint(128)),
        ("blockSize", varint(1024)),
        ("keyData", string(&[1; 36])),
    ]);
    let c = Config::parse(&v4, ConfigFormat::V4).unwrap();
    assert_eq!(c.params.name_codec, NameCodec::Stream);
    assert_eq!(c.params.name_version, (1, 0));

    for n in 0..v5.len() {
        let _ = Config::parse(&v5[..n], ConfigFormat::V5);
    }
    assert!(Config::parse(&[0xff; 20], ConfigFormat::V5).is_err());
}

#[test]
fn presets_are_as_designed() {
    let h = Preset::Hardened.params();
    assert_eq!((h.key_bits, h.block_mac_bytes), (256, 8));
    assert!(h.chained_name_iv && h.unique_iv && !h.external_iv_chaining);
    let s = Preset::Standard.params();
    assert!(s.stock_reverse_compatible());
    assert_eq!(s.key_bits, 192);
    assert!(Preset::Paranoia.params().external_iv_chaining);
    for p in [h, s, Preset::Paranoia.params()] {
        p.validate().unwrap();
    }
}

#[test]
fn control_characters_in_creator_still_give_parseable_xml() {
    // found by fuzzing: a V5 creator with NUL and other controls
    let mut cfg = Config::parse(&vector_xmls().remove(0).1, ConfigFormat::V6).unwrap();
    cfg.creator = "EncFS\u{0}1.1 <&>\u{7}".into();
    let back = Config::parse(cfg.to_xml().as_bytes(), ConfigFormat::V6).unwrap();
    assert_eq!(back.creator, "EncFS\u{fffd}1.1 <&>\u{fffd}");
}
