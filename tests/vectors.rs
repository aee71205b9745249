//! Every volume in `../shared/vectors` (made by the real encfs 1.9.5):
//! restore equals `plain/`, every manifest path and link target decodes and
//! encodes both ways, and every file re-encrypts byte for byte.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::vectors::{copy_vector, link_text};

use encmount::configfile::{self, Located};
use encmount::restore::{self, Options};
use encmount::volume::derive::file_iv_from_inode;
use encmount::volume::{ConfigFormat, PlainSize, Volume};

struct Vector {
    name: String,
    dir: PathBuf,
    vol: Volume,
    reverse: bool,
    manifest: Vec<Line>,
}

#[derive(Debug)]
struct Line {
    plain: String,
    cipher: String,
    kind: String,
    plain_size: Option<u64>,
    cipher_size: Option<u64>,
    inode: Option<u64>,
    plain_link: Option<String>,
    cipher_link: Option<String>,
}

fn opt<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s == "-" { None } else { s.parse().ok() }
}

fn load_vectors() -> Vec<Vector> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(common::vectors_dir())
        .expect("../shared/vectors must sit beside the repository")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.tsv").is_file())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 7, "expected the seven shared vector volumes");
    dirs.into_iter()
        .map(|dir| {
            let located = Located {
                path: dir.join("encfs6.xml"),
                format: ConfigFormat::V6,
            };
            let config = configfile::load(&located).unwrap();
            let password = fs::read(dir.join("password")).unwrap();
            let vol = configfile::unlock(&located.path, &config, &password).unwrap();
            let params = fs::read_to_string(dir.join("params.txt")).unwrap();
            let manifest = fs::read_to_string(dir.join("manifest.tsv"))
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| {
                    let c: Vec<&str> = l.split('\t').collect();
                    assert_eq!(c.len(), 8, "{l}");
                    Line {
                        plain: c[0].into(),
                        cipher: c[1].into(),
                        kind: c[2].into(),
                        plain_size: opt(c[3]),
                        cipher_size: opt(c[4]),
                        inode: opt(c[5]),
                        plain_link: opt(c[6]),
                        cipher_link: opt(c[7]),
                    }
                })
                .collect::<Vec<_>>();
            assert!(manifest.len() > 40);
            Vector {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                reverse: params.contains("mode=reverse"),
                dir,
                vol,
                manifest,
            }
        })
        .collect()
}

#[test]
fn every_manifest_path_and_link_decodes_and_encodes() {
    for v in load_vectors() {
        for l in &v.manifest {
            let (plain, _) = v.vol.decode_path(l.cipher.as_bytes()).unwrap();
            assert_eq!(plain, l.plain.as_bytes(), "{}: decode {}", v.name, l.cipher);
            let (cipher, _) = v.vol.encode_path(l.plain.as_bytes());
            assert_eq!(
                cipher,
                l.cipher.as_bytes(),
                "{}: encode {}",
                v.name,
                l.plain
            );
            if let (Some(p), Some(c)) = (&l.plain_link, &l.cipher_link) {
                assert_eq!(
                    v.vol.decode_link(c.as_bytes()).unwrap(),
                    p.as_bytes(),
                    "{}",
                    v.name
                );
                assert_eq!(v.vol.encode_link(p.as_bytes()), c.as_bytes(), "{}", v.name);
                assert_eq!(
                    link_text(&v.dir.join("cipher").join(&l.cipher)),
                    c.as_bytes()
                );
            }
            if l.kind == "file" {
                let size = v.vol.layout().cipher_size(PlainSize(l.plain_size.unwrap()));
                assert_eq!(
                    Some(size.0),
                    l.cipher_size,
                    "{}: size of {}",
                    v.name,
                    l.plain
                );
            }
        }
    }
}

#[test]
fn every_volume_restores_to_its_plain_tree() {
    for v in load_vectors() {
        let copy = copy_vector(&v.name);
        let (cipher, plain) = (&copy.cipher, &copy.plain);
        let out = copy.dir.path().join("out");
        let report = restore::restore(&v.vol, cipher, &out, &Options::default()).unwrap();
        assert!(
            report.problems.is_empty(),
            "{}: {:?}",
            v.name,
            report.problems
        );
        let files = v.manifest.iter().filter(|l| l.kind == "file").count() as u64;
        assert_eq!(report.files, files, "{}", v.name);
        assert_eq!(report.symlinks, 4, "{}", v.name);
        compare_trees(plain, &out, &v.name);

        let verified = restore::verify(&v.vol, cipher, &Options::default()).unwrap();
        assert!(verified.problems.is_empty());
        assert_eq!(verified.bytes, report.bytes);
    }
}

/// Re-encrypts every plaintext file: reverse volumes exactly as encfs
/// --reverse did (uniqueIV ones with the manifest's inode column), forward
/// ones with the file IV read back from their header.
#[test]
fn every_file_re_encrypts_byte_for_byte() {
    for v in load_vectors() {
        let layout = *v.vol.layout();
        for l in v.manifest.iter().filter(|l| l.kind == "file") {
            let plain = fs::read(v.dir.join("plain").join(&l.plain)).unwrap();
            let want = fs::read(v.dir.join("cipher").join(&l.cipher)).unwrap();
            let (_, name_iv) = v.vol.encode_path(l.plain.as_bytes());
            let external = v.vol.external_iv(name_iv);
            let mut got = Vec::new();
            let mut file_iv = 0;
            if layout.has_header() && !plain.is_empty() {
                file_iv = if v.reverse {
                    file_iv_from_inode(l.inode.expect("reverse uniqueIV files have an inode"))
                } else {
                    v.vol.decode_header(&want[..8], external).unwrap()
                };
                got.extend_from_slice(&v.vol.encode_header(file_iv, external));
            }
            let mut buf = vec![0u8; layout.blocks_cipher_len(plain.len() as u64) as usize];
            buf[..plain.len()].copy_from_slice(&plain);
            let n = v
                .vol
                .reverse_encrypt_in_place(file_iv, 0, &mut buf, plain.len())
                .unwrap();
            got.extend_from_slice(&buf[..n]);
            if !v.reverse && l.plain.starts_with("sparse-hole") {
                // encfs forward left the hole unwritten (format §7.5): the
                // stored blocks are zeros, not encrypted zeros.
                let hdr = got.len() - n;
                let hole = 12288 / layout.data_per_block() * layout.block_size();
                assert!(want[hdr..hdr + hole].iter().all(|&b| b == 0), "{}", v.name);
                assert_eq!(&got[..hdr], &want[..hdr]);
                continue;
            }
            assert!(got == want, "{}: {} does not re-encrypt", v.name, l.plain);
        }
    }
}

/// Contents, types and symlink targets must match (git keeps neither modes
/// nor mtimes of the vectors).
fn compare_trees(a: &Path, b: &Path, what: &str) {
    let list = |root: &Path| -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            for e in fs::read_dir(root.join(&rel)).unwrap() {
                let e = e.unwrap();
                let r = rel.join(e.file_name());
                if e.file_type().unwrap().is_dir() {
                    stack.push(r.clone());
                }
                out.push(r);
            }
        }
        out.sort();
        out
    };
    let (la, lb) = (list(a), list(b));
    assert_eq!(la, lb, "{what}: entries differ");
    for rel in la {
        let (pa, pb) = (a.join(&rel), b.join(&rel));
        let (ma, mb) = (
            fs::symlink_metadata(&pa).unwrap(),
            fs::symlink_metadata(&pb).unwrap(),
        );
        assert_eq!(ma.file_type(), mb.file_type(), "{what}: type of {rel:?}");
        if ma.is_symlink() {
            assert_eq!(
                fs::read_link(&pa).unwrap(),
                fs::read_link(&pb).unwrap(),
                "{what}: {rel:?}"
            );
        } else if ma.is_file() {
            assert!(
                fs::read(&pa).unwrap() == fs::read(&pb).unwrap(),
                "{what}: contents of {rel:?}"
            );
        }
    }
}
