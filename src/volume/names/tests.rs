use super::*;
use crate::volume::tests::kat_volume;

#[test]
fn base64_and_base32_match_format_kat() {
    assert_eq!(base64_encode(&[0, 1, 2, 0xff]), b",2U,z1");
    assert_eq!(base32_encode(&[0, 1, 2, 0xff]), b"AIAEQ7D");
    assert_eq!(base64_decode(b",2U,z1").unwrap(), [0, 1, 2, 0xff]);
    assert_eq!(base32_decode(b"aiaeq7d").unwrap(), [0, 1, 2, 0xff]);
    assert_eq!(base64_decode(b"a/b"), None);
    assert_eq!(base32_decode(b"AI1"), None);
}

#[test]
fn base64_round_trips_all_lengths() {
    for n in 0..70usize {
        let data: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
        let enc = base64_encode(&data);
        assert_eq!(enc.len(), (8 * n).div_ceil(6));
        assert_eq!(base64_decode(&enc).unwrap(), data);
        assert_eq!(base32_decode(&base32_encode(&data)).unwrap(), data);
    }
}

// format §13: chained nameio/block, with the final chain value.
const CHAINED: &[(&str, &str, u64)] = &[
    ("a", "stg22BghFHwouryGPuYLgNwh", 0x7109a4fe485ce565),
    ("hello.txt", "1,8fq7E1GRVaK3GrJgsZSYnX", 0x2013826a0adfab06),
    ("dir", "m,ugBgnCkbzCUpx-ud3nwzIF", 0xdb7f3fccbb286d3b),
    (
        "dir/hello.txt",
        "m,ugBgnCkbzCUpx-ud3nwzIF/Fh4X03GkZjsE-8XMXR3-j,jA",
        0xf23878a6ec1637e3,
    ),
    (
        "dir/sub/hello.txt",
        "m,ugBgnCkbzCUpx-ud3nwzIF/jeX6TxK3VoK6T-4t8CVSsWr9/Zsq3lWzJw,HY,Qq1DWE-,Nmn",
        0x76a94526b71ba1fa,
    ),
];

#[test]
fn chained_block_names_match_format_kat() {
    let v = kat_volume(true, NameCodec::Block);
    for &(plain, cipher, chain) in CHAINED {
        assert_eq!(
            v.encode_path(plain.as_bytes()),
            (cipher.as_bytes().to_vec(), chain),
            "{plain}"
        );
        assert_eq!(
            v.decode_path(cipher.as_bytes()).unwrap(),
            (plain.as_bytes().to_vec(), chain)
        );
    }
}

#[test]
fn unchained_codecs_match_format_kat() {
    for (codec, want) in [
        (NameCodec::Block, "IFbUluXtYy3e1wPs81IPsM5m"),
        (NameCodec::Stream, "BB7CPuruK71fUN0"),
        (NameCodec::Block32, "UC5EYY2HGHJ7FUOA7NYVMAVNYR5QM"),
        (NameCodec::Null, "hello.txt"),
    ] {
        let v = kat_volume(false, codec);
        assert_eq!(
            v.encode_name(b"hello.txt", 0).0,
            want.as_bytes(),
            "{codec:?}"
        );
        assert_eq!(v.decode_name(want.as_bytes(), 0).unwrap().0, b"hello.txt");
    }
}

#[test]
fn dot_names_pass_and_odd_bytes_round_trip() {
    let v = kat_volume(true, NameCodec::Block);
    let (enc, _) = v.encode_path(b"./a/../\xff\xfe name");
    assert!(enc.starts_with(b"./"));
    assert_eq!(v.decode_path(&enc).unwrap().0, b"./a/../\xff\xfe name");
}

#[test]
fn link_targets_follow_format_6_8() {
    let v = kat_volume(true, NameCodec::Block);
    let abs = v.encode_link(b"/etc/hostname");
    assert_eq!(abs[0], b'+');
    // Absolute targets are one unchained name, slashes included.
    let unchained = kat_volume(false, NameCodec::Block);
    assert_eq!(&abs[1..], &unchained.encode_name(b"etc/hostname", 0).0[..]);
    assert_eq!(v.decode_link(&abs).unwrap(), b"/etc/hostname");
    // Relative ones are recoded from the root, whatever the link's place.
    let rel = v.encode_link(b"dir/hello.txt");
    assert_eq!(rel, CHAINED[3].1.as_bytes());
    assert!(v.decode_link(b"../x").is_err());
    assert_eq!(v.decode_link(b"../").unwrap(), b"..");
}

#[test]
fn tampered_names_are_rejected() {
    let v = kat_volume(false, NameCodec::Block);
    let good = b"IFbUluXtYy3e1wPs81IPsM5m";
    for i in 0..good.len() {
        let mut bad = good.to_vec();
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        assert!(v.decode_name(&bad, 0).is_err(), "position {i}");
    }
    assert!(v.decode_name(b"", 0).is_err());
    assert!(v.decode_name(b"abc", 0).is_err());
    assert!(v.decode_name(b"bad/char", 0).is_err());
}

#[test]
fn max_name_lengths_match_format_6_6() {
    let s = |codec| NameScheme {
        codec,
        major: codec.current_version().0,
        chained: false,
    };
    assert_eq!(s(NameCodec::Block).max_plain_name_len(), 175);
    assert_eq!(s(NameCodec::Block32).max_plain_name_len(), 143);
    assert_eq!(s(NameCodec::Stream).max_plain_name_len(), 189);
    assert_eq!(s(NameCodec::Null).max_plain_name_len(), 255);
    let v = kat_volume(false, NameCodec::Block);
    assert_eq!(v.encode_name(&[b'x'; 175], 0).0.len(), 238);
    assert_eq!(v.encode_name(&[b'x'; 176], 0).0.len(), 259);
}

#[test]
fn old_interface_versions_decode_their_own_output() {
    for (codec, major) in [
        (NameCodec::Block, 2),
        (NameCodec::Stream, 1),
        (NameCodec::Stream, 0),
    ] {
        let s = NameScheme {
            codec,
            major,
            chained: true,
        };
        let v = kat_volume(true, codec);
        let mut iv = 5;
        let enc = s.encode(v.cipher(), b"name", &mut iv);
        let mut iv2 = 5;
        assert_eq!(s.decode(v.cipher(), &enc, &mut iv2).unwrap(), b"name");
        assert_eq!(iv, iv2);
    }
}

#[test]
fn stream_version_0_keeps_the_checksum_last() {
    let v = kat_volume(false, NameCodec::Stream);
    let [v0, v2] = [0, 2].map(|major| NameScheme {
        codec: NameCodec::Stream,
        major,
        chained: false,
    });
    let old = base64_decode(&v0.encode(v.cipher(), b"name", &mut 0)).unwrap();
    let new = base64_decode(&v2.encode(v.cipher(), b"name", &mut 0)).unwrap();
    assert_eq!(old[4..], new[..2], "the checksum moves to the end");
    assert_eq!(old[..4], new[2..], "the encrypted name is the same");
}

#[test]
fn names_decoding_to_dot_entries_are_rejected() {
    for codec in [NameCodec::Block, NameCodec::Stream, NameCodec::Block32] {
        let v = kat_volume(false, codec);
        for dots in [&b"."[..], b".."] {
            let (enc, _) = v.encode_name(dots, 0);
            assert!(v.decode_name(&enc, 0).is_err(), "{codec:?} {dots:?}");
        }
    }
}

#[test]
fn long_names_are_keyed_distinct_and_fit() {
    for codec in [NameCodec::Block, NameCodec::Block32, NameCodec::Stream] {
        let vol = kat_volume(true, codec);
        let max = vol.max_plain_name_len();
        assert!(vol.long_name(&vec![b'a'; max]).is_none());
        // Two long names sharing their first 200 bytes stay distinct.
        let a = [vec![b'a'; 200], b"-one".to_vec()].concat();
        let b = [vec![b'a'; 200], b"-two".to_vec()].concat();
        let (la, lb) = (vol.long_name(&a).unwrap(), vol.long_name(&b).unwrap());
        assert_ne!(la.short, lb.short, "{codec:?}");
        for l in [&la, &lb] {
            assert!(vol.name_fits(l.short.len()) && vol.name_fits(l.side.len()));
            assert!(vol.encode_name(&l.side, 0).0.len() <= NAME_MAX);
        }
        assert!(vol.is_short_name_of(&la.short, &a));
        assert!(!vol.is_short_name_of(&la.short, &b));
        // Stable: the same name gives the same short name.
        assert_eq!(vol.long_name(&a).unwrap(), la);
    }
}

#[test]
fn long_name_tag_is_pinned() {
    // HMAC-SHA256(key of kat_volume, "encmount long-name v1\0" || 200 x 'a')[..10]
    // in EncFS base32; pinned so a change of the derivation is noticed.
    let vol = kat_volume(true, NameCodec::Block);
    let l = vol.long_name(&[b'a'; 200]).unwrap();
    let tag = &l.short[l.short.len() - long::TAG_CHARS..];
    assert_eq!(std::str::from_utf8(tag).unwrap(), PINNED_LONG_TAG);
}

const PINNED_LONG_TAG: &str = "SK33U44GFJGLWPTC";
