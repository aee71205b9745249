use super::*;

fn layout(b: u32, m: u32, r: u32, unique: bool) -> Layout {
    Layout::new(b, m, r, unique, true, false).unwrap()
}

// format §7.4 examples from the vectors
#[test]
fn sizes_match_format_examples() {
    let std_unique = layout(1024, 0, 0, true);
    assert_eq!(std_unique.cipher_size(PlainSize(1025)), CipherSize(1033));
    let paranoia = layout(1024, 8, 0, true);
    assert_eq!(paranoia.cipher_size(PlainSize(1016)), CipherSize(1032));
    assert_eq!(paranoia.cipher_size(PlainSize(1017)), CipherSize(1041));
    let small = layout(512, 8, 0, true);
    assert_eq!(small.cipher_size(PlainSize(70000)), CipherSize(71120));
    assert_eq!(std_unique.cipher_size(PlainSize(0)), CipherSize(0));
}

#[test]
fn plain_size_inverts_cipher_size() {
    for l in [
        layout(1024, 0, 0, false),
        layout(1024, 8, 0, true),
        layout(512, 8, 4, true),
        layout(64, 8, 8, true),
        layout(4096, 0, 0, true),
    ] {
        for p in (0..5000u64).chain([65535, 65536, 1 << 20, (1 << 20) + 1]) {
            let c = l.cipher_size(PlainSize(p));
            assert_eq!(l.plain_size(c).unwrap(), PlainSize(p), "{l:?} {p}");
        }
    }
}

#[test]
fn forward_quirks_of_raw_sizes() {
    let l = layout(1024, 8, 0, true);
    // an emptied file keeps its 8-byte header (format §7.1)
    assert_eq!(l.plain_size(CipherSize(8)).unwrap(), PlainSize(0));
    assert!(l.plain_size(CipherSize(5)).is_err());
    // a final block of H bytes or fewer carries no data
    assert_eq!(
        l.plain_size(CipherSize(8 + 1024 + 8)).unwrap(),
        PlainSize(1016)
    );
    assert_eq!(
        l.plain_size(CipherSize(8 + 1024 + 3)).unwrap(),
        PlainSize(1016)
    );
}

#[test]
fn read_plan_covers_header_and_blocks() {
    let l = layout(1024, 8, 0, true);
    let p = PlainSize(3000); // 3 blocks: 1016, 1016, 968 -> raw 8 + 3000 + 24
    assert_eq!(l.cipher_size(p), CipherSize(3032));
    let plan = l.plan_read(CipherOff(0), 4096, p);
    assert_eq!(plan.header, 0..8);
    assert_eq!(plan.blocks, 0..3);
    assert_eq!(plan.plain, 0..3000);
    assert_eq!((plan.skip, plan.len), (0, 3032));

    let plan = l.plan_read(CipherOff(5), 10, p);
    assert_eq!(
        (plan.header, plan.blocks.clone(), plan.skip, plan.len),
        (5..8, 0..1, 0, 10)
    );

    let plan = l.plan_read(CipherOff(8 + 1024 + 100), 1024, p);
    assert_eq!(plan.header, 0..0);
    assert_eq!(plan.blocks, 1..3);
    assert_eq!(plan.plain, 1016..3000);
    assert_eq!(plan.skip, 100);

    assert_eq!(l.plan_read(CipherOff(3032), 10, p).len, 0);
    assert_eq!(l.plan_read(CipherOff(u64::MAX), 10, p).len, 0);
}

#[test]
fn spread_places_data_after_each_mac_header() {
    let l = layout(64, 8, 0, false);
    let plain: Vec<u8> = (1..=120u8).collect(); // D = 56: blocks of 56, 56, 8
    let mut buf = vec![0u8; l.blocks_cipher_len(120) as usize];
    assert_eq!(buf.len(), 120 + 3 * 8);
    buf[..120].copy_from_slice(&plain);
    spread_blocks(&mut buf, 120, &l);
    assert_eq!(&buf[8..64], &plain[..56]);
    assert_eq!(&buf[72..128], &plain[56..112]);
    assert_eq!(&buf[136..144], &plain[112..]);
}

#[test]
fn layout_rejects_bad_parameters() {
    assert!(Layout::new(1000, 0, 0, false, true, false).is_err());
    assert!(Layout::new(32, 0, 0, false, true, false).is_err());
    assert!(Layout::new(8192, 0, 0, false, true, false).is_err());
    assert!(Layout::new(1024, 9, 0, false, true, false).is_err());
}
