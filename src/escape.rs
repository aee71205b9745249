//! Names made safe to print one per line (design §5, `decode`): a name
//! may hold a newline, an escape sequence or bytes that are not UTF-8.
//! The escapes are unambiguous: `\\` is a backslash, `\n`, `\r`, `\t` and
//! `\xNN` (a control character or a byte that is not UTF-8) stand for what
//! they say; everything else is printed as it is.
#![forbid(unsafe_code)]

/// `name` with control characters, backslashes and non-UTF-8 bytes escaped.
pub fn escape_name(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                // C0, DEL and C1 (U+0080..U+009F, which some terminals
                // take as CSI and friends): as their UTF-8 bytes.
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        hex(&mut out, b);
                    }
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for &b in chunk.invalid() {
            hex(&mut out, b);
        }
    }
    out
}

fn hex(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(b: &[u8]) -> String {
        String::from_utf8(escape_name(b)).unwrap()
    }

    #[test]
    fn plain_names_are_unchanged() {
        assert_eq!(esc(b"docs/report 2024.pdf"), "docs/report 2024.pdf");
        assert_eq!(esc("ünïcode €".as_bytes()), "ünïcode €");
    }

    #[test]
    fn controls_and_backslash_are_escaped() {
        assert_eq!(esc(b"a\nb"), "a\\nb");
        assert_eq!(esc(b"a\r\tb"), "a\\r\\tb");
        assert_eq!(esc(b"\x1b[2Kx"), "\\x1b[2Kx");
        assert_eq!(esc(b"del\x7f"), "del\\x7f");
        assert_eq!(esc("c1\u{9b}".as_bytes()), "c1\\xc2\\x9b");
        assert_eq!(esc(b"back\\slash"), "back\\\\slash");
    }

    #[test]
    fn non_utf8_bytes_are_escaped_and_output_is_utf8() {
        assert_eq!(esc(b"caf\xe9"), "caf\\xe9");
        assert_eq!(esc(b"\xff\xfeok"), "\\xff\\xfeok");
    }

    #[test]
    fn escaping_is_unambiguous() {
        // A literal "\n" (two characters) and a newline differ.
        assert_ne!(escape_name(b"\\n"), escape_name(b"\n"));
        assert_ne!(escape_name(b"\\xe9"), escape_name(b"\xe9"));
    }
}
