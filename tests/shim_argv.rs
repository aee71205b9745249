//! The golden corpus of encmount-rsync command lines (tests/shim/argv/):
//! every accepted line parses, keeps the protocol bytes after the
//! protected-args terminator unread, and becomes the expected rsync argv;
//! every refused line is refused for the expected reason.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use encmount::shim::{self, Refusal, paths};

/// rsync's protocol version, right after the terminator (anchors §C1).
const PROTOCOL: &[u8] = b"\x1f\0\0\0";

struct Case {
    line: usize,
    accept: bool,
    reason: String,
    argv: Vec<Vec<u8>>,
    stdin: Option<Vec<u8>>,
    becomes: Option<Vec<Vec<u8>>>,
}

fn corpus(name: &str) -> Vec<Case> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/shim/argv")
        .join(name);
    let text = std::fs::read_to_string(&file).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            assert!(f.len() >= 3, "{name}:{}: too few fields", i + 1);
            Case {
                line: i + 1,
                accept: match f[0] {
                    "accept" => true,
                    "refuse" => false,
                    v => panic!("{name}:{}: verdict {v:?}", i + 1),
                },
                reason: f[1].to_string(),
                argv: words(f[2]),
                stdin: f.get(3).filter(|s| **s != "-").map(|s| stdin(s)),
                becomes: f.get(4).map(|s| words(s)),
            }
        })
        .collect()
}

/// `\xHH` escapes decoded.
fn bytes(w: &str) -> Vec<u8> {
    let b = w.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"\\x") {
            out.push(u8::from_str_radix(&w[i + 2..i + 4], 16).unwrap());
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn words(s: &str) -> Vec<Vec<u8>> {
    s.split(' ').filter(|w| !w.is_empty()).map(bytes).collect()
}

fn stdin(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut terminated = true;
    for w in s.split(' ').filter(|w| !w.is_empty()) {
        if w == "<noterm>" {
            terminated = false;
        } else if let Some(n) = w.strip_prefix("<big:").and_then(|n| n.strip_suffix('>')) {
            out.extend(std::iter::repeat_n(b'a', n.parse().unwrap()));
            out.push(0);
        } else if let Some(n) = w.strip_prefix("<many:").and_then(|n| n.strip_suffix('>')) {
            for _ in 0..n.parse::<usize>().unwrap() {
                out.extend_from_slice(b"--numeric-ids\0");
            }
        } else {
            out.extend(bytes(w));
            out.push(0);
        }
    }
    if terminated {
        out.push(0);
        out.extend_from_slice(PROTOCOL);
    }
    out
}

fn mounts() -> Vec<PathBuf> {
    vec!["/srv/encmount/docs".into(), "/srv/encmount/mail".into()]
}

/// The whole text-level decision: parse, then the paths against the views.
fn decide(c: &Case, input: &mut impl Read) -> Result<shim::argv::Request, Refusal> {
    let req = shim::parse(&c.argv, input)?;
    let m = mounts();
    let m: Vec<&Path> = m.iter().map(PathBuf::as_path).collect();
    paths::mount_index(&req.paths, &m)?;
    Ok(req)
}

#[test]
fn accepted_lines_are_accepted_unchanged() {
    let cases = corpus("accepted.txt");
    assert!(cases.len() >= 10);
    for c in &cases {
        assert!(c.accept, "accepted.txt:{} is not an accept line", c.line);
        let mut input = Cursor::new(c.stdin.clone().unwrap_or_default());
        let req = decide(c, &mut input)
            .unwrap_or_else(|e| panic!("accepted.txt:{}: refused: {}", c.line, e.0));
        if c.stdin.is_some() {
            let mut rest = Vec::new();
            input.read_to_end(&mut rest).unwrap();
            assert_eq!(
                rest, PROTOCOL,
                "accepted.txt:{}: protocol bytes consumed",
                c.line
            );
        }
        let out = req.rsync_args(&[]);
        let letters = out[2].split(|&b| b == b'e').next().unwrap();
        assert!(!letters.contains(&b's'), "accepted.txt:{}: s kept", c.line);
        if let Some(b) = &c.becomes {
            assert_eq!(
                &out,
                b,
                "accepted.txt:{}: rsync would get {:?}",
                c.line,
                out.iter()
                    .map(|a| String::from_utf8_lossy(a))
                    .collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn refused_lines_are_refused_for_their_reason() {
    let cases = corpus("refused.txt");
    assert!(
        cases.len() >= 40,
        "the corpus needs at least 40 hostile lines"
    );
    for c in &cases {
        assert!(!c.accept, "refused.txt:{} is not a refuse line", c.line);
        let mut input = Cursor::new(c.stdin.clone().unwrap_or_default());
        match decide(c, &mut input) {
            Ok(r) => panic!("refused.txt:{}: accepted as {:?}", c.line, r),
            Err(Refusal(why)) => assert!(
                why.contains(&c.reason),
                "refused.txt:{}: refused for {why:?}, expected {:?}",
                c.line,
                c.reason
            ),
        }
    }
}

#[test]
fn protected_args_never_read_past_the_terminator() {
    // A reader that fails the test if asked for more than one byte at a
    // time or for anything after the terminator.
    struct Strict<'a>(&'a [u8], usize);
    impl Read for Strict<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            assert!(
                self.1 < self.0.len() - PROTOCOL.len(),
                "read past the terminator"
            );
            buf[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }
    let data = stdin("rsync --numeric-ids . /srv/encmount/docs/");
    let args = words("--server --sender -slogDtpre.iLsfxC");
    let mut r = Strict(&data, 0);
    let req = shim::parse(&args, &mut r).unwrap();
    assert_eq!(r.1, data.len() - PROTOCOL.len());
    assert_eq!(req.paths, vec![b"/srv/encmount/docs/".to_vec()]);
}
