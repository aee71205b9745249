//! Offline restore, verify and listing (design §5): a backup's cipher tree —
//! a directory, a tar stream or a zip file ([`source`]) — back to
//! plaintext, without FUSE.
//!
//! Problems with single entries (an undecodable name, a MAC failure, a
//! truncated member, a path that would leave DEST) are collected in the
//! [`Report`] and the walk goes on. A file whose ciphertext goes bad part way
//! keeps its good prefix beside its name as `NAME.partial-BYTES` (BYTES: how
//! many plaintext bytes are good), unless [`Options::strict`]; nothing
//! wrong is ever left under a file's own name.

pub mod list;
mod long_names;
mod progress;
pub mod select;
pub mod source;
pub mod unlock;
mod writer;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::stat::SFlag;

use crate::configfile::V6_NAME;
use crate::volume::content::is_zero;
use crate::volume::{self, CipherSize, Volume};
use long_names::{LongNames, Side};
use progress::Progress;
use select::Selector;
use source::{DirSource, Kind, Member, Meta, Source, SourceError};
use writer::{WriteError, Writer};

/// Blocks decrypted per read.
const BLOCKS_PER_CHUNK: usize = 1024;
/// Config names hidden in a volume root (format §6.7).
const ROOT_CONFIG_NAMES: [&str; 3] = [V6_NAME, ".encfs5", ".encfs4"];
/// Members a stream may hold before its config (kept in memory meanwhile).
const MAX_BEFORE_CONFIG: usize = 256 << 20;
/// This many undecodable names and not one good one: the wrong key.
const WRONG_KEY_AFTER: u64 = 8;

/// What to restore and how.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Write into a non-empty destination, replacing what is in the way.
    pub force: bool,
    /// Restore owners (needs root).
    pub owners: bool,
    /// A file that fails part way is not kept at all (no `.partial-N`).
    pub strict: bool,
    /// Draw progress on stderr.
    pub progress: bool,
    /// What to take; default everything.
    pub select: Selector,
}

/// Why one entry could not be restored, verified or listed.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The encrypted name does not decode.
    #[error("cannot decode name: {0}")]
    Name(volume::Error),
    /// A decoded name that cannot be a file name.
    #[error("refused: the name decodes to {0:?}, which is not a single file name")]
    BadPlainName(String),
    /// The symlink target does not decode.
    #[error("cannot decode link target: {0}")]
    Link(volume::Error),
    /// A member path that is absolute or has `..`.
    #[error("refused: member path {0:?} is absolute or has a `..` component (never followed)")]
    Escape(String),
    /// The file's contents failed; nothing was kept.
    #[error("{0} (file not restored)")]
    Decrypt(DecryptError),
    /// The file's contents failed part way; the good prefix was kept.
    #[error("{source}; the first {good} bytes are in {kept}")]
    Partial {
        /// What failed.
        source: DecryptError,
        /// Good plaintext bytes kept.
        good: u64,
        /// Where.
        kept: PathBuf,
    },
    /// A PATH given that nothing in the backup matched.
    #[error("not in the backup: no entry matches this path or pattern")]
    NoMatch,
    /// The first name of a hard-linked file was not restored.
    #[error("hard link to {0}, which was not restored: {1}")]
    HardLink(String, WriteError),
    /// Writing into DEST failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Owner, mode or times could not be set.
    #[error("metadata not restored: {0}")]
    Meta(WriteError),
    /// The source failed part way (a truncated archive).
    #[error(transparent)]
    Source(SourceError),
}

/// Why a file's ciphertext did not decrypt.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// The size cannot be one of this volume's files.
    #[error("bad size: {0}")]
    Size(volume::Error),
    /// The file header does not decode.
    #[error("bad file header: {0}")]
    Header(volume::Error),
    /// A block failed (its MAC, usually).
    #[error("{source} at plaintext offset {good}")]
    Block {
        /// Good bytes before it.
        good: u64,
        /// What failed.
        source: volume::Error,
    },
    /// Fewer bytes than the size said (a truncated archive, a file that
    /// shrank while read).
    #[error("truncated: {good} of {expected} bytes")]
    Short {
        /// Good bytes read.
        good: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// Reading the ciphertext failed.
    #[error("read error after {good} bytes: {source}")]
    Read {
        /// Good bytes before it.
        good: u64,
        /// The cause.
        source: io::Error,
    },
    /// Writing the plaintext failed.
    #[error("write error: {0}")]
    Write(io::Error),
}

impl DecryptError {
    /// Plaintext bytes before the failure that are good.
    pub fn good(&self) -> u64 {
        match self {
            DecryptError::Block { good, .. }
            | DecryptError::Short { good, .. }
            | DecryptError::Read { good, .. } => *good,
            _ => 0,
        }
    }
}

/// One entry that could not be restored or verified.
#[derive(Debug)]
pub struct Problem {
    /// The cipher path, relative to the cipher root (or the member name).
    pub cipher: PathBuf,
    /// The plaintext path, when the name decoded.
    pub plain: Option<PathBuf>,
    /// What went wrong.
    pub reason: EntryError,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.plain {
            Some(p) => write!(
                f,
                "{} ({}): {}",
                p.display(),
                self.cipher.display(),
                self.reason
            ),
            None => write!(f, "{}: {}", self.cipher.display(), self.reason),
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Regular files decrypted whole.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// FIFOs, sockets and devices.
    pub specials: u64,
    /// Extra names of hard-linked files.
    pub hard_links: u64,
    /// Plaintext bytes decrypted.
    pub bytes: u64,
    /// Files kept in part (`NAME.partial-N`).
    pub partial: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Entries that failed.
    pub problems: Vec<Problem>,
}

/// Failures that stop the whole run.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The source cannot be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The destination is not empty and `--force` was not given.
    #[error("destination {0} is not empty (use --force to restore into it)")]
    DestNotEmpty(PathBuf),
    /// The destination cannot be created or used.
    #[error("cannot use destination {path}: {source}")]
    Dest {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// DEST and the cipher directory overlap.
    #[error("refusing to restore {cipher} into {dest}: {why}")]
    Nested {
        /// The cipher directory.
        cipher: PathBuf,
        /// The destination.
        dest: PathBuf,
        /// Which way.
        why: &'static str,
    },
    /// A stream whose volume config did not come early enough.
    #[error(
        "{0}: the volume config {V6_NAME} is not among the first 256 MiB of the stream; give --config"
    )]
    ConfigTooLate(String),
    /// A stream without a volume config.
    #[error("{0}: no {V6_NAME} at the root of the archive; give --config")]
    NoConfig(String),
    /// A stream that ended, cut short, before its volume config came.
    #[error("{name}: the stream ended before its {V6_NAME} came; give --config")]
    TruncatedBeforeConfig {
        /// The archive.
        name: String,
        /// How it ended.
        source: SourceError,
    },
    /// The config in the archive could not be used.
    #[error("{V6_NAME} in {source_name}: {reason}")]
    Unlock {
        /// The archive.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// The listing could not be written.
    #[error("cannot write the listing: {0}")]
    Output(#[source] io::Error),
    /// Not one name decodes.
    #[error(
        "{0}: none of the first {WRONG_KEY_AFTER} names decode: the archive is of another volume, or the config is not its own"
    )]
    WrongVolume(String),
}

/// How the engine gets its key.
pub enum Key<'a> {
    /// Already unlocked.
    Volume(&'a Volume),
    /// From the config member of a stream, when it comes by.
    FromSource(&'a mut dyn FnMut(&[u8]) -> Result<Volume, RestoreError>),
}

/// Decrypts the cipher directory `cipher_root` into `dest`.
pub fn restore(
    vol: &Volume,
    cipher_root: &Path,
    dest: &Path,
    opts: &Options,
) -> Result<Report, RestoreError> {
    check_not_nested(cipher_root, dest)?;
    let mut src = DirSource::new(cipher_root, opts.progress);
    run(&mut src, Key::Volume(vol), Some(dest), opts)
}

/// Decrypts `cipher_root` to nowhere, checking every name, link and block.
pub fn verify(vol: &Volume, cipher_root: &Path, opts: &Options) -> Result<Report, RestoreError> {
    let mut src = DirSource::new(cipher_root, opts.progress);
    run(&mut src, Key::Volume(vol), None, opts)
}

/// Restores (`dest`) or verifies (`None`) any source.
pub fn run(
    source: &mut dyn Source,
    key: Key<'_>,
    dest: Option<&Path>,
    opts: &Options,
) -> Result<Report, RestoreError> {
    let writer = match dest {
        Some(d) => {
            prepare_dest(d, opts.force)?;
            Some(
                Writer::open(d, opts.force, opts.owners).map_err(|source| RestoreError::Dest {
                    path: d.to_path_buf(),
                    source,
                })?,
            )
        }
        None => None,
    };
    let action = match writer {
        Some(w) => Action::Restore(w),
        None => Action::Verify,
    };
    Engine::new(source, key, action, opts).run(source)
}

/// Lists any source: `out` gets every selected entry.
pub fn list(
    source: &mut dyn Source,
    key: Key<'_>,
    select: &Selector,
    out: &mut dyn FnMut(list::Listed) -> io::Result<()>,
) -> Result<Report, RestoreError> {
    let opts = Options {
        select: select.clone(),
        ..Default::default()
    };
    Engine::new(source, key, Action::List(out), &opts).run(source)
}

/// Refuses a DEST inside the cipher directory and a cipher directory inside
/// DEST: either would write plaintext into the backup.
pub fn check_not_nested(cipher_root: &Path, dest: &Path) -> Result<(), RestoreError> {
    let real = |p: &Path| -> PathBuf {
        // DEST may not exist yet: resolve its nearest existing ancestor.
        let mut tail = Vec::new();
        let mut cur = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        loop {
            if let Ok(r) = fs::canonicalize(&cur) {
                return tail.iter().rev().fold(r, |acc: PathBuf, c| acc.join(c));
            }
            match (cur.parent(), cur.file_name()) {
                (Some(parent), Some(name)) => {
                    tail.push(name.to_os_string());
                    cur = parent.to_path_buf();
                }
                _ => return cur,
            }
        }
    };
    let (c, d) = (real(cipher_root), real(dest));
    let err = |why| RestoreError::Nested {
        cipher: cipher_root.to_path_buf(),
        dest: dest.to_path_buf(),
        why,
    };
    if d.starts_with(&c) {
        return Err(err("the destination is inside the cipher directory"));
    }
    if c.starts_with(&d) {
        return Err(err("the cipher directory is inside the destination"));
    }
    Ok(())
}

fn prepare_dest(dest: &Path, force: bool) -> Result<(), RestoreError> {
    let derr = |source| RestoreError::Dest {
        path: dest.to_path_buf(),
        source,
    };
    match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                return Err(RestoreError::DestNotEmpty(dest.to_path_buf()));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(dest).map_err(derr),
        Err(e) => Err(derr(e)),
    }
}

enum Action<'o> {
    Restore(Writer),
    Verify,
    List(&'o mut dyn FnMut(list::Listed) -> io::Result<()>),
}

enum Vol<'a> {
    Borrowed(&'a Volume),
    Owned(Box<Volume>),
    Pending(&'a mut dyn FnMut(&[u8]) -> Result<Volume, RestoreError>),
}

/// A member held in memory until the stream's config comes by.
struct Held {
    path: Vec<u8>,
    kind: Kind,
    meta: Meta,
    data: Vec<u8>,
}

struct Engine<'a, 'o> {
    vol: Vol<'a>,
    source_name: String,
    action: Action<'o>,
    opts: Options,
    report: Report,
    /// Cipher directory path -> (plaintext path, chain IV).
    dirs: HashMap<Vec<u8>, (Vec<u8>, u64)>,
    /// Directories whose metadata goes on after their contents.
    dir_meta: Vec<(Vec<u8>, Meta)>,
    held: Vec<Held>,
    held_bytes: usize,
    /// Short names and side entries, resolved at the end.
    long: LongNames,
    /// Listings below a short name or of a side entry, shown at the end
    /// under their full names (`true`: a side entry).
    long_listed: Vec<(list::Listed, bool)>,
    names_ok: u64,
    names_bad: u64,
    buf: Vec<u8>,
    progress: Progress,
    start: Instant,
    /// A listing that could not be written (a closed pipe) ends the run.
    output_error: Option<io::Error>,
}

/// Counts ciphertext read into the progress display.
struct Metered<'r> {
    inner: &'r mut dyn Read,
    progress: Progress,
}

impl Read for Metered<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes(n as u64);
        Ok(n)
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn pathbuf(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

impl<'a, 'o> Engine<'a, 'o> {
    fn new(source: &dyn Source, key: Key<'a>, action: Action<'o>, opts: &Options) -> Self {
        let vol = match key {
            Key::Volume(v) => Vol::Borrowed(v),
            Key::FromSource(f) => Vol::Pending(f),
        };
        let show = opts.progress && !matches!(action, Action::List(_));
        let mut engine = Engine {
            vol,
            source_name: source.name(),
            action,
            opts: opts.clone(),
            report: Report::default(),
            dirs: HashMap::new(),
            dir_meta: Vec::new(),
            held: Vec::new(),
            held_bytes: 0,
            long: LongNames::default(),
            long_listed: Vec::new(),
            names_ok: 0,
            names_bad: 0,
            buf: Vec::new(),
            progress: Progress::new(show, if show { source.total_bytes() } else { None }),
            start: Instant::now(),
            output_error: None,
        };
        if !matches!(engine.vol, Vol::Pending(_)) {
            engine.volume_ready();
        }
        engine
    }

    /// Once the volume is known: literal selections of long names also
    /// select their short names and side entries.
    fn volume_ready(&mut self) {
        let vol: &Volume = match &self.vol {
            Vol::Borrowed(v) => v,
            Vol::Owned(v) => v,
            Vol::Pending(_) => return,
        };
        self.opts
            .select
            .add_long_names(|name| vol.long_name(name).map(|l| l.short));
    }

    fn run(mut self, source: &mut dyn Source) -> Result<Report, RestoreError> {
        let walked = source.walk(&mut |m| self.member(m));
        self.progress.finish();
        let pending = matches!(self.vol, Vol::Pending(_));
        match walked {
            Ok(()) => {}
            Err(RestoreError::Source(source @ SourceError::Truncated { .. })) if pending => {
                return Err(RestoreError::TruncatedBeforeConfig {
                    name: self.source_name.clone(),
                    source,
                });
            }
            Err(RestoreError::Source(e @ SourceError::Truncated { .. })) => {
                let name = self.source_name.clone();
                self.problem(name.as_bytes(), None, EntryError::Source(e));
            }
            Err(e) => return Err(e),
        }
        if pending {
            return Err(RestoreError::NoConfig(self.source_name.clone()));
        }
        if self.names_ok == 0 && self.names_bad > 0 {
            return Err(RestoreError::WrongVolume(self.source_name.clone()));
        }
        let plan = self.finish_long_names();
        let unmatched: Vec<Vec<u8>> = self.opts.select.unmatched().map(<[u8]>::to_vec).collect();
        for arg in unmatched {
            self.problem(&arg, None, EntryError::NoMatch);
        }
        // Deepest first: a directory's times after everything inside it.
        for (rel, meta) in std::mem::take(&mut self.dir_meta).iter().rev() {
            let rel = plan.map(rel);
            if let Action::Restore(w) = &mut self.action
                && let Err(e) = w.apply(&rel, meta, false, None)
            {
                self.problem(b"-", Some(&rel), EntryError::Meta(e));
            }
        }
        self.report.elapsed = self.start.elapsed();
        Ok(self.report)
    }

    /// Renames each resolved short name to its full name and writes the
    /// side entries that did not resolve ([`long_names`]).
    fn finish_long_names(&mut self) -> long_names::Plan {
        let vol = match &self.vol {
            Vol::Borrowed(v) => *v,
            Vol::Owned(v) => v,
            Vol::Pending(_) => unreachable!("checked by the caller"),
        };
        let plan = std::mem::take(&mut self.long).plan(|s, f| vol.is_short_name_of(s, f));
        if let Action::List(out) = &mut self.action {
            let strays: std::collections::HashSet<&[u8]> =
                plan.files.iter().map(|s| &s.path[..]).collect();
            for (mut listed, side) in std::mem::take(&mut self.long_listed) {
                if side && !strays.contains(&listed.path[..]) {
                    continue;
                }
                listed.path = plan.map(&listed.path);
                if let (Kind::HardLink(_), Some(t)) = (&listed.kind, &listed.target) {
                    listed.target = Some(plan.map(t));
                }
                if let Err(e) = out(listed) {
                    self.output_error = Some(e);
                    break;
                }
            }
            return plan;
        }
        let Action::Restore(w) = &mut self.action else {
            return plan;
        };
        let mut failed = Vec::new();
        for side in &plan.files {
            let written = w.create(&side.path).and_then(|f| {
                std::io::Write::write_all(&mut &f, &side.contents).map_err(|e| {
                    WriteError::Sys {
                        op: "write",
                        errno: nix::errno::Errno::from_raw(
                            e.raw_os_error().unwrap_or(nix::errno::Errno::EIO as i32),
                        ),
                    }
                })?;
                w.apply(&side.path, &side.meta, false, Some(&f))
            });
            match written {
                Ok(()) => {
                    self.report.files += 1;
                    self.report.bytes += side.contents.len() as u64;
                }
                Err(e) => failed.push((side.path.clone(), e)),
            }
        }
        for (short, full) in &plan.renames {
            if let Err(e) = w.rename(short, full) {
                failed.push((short.clone(), e));
            }
        }
        for (path, e) in failed {
            self.problem(b"-", Some(&path), EntryError::Write(e));
        }
        plan
    }

    fn problem(&mut self, cipher: &[u8], plain: Option<&[u8]>, reason: EntryError) {
        self.report.problems.push(Problem {
            cipher: pathbuf(cipher),
            plain: plain.map(pathbuf),
            reason,
        });
    }

    fn member(&mut self, m: Member<'_>) -> Result<(), RestoreError> {
        self.progress.entry();
        if let Kind::Refused(raw) = &m.kind {
            let raw = raw.clone();
            self.problem(raw.as_bytes(), None, EntryError::Escape(raw.clone()));
            return Ok(());
        }
        if let Vol::Pending(_) = self.vol {
            return self.before_config(m);
        }
        if !m.path.contains(&b'/') && ROOT_CONFIG_NAMES.iter().any(|n| n.as_bytes() == m.path) {
            return Ok(());
        }
        if m.path.is_empty() {
            if self.opts.select.is_all() && m.kind == Kind::Dir {
                self.dir_meta.push((Vec::new(), m.meta));
            }
            return Ok(());
        }
        let is_dir = m.kind == Kind::Dir;
        let (plain, name_iv) = match self.decode(&m.path, is_dir) {
            Ok(d) => d,
            Err(reason) => {
                let cipher = m.path.clone();
                self.problem(&cipher, None, reason);
                if self.names_ok == 0 && self.names_bad >= WRONG_KEY_AFTER {
                    return Err(RestoreError::WrongVolume(self.source_name.clone()));
                }
                return Ok(());
            }
        };
        if !self.opts.select.take(&plain, &m.path, is_dir) {
            return Ok(());
        }
        let mut metered = Metered {
            inner: m.data,
            progress: self.progress.clone(),
        };
        match self.entry(&m.kind, &m.meta, &mut metered, &plain, name_iv) {
            Ok(()) => self.long.saw(&plain),
            Err(reason) => self.problem(&m.path, Some(&plain), reason),
        }
        match self.output_error.take() {
            Some(e) => Err(RestoreError::Output(e)),
            None => Ok(()),
        }
    }

    /// A stream member before the config: kept in memory, or the config.
    fn before_config(&mut self, m: Member<'_>) -> Result<(), RestoreError> {
        let mut data = Vec::new();
        if m.kind == Kind::File {
            let room = MAX_BEFORE_CONFIG.saturating_sub(self.held_bytes) as u64 + 1;
            m.data.take(room).read_to_end(&mut data).map_err(|source| {
                RestoreError::Source(SourceError::Read {
                    path: pathbuf(self.source_name.as_bytes()),
                    source,
                })
            })?;
        }
        if m.path == V6_NAME.as_bytes() {
            let Vol::Pending(unlock) = &mut self.vol else {
                unreachable!("only called while pending");
            };
            let vol = unlock(&data)?;
            self.vol = Vol::Owned(Box::new(vol));
            self.volume_ready();
            for h in std::mem::take(&mut self.held) {
                let mut data = &h.data[..];
                self.member(Member {
                    path: h.path,
                    kind: h.kind,
                    meta: h.meta,
                    data: &mut data,
                })?;
            }
            return Ok(());
        }
        self.held_bytes += data.len() + m.path.len() + 64;
        if self.held_bytes > MAX_BEFORE_CONFIG {
            return Err(RestoreError::ConfigTooLate(self.source_name.clone()));
        }
        self.held.push(Held {
            path: m.path,
            kind: m.kind,
            meta: m.meta,
            data,
        });
        Ok(())
    }

    /// The plaintext path and name IV of a cipher path (directories cached).
    fn decode(&mut self, cipher: &[u8], is_dir: bool) -> Result<(Vec<u8>, u64), EntryError> {
        let vol = match &self.vol {
            Vol::Borrowed(v) => *v,
            Vol::Owned(v) => v,
            Vol::Pending(_) => unreachable!("decode needs the key"),
        };
        let (dir, name) = match cipher.iter().rposition(|&b| b == b'/') {
            Some(i) => (&cipher[..i], &cipher[i + 1..]),
            None => (&b""[..], cipher),
        };
        let parent = if dir.is_empty() {
            Some((Vec::new(), 0))
        } else {
            self.dirs.get(dir).cloned()
        };
        let result = (|| {
            let (pdir, piv) = match parent {
                Some(p) => p,
                None => {
                    let (p, iv) = vol.decode_path(dir).map_err(EntryError::Name)?;
                    check_plain(&p)?;
                    (p, iv)
                }
            };
            let (pname, iv) = vol.decode_name(name, piv).map_err(EntryError::Name)?;
            check_plain(&pname)?;
            let plain = if pdir.is_empty() {
                pname
            } else {
                [&pdir[..], b"/", &pname].concat()
            };
            Ok((plain, iv))
        })();
        match &result {
            Ok((plain, iv)) => {
                self.names_ok += 1;
                if is_dir {
                    self.dirs.insert(cipher.to_vec(), (plain.clone(), *iv));
                }
            }
            Err(EntryError::Name(_)) => self.names_bad += 1,
            Err(_) => {}
        }
        result
    }

    fn entry(
        &mut self,
        kind: &Kind,
        meta: &Meta,
        data: &mut dyn Read,
        plain: &[u8],
        name_iv: u64,
    ) -> Result<(), EntryError> {
        let vol = match &self.vol {
            Vol::Borrowed(v) => *v,
            Vol::Owned(v) => v,
            Vol::Pending(_) => unreachable!("entries need the key"),
        };
        if let Action::List(out) = &mut self.action {
            let (size, target) = match kind {
                Kind::File => (
                    vol.layout()
                        .plain_size(CipherSize(meta.size))
                        .map(|s| s.0)
                        .unwrap_or(0),
                    None,
                ),
                Kind::Symlink(t) => {
                    let t = vol.decode_link(t).map_err(EntryError::Link)?;
                    (t.len() as u64, Some(t))
                }
                Kind::HardLink(first) => {
                    let (p, _) = vol.decode_path(first).map_err(EntryError::Name)?;
                    (0, Some(p))
                }
                _ => (0, None),
            };
            let listed = list::Listed {
                path: plain.to_vec(),
                kind: kind.clone(),
                meta: meta.clone(),
                size,
                target,
            };
            // A side entry that does not decrypt is listed as the file it is.
            let mut side = false;
            if *kind == Kind::File && long_names::may_be_side(plain, meta.size) {
                let mut contents = Vec::new();
                if self.buf.is_empty() {
                    self.buf = decrypt_buffer(vol);
                }
                let decrypted =
                    decrypt_stream(vol, data, meta.size, name_iv, &mut self.buf, &mut |d, _| {
                        contents.extend_from_slice(d);
                        Ok(())
                    });
                if decrypted.is_ok() {
                    side = true;
                    self.long.hold(Side {
                        path: plain.to_vec(),
                        contents,
                        meta: meta.clone(),
                    });
                }
            }
            if side || long_names::below_short(plain) {
                self.long_listed.push((listed, side));
            } else if let Err(e) = out(listed) {
                self.output_error = Some(e);
            }
            return Ok(());
        }
        let writer = match &mut self.action {
            Action::Restore(w) => Some(w),
            _ => None,
        };
        match kind {
            Kind::Dir => {
                self.report.dirs += 1;
                if let Some(w) = writer {
                    w.mkdir(plain)?;
                }
                self.dir_meta.push((plain.to_vec(), meta.clone()));
                Ok(())
            }
            Kind::File => {
                if self.buf.is_empty() {
                    self.buf = decrypt_buffer(vol);
                }
                let piece = vol.layout().data_per_block();
                let Some(w) = writer else {
                    let n = decrypt_stream(
                        vol,
                        data,
                        meta.size,
                        name_iv,
                        &mut self.buf,
                        &mut |_, _| Ok(()),
                    )
                    .map_err(EntryError::Decrypt)?;
                    self.report.files += 1;
                    self.report.bytes += n;
                    return Ok(());
                };
                if long_names::may_be_side(plain, meta.size) {
                    let mut contents = Vec::new();
                    decrypt_stream(vol, data, meta.size, name_iv, &mut self.buf, &mut |d, _| {
                        contents.extend_from_slice(d);
                        Ok(())
                    })
                    .map_err(EntryError::Decrypt)?;
                    self.long.hold(Side {
                        path: plain.to_vec(),
                        contents,
                        meta: meta.clone(),
                    });
                    return Ok(());
                }
                let out = w.create(plain)?;
                let result = decrypt_stream(
                    vol,
                    data,
                    meta.size,
                    name_iv,
                    &mut self.buf,
                    &mut |d, off| write_sparse(&out, d, off, piece),
                );
                match result {
                    Ok(n) => {
                        out.set_len(n)
                            .map_err(|e| EntryError::Decrypt(DecryptError::Write(e)))?;
                        self.report.files += 1;
                        self.report.bytes += n;
                        w.apply(plain, meta, false, Some(&out))
                            .map_err(EntryError::Meta)
                    }
                    Err(e) => {
                        let good = e.good();
                        if self.opts.strict || good == 0 || matches!(e, DecryptError::Write(_)) {
                            drop(out);
                            let _ = w.remove(plain);
                            return Err(EntryError::Decrypt(e));
                        }
                        let _ = out.set_len(good);
                        let _ = w.apply(plain, meta, false, Some(&out));
                        drop(out);
                        let name = plain.rsplit(|&b| b == b'/').next().unwrap_or(plain);
                        let new_name = [name, format!(".partial-{good}").as_bytes()].concat();
                        w.rename(plain, &new_name)?;
                        self.report.partial += 1;
                        self.report.bytes += good;
                        let kept_rel = match plain.iter().rposition(|&b| b == b'/') {
                            Some(i) => [&plain[..=i], &new_name[..]].concat(),
                            None => new_name,
                        };
                        Err(EntryError::Partial {
                            source: e,
                            good,
                            kept: w.show(&kept_rel),
                        })
                    }
                }
            }
            Kind::Symlink(t) => {
                let target = vol.decode_link(t).map_err(EntryError::Link)?;
                if let Some(w) = writer {
                    w.symlink(plain, &target)?;
                    w.apply(plain, meta, true, None).map_err(EntryError::Meta)?;
                }
                self.report.symlinks += 1;
                Ok(())
            }
            Kind::HardLink(first) => {
                let (first_plain, _) = vol.decode_path(first).map_err(EntryError::Name)?;
                if let Some(w) = writer {
                    w.hard_link(&first_plain, plain)
                        .map_err(|e| EntryError::HardLink(lossy(&first_plain), e))?;
                }
                self.report.hard_links += 1;
                Ok(())
            }
            Kind::Fifo | Kind::Socket | Kind::Char(_) | Kind::Block(_) => {
                let (flag, rdev) = match kind {
                    Kind::Fifo => (SFlag::S_IFIFO, 0),
                    Kind::Socket => (SFlag::S_IFSOCK, 0),
                    Kind::Char(d) => (SFlag::S_IFCHR, *d),
                    Kind::Block(d) => (SFlag::S_IFBLK, *d),
                    _ => unreachable!("matched above"),
                };
                if let Some(w) = writer {
                    w.special(plain, flag, rdev)?;
                    w.apply(plain, meta, false, None)
                        .map_err(EntryError::Meta)?;
                }
                self.report.specials += 1;
                Ok(())
            }
            Kind::Refused(_) => unreachable!("handled in member()"),
        }
    }
}

/// Decrypts one raw file of `raw_len` bytes whose name has chain IV
/// `name_iv`, handing each run of good plaintext and its offset to `sink`.
/// `buf` is scratch space (from [`decrypt_buffer`]). Returns the plaintext
/// length; on failure the error says how many bytes before it were good
/// (and were handed to `sink`).
pub fn decrypt_stream(
    vol: &Volume,
    input: &mut dyn Read,
    raw_len: u64,
    name_iv: u64,
    buf: &mut [u8],
    sink: &mut dyn FnMut(&[u8], u64) -> io::Result<()>,
) -> Result<u64, DecryptError> {
    let layout = *vol.layout();
    let raw = CipherSize(raw_len);
    let expected = layout.plain_size(raw).map_err(DecryptError::Size)?.0;
    let file_iv = if layout.header_len(raw) > 0 {
        let mut header = [0u8; crate::volume::content::HEADER_LEN];
        input.read_exact(&mut header).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => DecryptError::Short { good: 0, expected },
            _ => DecryptError::Read { good: 0, source: e },
        })?;
        vol.decode_header(&header, vol.external_iv(name_iv))
            .map_err(DecryptError::Header)?
    } else {
        0
    };
    let codec = vol.file_codec(file_iv);
    let b = layout.block_size();
    let mut block = 0u64;
    let mut written = 0u64;
    loop {
        let n = read_full(input, buf).map_err(|source| DecryptError::Read {
            good: written,
            source,
        })?;
        if n == 0 {
            break;
        }
        // Block by block, so that a bad block keeps every good one before it.
        let (mut out, mut start) = (0, 0);
        let mut failed = None;
        while start < n {
            let end = (start + b).min(n);
            match codec.decrypt_block(block, &mut buf[start..end]) {
                Ok(r) => {
                    let (from, len) = (start + r.start, r.len());
                    buf.copy_within(from..from + len, out);
                    out += len;
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            start = end;
            block += 1;
        }
        sink(&buf[..out], written).map_err(DecryptError::Write)?;
        written += out as u64;
        if let Some(source) = failed {
            return Err(DecryptError::Block {
                good: written,
                source,
            });
        }
        if n < buf.len() {
            break;
        }
    }
    if written != expected {
        return Err(DecryptError::Short {
            good: written.min(expected),
            expected,
        });
    }
    Ok(written)
}

/// A scratch buffer for [`decrypt_stream`].
pub fn decrypt_buffer(vol: &Volume) -> Vec<u8> {
    vec![0; BLOCKS_PER_CHUNK * vol.layout().block_size()]
}

/// Reads until `buf` is full or the end of input; returns the bytes read.
fn read_full(f: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes `data` at `offset`, leaving all-zero pieces of `piece` bytes as
/// holes (the file is extended to its size at the end).
fn write_sparse(f: &File, data: &[u8], offset: u64, piece: usize) -> io::Result<()> {
    let mut run_start: Option<usize> = None;
    let mut pos = 0;
    while pos < data.len() {
        let end = (pos + piece).min(data.len());
        let zero = is_zero(&data[pos..end]);
        match (zero, run_start) {
            (true, Some(s)) => {
                f.write_all_at(&data[s..pos], offset + s as u64)?;
                run_start = None;
            }
            (false, None) => run_start = Some(pos),
            _ => {}
        }
        pos = end;
    }
    if let Some(s) = run_start {
        f.write_all_at(&data[s..], offset + s as u64)?;
    }
    Ok(())
}

/// A decoded path must be made of ordinary names (no `.`, `..`, NUL).
fn check_plain(p: &[u8]) -> Result<(), EntryError> {
    if p.split(|&b| b == b'/')
        .any(|c| c.is_empty() || c == b"." || c == b".." || c.contains(&0))
    {
        return Err(EntryError::BadPlainName(lossy(p)));
    }
    Ok(())
}
