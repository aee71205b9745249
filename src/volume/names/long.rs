//! Names too long for EncFS (design §4, "Long names"): a plaintext name
//! whose encrypted form would pass [`NAME_MAX`] is shown under a
//! shortened name, with its full name in a side entry beside it.
//!
//! For a long name `P` the view shows `S = PREFIX~TAG`: `PREFIX` is the
//! longest start of `P` (not cutting a UTF-8 sequence) that lets the side
//! entry's name fit, and `TAG` is the EncFS base32 of 10 bytes of
//! `HMAC-SHA256(volume key, "encmount long-name v1" || 0x00 || P)`: keyed,
//! so names do not leak through it, and unique for distinct `P` sharing a
//! prefix. The side entry `S.encmount-name` is a regular file holding `P`.
//! Both are ordinary EncFS entries: stock encfs shows them as they are,
//! encmount (`restore`, the forward view) puts `P` back.
//!
//! Pure functions; the caller passes the tag ([`Volume::long_name`]
//! computes it) and reads side entries.
//!
//! [`NAME_MAX`]: super::NAME_MAX
//! [`Volume::long_name`]: crate::volume::Volume::long_name

use std::collections::{HashMap, HashSet};

use super::base32_encode;

/// Bytes of HMAC in a tag.
pub const TAG_LEN: usize = 10;
/// Characters of a tag in EncFS base32 (80 bits, 5 per character).
pub const TAG_CHARS: usize = 16;
/// Between the prefix and the tag.
pub const TAG_SEPARATOR: u8 = b'~';
/// Appended to a short name to name its side entry.
pub const SIDE_SUFFIX: &[u8] = b".encmount-name";

/// How a long name is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LongName {
    /// The shortened name the entry is shown under.
    pub short: Vec<u8>,
    /// The name of the side entry holding the full name.
    pub side: Vec<u8>,
}

/// The longest prefix of a long name that is kept, for a volume whose
/// longest encryptable plaintext name is `max_plain` bytes.
pub fn prefix_budget(max_plain: usize) -> usize {
    max_plain.saturating_sub(SIDE_SUFFIX.len() + 1 + TAG_CHARS)
}

/// The short and side names of `full` with tag `tag`.
pub fn shorten(full: &[u8], tag: &[u8; TAG_LEN], max_plain: usize) -> LongName {
    let mut cut = prefix_budget(max_plain).min(full.len());
    // Do not split a UTF-8 sequence: back off over continuation bytes
    // (at most 3; a name that is not UTF-8 loses at most 3 bytes more).
    for _ in 0..3 {
        if cut > 0 && cut < full.len() && full[cut] & 0xC0 == 0x80 {
            cut -= 1;
        }
    }
    let mut short = Vec::with_capacity(cut + 1 + TAG_CHARS);
    short.extend_from_slice(&full[..cut]);
    short.push(TAG_SEPARATOR);
    short.extend_from_slice(&base32_encode(tag));
    LongName {
        side: side_of(&short),
        short,
    }
}

/// The side entry's name of short name `short`.
pub fn side_of(short: &[u8]) -> Vec<u8> {
    [short, SIDE_SUFFIX].concat()
}

/// Whether `name` has the form of a short name (`PREFIX~TAG`).
pub fn is_short(name: &[u8]) -> bool {
    name.len() > 1 + TAG_CHARS
        && name[name.len() - TAG_CHARS - 1] == TAG_SEPARATOR
        && name[name.len() - TAG_CHARS..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(c))
}

/// If `name` is a side entry's name, the short name it belongs to.
pub fn side_target(name: &[u8]) -> Option<&[u8]> {
    name.strip_suffix(SIDE_SUFFIX).filter(|s| is_short(s))
}

/// The long names of one directory, recovered from its side entries.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Short name -> full name.
    full: HashMap<Vec<u8>, Vec<u8>>,
    /// Side entries that did their job (hidden from restores and views).
    sides: HashSet<Vec<u8>>,
}

impl Resolution {
    /// The full name of the entry shown as `name`, if it is a short name
    /// with a matching side entry.
    pub fn full_name(&self, name: &[u8]) -> Option<&[u8]> {
        self.full.get(name).map(Vec::as_slice)
    }

    /// Whether `name` is a side entry whose short name was resolved.
    pub fn is_side(&self, name: &[u8]) -> bool {
        self.sides.contains(name)
    }

    /// Whether nothing in the directory was a long name.
    pub fn is_empty(&self) -> bool {
        self.full.is_empty()
    }
}

/// Recovers the long names of a directory from its decrypted entry names.
/// `read_side(side name)` returns a side entry's contents (`None` when it
/// cannot be read); `matches(short, full)` says whether `short` is the
/// short name of `full` in this volume ([`Volume::is_short_name_of`]). A
/// side entry whose short name is missing, or whose contents do not match
/// (a real file that only looks like one), stays an ordinary entry.
///
/// [`Volume::is_short_name_of`]: crate::volume::Volume::is_short_name_of
pub fn resolve<'a>(
    names: impl IntoIterator<Item = &'a [u8]>,
    mut read_side: impl FnMut(&[u8]) -> Option<Vec<u8>>,
    matches: impl Fn(&[u8], &[u8]) -> bool,
) -> Resolution {
    let names: Vec<&[u8]> = names.into_iter().collect();
    let present: HashSet<&[u8]> = names.iter().copied().collect();
    let mut out = Resolution::default();
    for name in names {
        let Some(short) = side_target(name) else {
            continue;
        };
        if !present.contains(short) {
            continue;
        }
        let Some(full) = read_side(name) else {
            continue;
        };
        // A full name also present as itself would show twice.
        if matches(short, &full) && !present.contains(&full[..]) {
            out.full.insert(short.to_vec(), full);
            out.sides.insert(name.to_vec());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: [u8; TAG_LEN] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

    #[test]
    fn short_names_fit_and_keep_a_prefix() {
        let full = vec![b'a'; 200];
        let ln = shorten(&full, &TAG, 175);
        // 175 - 14 (suffix) - 17 (~TAG) = 144 bytes of prefix
        assert_eq!(ln.short.len(), 144 + 1 + TAG_CHARS);
        assert!(ln.short.starts_with(&[b'a'; 144]));
        assert_eq!(ln.side.len(), 175);
        assert!(ln.side.ends_with(SIDE_SUFFIX));
        assert!(is_short(&ln.short));
        assert_eq!(side_target(&ln.side), Some(&ln.short[..]));
        // the tag is the EncFS base32 of the 10 bytes
        assert_eq!(&ln.short[145..], &base32_encode(&TAG)[..]);
    }

    #[test]
    fn utf8_sequences_are_not_cut() {
        // 'é' is 2 bytes, '€' 3: whatever the cut, the prefix stays UTF-8.
        for lead in 0..4 {
            let mut full = vec![b'x'; lead];
            while full.len() < 220 {
                full.extend_from_slice("é€".as_bytes());
            }
            let ln = shorten(&full, &TAG, 175);
            let prefix = &ln.short[..ln.short.len() - 1 - TAG_CHARS];
            assert!(std::str::from_utf8(prefix).is_ok(), "lead {lead}");
            assert!(prefix.len() >= 144 - 2 && prefix.len() <= 144);
        }
        // Not UTF-8 at all: cut by bytes, never more than 3 short.
        let full = vec![0xffu8; 250];
        let ln = shorten(&full, &TAG, 143);
        assert_eq!(ln.short.len(), prefix_budget(143) + 1 + TAG_CHARS);
    }

    #[test]
    fn look_alikes_are_not_short_names() {
        assert!(!is_short(b"plain.txt"));
        assert!(!is_short(b"x~abcdefghijklmnop")); // lower case
        assert!(!is_short(b"~AAAAAAAAAAAAAAA")); // 15 characters
        assert!(!is_short(b"~AAAAAAAAAAAAAAAA")); // no prefix
        assert!(is_short(b"x~AAAAAAAAAAAAAAAA"));
        assert_eq!(
            side_target(b"x~AAAAAAAAAAAAAAAA.encmount-name"),
            Some(&b"x~AAAAAAAAAAAAAAAA"[..])
        );
        assert_eq!(side_target(b"x.encmount-name"), None);
    }

    #[test]
    fn resolve_needs_the_pair_and_matching_contents() {
        let ln = shorten(&[b'q'; 200], &TAG, 175);
        let other = shorten(&[b'r'; 200], &[9; TAG_LEN], 175);
        let names: Vec<&[u8]> = vec![
            &ln.short,
            &ln.side,
            b"plain",
            &other.side, // its short name is missing: stays a file
        ];
        let matches = |s: &[u8], f: &[u8]| shorten(f, &TAG, 175).short == s;
        let r = resolve(names.clone(), |_| Some(vec![b'q'; 200]), matches);
        assert_eq!(r.full_name(&ln.short), Some(&[b'q'; 200][..]));
        assert!(r.is_side(&ln.side));
        assert!(!r.is_side(&other.side));
        assert_eq!(r.full_name(b"plain"), None);
        // contents that do not match the short name: nothing resolved
        let r = resolve(names.clone(), |_| Some(b"forged".to_vec()), matches);
        assert!(r.is_empty() && !r.is_side(&ln.side));
        // unreadable side entry: nothing resolved
        assert!(resolve(names, |_| None, matches).is_empty());
    }
}
