//! The encmount-rsync parser on arbitrary input: the bytes up to the first
//! 0xff are sudo's argv (split at NUL), the rest is stdin. It must never
//! panic, never read stdin past the protected-args terminator, and what it
//! accepts must hold only allowed pieces.
#![no_main]

use std::io::{Cursor, Read};

use encmount::shim::{self, paths};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (argv, stdin) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let mut args: Vec<Vec<u8>> = argv.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
    if args.len() < 3 {
        // Most inputs would stop at the prefix: give them the right one.
        let mut a = vec![b"--server".to_vec(), b"--sender".to_vec()];
        a.append(&mut args);
        args = a;
    }
    let mut input = Cursor::new(stdin);
    let Ok(req) = shim::parse(&args, &mut input) else {
        return;
    };
    if req.protected {
        // Consumed exactly up to and including the empty terminator.
        let used = input.position() as usize;
        assert!(used >= 1 && stdin[used - 1] == 0);
        assert!(used == 1 || stdin[used - 2] == 0);
    }
    let mut rest = Vec::new();
    let _ = input.read_to_end(&mut rest);
    let out = req.rsync_args(&[]);
    assert_eq!(&out[..2], &[b"--server".to_vec(), b"--sender".to_vec()]);
    let letters = out[2].split(|&b| b == b'e').next().unwrap_or_default();
    assert!(!letters.contains(&b's'));
    for p in &req.paths {
        if paths::check_syntax(p).is_ok() {
            assert!(p.starts_with(b"/") && !p.windows(4).any(|w| w == b"/../"));
        }
    }
});
