//! Where a backup's ciphertext comes from: a cipher directory, a tar stream
//! or a zip file. Each is read once, in order, as a sequence of [`Member`]s
//! with cipher paths relative to the volume root; the restore engine does
//! the rest, so the three behave the same.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Seek};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::configfile::{V6_NAME, open_nofollow};

/// What a member is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file; its ciphertext is the member's data.
    File,
    /// A symbolic link with this (encrypted) target.
    Symlink(Vec<u8>),
    /// Another name of the file at this cipher path (earlier in the source).
    HardLink(Vec<u8>),
    /// A FIFO.
    Fifo,
    /// A socket.
    Socket,
    /// A character device.
    Char(u64),
    /// A block device.
    Block(u64),
    /// A member refused as it stands (an absolute path or a `..`
    /// component, shown here): reported, never followed.
    Refused(String),
}

/// The metadata a source keeps of a member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits (07777).
    pub mode: u32,
    /// Owner, when the source has one.
    pub uid: Option<u32>,
    /// Group, when the source has one.
    pub gid: Option<u32>,
    /// Modification time (seconds, nanoseconds).
    pub mtime: Option<(i64, u32)>,
    /// Access time, when the source has one.
    pub atime: Option<(i64, u32)>,
    /// Bytes of ciphertext (regular files).
    pub size: u64,
}

/// One entry of a source. `path` is relative to the volume root, without
/// `./` prefixes; the empty path is the root itself.
pub struct Member<'a> {
    /// The cipher path.
    pub path: Vec<u8>,
    /// Its type.
    pub kind: Kind,
    /// Its metadata.
    pub meta: Meta,
    /// The ciphertext of a regular file (empty for others).
    pub data: &'a mut dyn Read,
}

/// Failures of a source as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The directory or archive.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The archive ends before its end-of-archive marker.
    #[error("{path}: archive truncated or corrupt after {after}: {reason}")]
    Truncated {
        /// The archive.
        path: PathBuf,
        /// The last member read whole.
        after: String,
        /// What the reader saw.
        reason: String,
    },
    /// A zip file that cannot be read as one.
    #[error("{path}: not a readable zip file: {source}")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The cause.
        source: zip::result::ZipError,
    },
}

/// What the consumer of members says after each one.
pub type Visit<'v> = dyn FnMut(Member<'_>) -> Result<(), super::RestoreError> + 'v;

/// A cipher tree in one of the forms a backup comes in.
pub trait Source {
    /// Names the source in messages.
    fn name(&self) -> String;
    /// Bytes the source will read, when known in advance (for an ETA).
    fn total_bytes(&self) -> Option<u64>;
    /// The volume config member at the root (`.encfs6.xml`), when the source
    /// can find it before the walk. A stream returns `None`: its engine
    /// takes the config when the member comes by.
    fn root_config(&mut self) -> Result<Option<Vec<u8>>, SourceError>;
    /// Hands every member to `visit`, parents before children.
    fn walk(&mut self, visit: &mut Visit<'_>) -> Result<(), super::RestoreError>;
}

/// The cipher path of an archive member: `./` prefixes and trailing
/// slashes removed. `None` for absolute paths and `..` components, which
/// are refused, never followed.
pub fn member_path(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.starts_with(b"/") {
        return None;
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return None,
            c => parts.push(c),
        }
    }
    Some(parts.join(&b'/'))
}

/// A cipher directory on disk.
pub struct DirSource {
    root: PathBuf,
    count_total: bool,
}

impl DirSource {
    /// `root` is the volume root. `count_total`: sum the ciphertext sizes
    /// first (for progress with an ETA).
    pub fn new(root: &Path, count_total: bool) -> Self {
        DirSource {
            root: root.to_path_buf(),
            count_total,
        }
    }

    fn walk_dir(
        &self,
        rel: &[u8],
        links: &mut HashMap<(u64, u64), Vec<u8>>,
        visit: &mut Visit<'_>,
    ) -> Result<(), super::RestoreError> {
        let dir = self.root.join(OsStr::from_bytes(rel));
        let read_err = |source| {
            super::RestoreError::Source(SourceError::Read {
                path: dir.clone(),
                source,
            })
        };
        let mut names: Vec<Vec<u8>> = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.file_name().as_bytes().to_vec()))
                .collect(),
            Err(e) => return Err(read_err(e)),
        };
        names.sort();
        for name in names {
            let child = if rel.is_empty() {
                name
            } else {
                [rel, b"/", &name].concat()
            };
            let path = self.root.join(OsStr::from_bytes(&child));
            let Ok(m) = fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = m.file_type();
            let meta = meta_of(&m);
            let mut empty = io::empty();
            if ft.is_dir() {
                visit(Member {
                    path: child.clone(),
                    kind: Kind::Dir,
                    meta,
                    data: &mut empty,
                })?;
                self.walk_dir(&child, links, visit)?;
            } else if ft.is_file() {
                if m.nlink() > 1 {
                    if let Some(first) = links.get(&(m.dev(), m.ino())) {
                        visit(Member {
                            path: child,
                            kind: Kind::HardLink(first.clone()),
                            meta,
                            data: &mut empty,
                        })?;
                        continue;
                    }
                    links.insert((m.dev(), m.ino()), child.clone());
                }
                let mut f: Box<dyn Read> = match open_nofollow(&path) {
                    Ok(f) => Box::new(f.take(m.len())),
                    Err(e) => Box::new(FailingReader(Some(e))),
                };
                visit(Member {
                    path: child,
                    kind: Kind::File,
                    meta,
                    data: &mut f,
                })?;
            } else {
                let kind = if ft.is_symlink() {
                    match fs::read_link(&path) {
                        Ok(t) => Kind::Symlink(t.as_os_str().as_bytes().to_vec()),
                        Err(_) => continue,
                    }
                } else if ft.is_fifo() {
                    Kind::Fifo
                } else if ft.is_socket() {
                    Kind::Socket
                } else if ft.is_char_device() {
                    Kind::Char(m.rdev())
                } else {
                    Kind::Block(m.rdev())
                };
                visit(Member {
                    path: child,
                    kind,
                    meta,
                    data: &mut empty,
                })?;
            }
        }
        Ok(())
    }
}

/// A reader that fails with the error an open gave.
struct FailingReader(Option<io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("unreadable")))
    }
}

fn meta_of(m: &fs::Metadata) -> Meta {
    Meta {
        mode: m.mode() & 0o7777,
        uid: Some(m.uid()),
        gid: Some(m.gid()),
        mtime: Some((m.mtime(), m.mtime_nsec() as u32)),
        atime: Some((m.atime(), m.atime_nsec() as u32)),
        size: m.len(),
    }
}

fn du(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

impl Source for DirSource {
    fn name(&self) -> String {
        self.root.display().to_string()
    }

    fn total_bytes(&self) -> Option<u64> {
        self.count_total.then(|| du(&self.root))
    }

    fn root_config(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        Ok(None)
    }

    fn walk(&mut self, visit: &mut Visit<'_>) -> Result<(), super::RestoreError> {
        let m = fs::metadata(&self.root).map_err(|source| SourceError::Read {
            path: self.root.clone(),
            source,
        })?;
        if !m.is_dir() {
            return Err(SourceError::Read {
                path: self.root.clone(),
                source: io::Error::from(io::ErrorKind::NotADirectory),
            }
            .into());
        }
        let mut links = HashMap::new();
        self.walk_dir(b"", &mut links, visit)?;
        visit(Member {
            path: Vec::new(),
            kind: Kind::Dir,
            meta: meta_of(&m),
            data: &mut io::empty(),
        })
    }
}

/// Counts the bytes read through it (the position in a stream).
struct Counting<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// A POSIX/GNU tar archive (pax headers, GNU long names and sparse members
/// included), from a file or a stream.
pub struct TarSource {
    path: PathBuf,
    input: Option<Box<dyn Read>>,
    total: Option<u64>,
}

impl TarSource {
    /// `path` `-` is standard input.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let err = |source| SourceError::Read {
            path: path.to_path_buf(),
            source,
        };
        if path == Path::new("-") {
            return Ok(TarSource {
                path: PathBuf::from("standard input"),
                input: Some(Box::new(io::stdin().lock())),
                total: None,
            });
        }
        let f = File::open(path).map_err(err)?;
        let m = f.metadata().map_err(err)?;
        Ok(TarSource {
            path: path.to_path_buf(),
            total: m.is_file().then_some(m.len()),
            input: Some(Box::new(f)),
        })
    }
}

/// `mtime`/`atime` of a pax header: decimal seconds with a fraction.
fn pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let nsec = if digits.is_empty() {
        0
    } else {
        digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
    };
    Some((secs, nsec))
}

fn tar_member<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Option<(Vec<u8>, Kind, Meta)>> {
    use tar::EntryType as T;
    let raw_path = entry.path_bytes().into_owned();
    let link = entry.link_name_bytes().map(|l| l.into_owned());
    let h = entry.header().clone();
    let mut meta = Meta {
        mode: h.mode().unwrap_or(0o600) & 0o7777,
        uid: h.uid().ok().map(|u| u as u32),
        gid: h.gid().ok().map(|g| g as u32),
        mtime: h.mtime().ok().map(|t| (t as i64, 0)),
        atime: None,
        size: entry.size(),
    };
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax.flatten() {
            match ext.key_bytes() {
                b"mtime" => meta.mtime = pax_time(ext.value_bytes()).or(meta.mtime),
                b"atime" => meta.atime = pax_time(ext.value_bytes()),
                b"uid" => {
                    meta.uid = std::str::from_utf8(ext.value_bytes())
                        .ok()
                        .and_then(|v| v.parse().ok())
                }
                b"gid" => {
                    meta.gid = std::str::from_utf8(ext.value_bytes())
                        .ok()
                        .and_then(|v| v.parse().ok())
                }
                _ => {}
            }
        }
    }
    let dev = || {
        let (ma, mi) = (
            h.device_major().ok().flatten().unwrap_or(0),
            h.device_minor().ok().flatten().unwrap_or(0),
        );
        nix::sys::stat::makedev(ma.into(), mi.into())
    };
    let kind = match h.entry_type() {
        T::Regular | T::Continuous | T::GNUSparse => Kind::File,
        T::Directory => Kind::Dir,
        T::Symlink => Kind::Symlink(link.unwrap_or_default()),
        T::Link => Kind::HardLink(link.unwrap_or_default()),
        T::Fifo => Kind::Fifo,
        T::Char => Kind::Char(dev()),
        T::Block => Kind::Block(dev()),
        _ => return Ok(None),
    };
    Ok(Some((raw_path, kind, meta)))
}

impl Source for TarSource {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn total_bytes(&self) -> Option<u64> {
        self.total
    }

    fn root_config(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        if self.total.is_none() {
            return Ok(None);
        }
        // A file: one quick pass over the headers (data is skipped by seeking).
        let err = |source| SourceError::Read {
            path: self.path.clone(),
            source,
        };
        let mut f = File::open(&self.path).map_err(err)?;
        let mut found = None;
        {
            let mut ar = tar::Archive::new(&mut f);
            for entry in ar.entries_with_seek().map_err(err)? {
                let Ok(mut entry) = entry else { break };
                if member_path(&entry.path_bytes()).as_deref() == Some(V6_NAME.as_bytes()) {
                    let mut v = Vec::new();
                    (&mut entry)
                        .take(1 << 20)
                        .read_to_end(&mut v)
                        .map_err(err)?;
                    found = Some(v);
                    break;
                }
            }
        }
        f.rewind().map_err(err)?;
        Ok(found)
    }

    fn walk(&mut self, visit: &mut Visit<'_>) -> Result<(), super::RestoreError> {
        let input = self.input.take().expect("a tar source is walked once");
        let count = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut ar = tar::Archive::new(Counting {
            inner: input,
            count: count.clone(),
        });
        let truncated = |after: &str, reason: String| {
            super::RestoreError::Source(SourceError::Truncated {
                path: self.path.clone(),
                after: after.to_string(),
                reason,
            })
        };
        let mut last = String::from("the start");
        let mut end_of_last = 0u64;
        let entries = ar.entries().map_err(|e| truncated(&last, e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| truncated(&last, e.to_string()))?;
            let size = entry.header().entry_size().unwrap_or(0);
            end_of_last = entry.raw_file_position() + size.div_ceil(512) * 512;
            let raw = entry.path_bytes().into_owned();
            last = String::from_utf8_lossy(&raw).into_owned();
            let Some((raw_path, kind, meta)) =
                tar_member(&mut entry).map_err(|e| truncated(&last, e.to_string()))?
            else {
                continue;
            };
            let Some(path) = member_path(&raw_path) else {
                refused(visit, &raw_path)?;
                continue;
            };
            let kind = match kind {
                Kind::HardLink(t) => match member_path(&t) {
                    Some(t) => Kind::HardLink(t),
                    None => {
                        refused(visit, &t)?;
                        continue;
                    }
                },
                k => k,
            };
            visit(Member {
                path,
                kind,
                meta,
                data: &mut entry,
            })?;
        }
        // Without its end-of-archive blocks, a stream that stops at a member
        // boundary would look complete: the reader must have read past the
        // last member.
        // An empty stream (a failed `ssh … BackupPC_tarCreate`, say) holds
        // no archive at all: that is an error, not an empty backup.
        if count.get() == 0 {
            return Err(truncated(&last, "empty: not one byte of tar data".into()));
        }
        if count.get() <= end_of_last && end_of_last > 0 {
            return Err(truncated(
                &last,
                "no end-of-archive marker (the stream stopped early)".into(),
            ));
        }
        Ok(())
    }
}

/// Hands a refused member (its raw name) to the engine, which reports it.
fn refused(visit: &mut Visit<'_>, raw: &[u8]) -> Result<(), super::RestoreError> {
    visit(Member {
        path: Vec::new(),
        kind: Kind::Refused(String::from_utf8_lossy(raw).into_owned()),
        meta: Meta::default(),
        data: &mut io::empty(),
    })
}

/// A zip archive (as BackupPC's "Download Zip archive" writes it). Zip has
/// no hard links and, without Info-ZIP's extra fields, no owners: each name
/// is restored as its own file, owned by the user restoring.
pub struct ZipSource {
    path: PathBuf,
    archive: zip::ZipArchive<File>,
}

impl ZipSource {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let f = File::open(path).map_err(|source| SourceError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let archive = zip::ZipArchive::new(f).map_err(|source| SourceError::Zip {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ZipSource {
            path: path.to_path_buf(),
            archive,
        })
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Source for ZipSource {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn total_bytes(&self) -> Option<u64> {
        fs::metadata(&self.path).ok().map(|m| m.len())
    }

    fn root_config(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        for name in [V6_NAME.to_string(), format!("./{V6_NAME}")] {
            if let Ok(mut f) = self.archive.by_name(&name) {
                let mut v = Vec::new();
                (&mut f)
                    .take(1 << 20)
                    .read_to_end(&mut v)
                    .map_err(|source| SourceError::Read {
                        path: self.path.clone(),
                        source,
                    })?;
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    fn walk(&mut self, visit: &mut Visit<'_>) -> Result<(), super::RestoreError> {
        for i in 0..self.archive.len() {
            let mut f = self
                .archive
                .by_index(i)
                .map_err(|source| SourceError::Zip {
                    path: self.path.clone(),
                    source,
                })?;
            let raw = f.name_raw().to_vec();
            let Some(path) = member_path(&raw) else {
                refused(visit, &raw)?;
                continue;
            };
            let mode = f
                .unix_mode()
                .unwrap_or(if f.is_dir() { 0o755 } else { 0o644 });
            let mtime = f
                .extra_data_fields()
                .find_map(|x| match x {
                    zip::extra_fields::ExtraField::ExtendedTimestamp(t) => t.mod_time(),
                    _ => None,
                })
                .map(|t| (i64::from(t), 0))
                .or_else(|| {
                    f.last_modified().map(|d| {
                        let days =
                            days_from_civil(d.year().into(), d.month().into(), d.day().into());
                        let secs = i64::from(d.hour()) * 3600
                            + i64::from(d.minute()) * 60
                            + i64::from(d.second());
                        (days * 86_400 + secs, 0)
                    })
                });
            let meta = Meta {
                mode: mode & 0o7777,
                uid: None,
                gid: None,
                mtime,
                atime: None,
                size: f.size(),
            };
            let kind = if f.is_dir() {
                Kind::Dir
            } else if mode & 0o170000 == 0o120000 {
                let mut t = Vec::new();
                (&mut f)
                    .take(64 << 10)
                    .read_to_end(&mut t)
                    .map_err(|source| SourceError::Read {
                        path: self.path.clone(),
                        source,
                    })?;
                Kind::Symlink(t)
            } else {
                Kind::File
            };
            visit(Member {
                path,
                kind,
                meta,
                data: &mut f,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_are_normalised_and_escapes_refused() {
        assert_eq!(member_path(b"./a/./b/").unwrap(), b"a/b");
        assert_eq!(member_path(b"./").unwrap(), b"");
        assert_eq!(member_path(b"a//b").unwrap(), b"a/b");
        assert!(member_path(b"/etc/passwd").is_none());
        assert!(member_path(b"a/../../b").is_none());
        assert!(member_path(b"..").is_none());
    }

    #[test]
    fn pax_times_keep_nanoseconds() {
        assert_eq!(
            pax_time(b"1700000000.5"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(
            pax_time(b"1700000000.123456789123"),
            Some((1_700_000_000, 123_456_789))
        );
        assert_eq!(pax_time(b"42"), Some((42, 0)));
        assert_eq!(pax_time(b"x"), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
