//! Offline restore and verify (design §5): a cipher tree (a backup of a
//! reverse view, or a forward encfs directory) back to plaintext, without
//! FUSE.
//!
//! Problems with single entries (an undecodable name, a MAC failure, a
//! truncated file) are collected in the [`Report`] and the walk goes on;
//! a file that fails to decrypt is never left behind as if it were good.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{AT_FDCWD, AtFlags};
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchownat};

use crate::configfile::{V6_NAME, open_nofollow};
use crate::volume::content::is_zero;
use crate::volume::names::long::{self, Resolution};
use crate::volume::{CipherSize, Volume};

/// Blocks decrypted per read.
const BLOCKS_PER_CHUNK: usize = 1024;
/// Config names hidden in a volume root (format §6.7).
const ROOT_CONFIG_NAMES: [&str; 3] = [V6_NAME, ".encfs5", ".encfs4"];

/// What to restore and how.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Write into a non-empty destination, replacing what is in the way.
    pub force: bool,
    /// Restore owners (needs root).
    pub owners: bool,
    /// Print progress to stderr.
    pub progress: bool,
    /// Cipher paths relative to the cipher root; empty = everything.
    pub paths: Vec<PathBuf>,
}

/// One entry that could not be restored or verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The cipher path, relative to the cipher root.
    pub cipher: PathBuf,
    /// The plaintext path, when the name decoded.
    pub plain: Option<PathBuf>,
    /// What went wrong.
    pub reason: String,
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
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Regular files decrypted.
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
    /// Entries that failed.
    pub problems: Vec<Problem>,
}

/// Failures that stop the whole run.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The cipher directory cannot be read.
    #[error("cannot read cipher directory {path}: {source}")]
    CipherRoot {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
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
    /// A selected cipher path that cannot be restored on its own.
    #[error("cannot select {path}: {reason}")]
    Selection {
        /// The cipher path as given.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Decrypts `cipher_root` into `dest`.
pub fn restore(
    vol: &Volume,
    cipher_root: &Path,
    dest: &Path,
    opts: &Options,
) -> Result<Report, RestoreError> {
    prepare_dest(dest, opts.force)?;
    Walker::new(vol, cipher_root, Some(dest), opts).run()
}

/// Decrypts `cipher_root` to nowhere, checking every name, link and block.
pub fn verify(vol: &Volume, cipher_root: &Path, opts: &Options) -> Result<Report, RestoreError> {
    Walker::new(vol, cipher_root, None, opts).run()
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

/// One entry to visit: where it is, what it decodes to, its name IV.
struct Entry {
    cipher_rel: PathBuf,
    plain_rel: PathBuf,
    name_iv: u64,
    meta: Metadata,
}

struct Walker<'a> {
    vol: &'a Volume,
    cipher_root: &'a Path,
    dest: Option<&'a Path>,
    opts: &'a Options,
    report: Report,
    /// (dev, ino) of hard-linked cipher files -> first plaintext path.
    linked: HashMap<(u64, u64), PathBuf>,
    buf: Vec<u8>,
    last_progress: Instant,
}

impl<'a> Walker<'a> {
    fn new(
        vol: &'a Volume,
        cipher_root: &'a Path,
        dest: Option<&'a Path>,
        opts: &'a Options,
    ) -> Self {
        Self {
            vol,
            cipher_root,
            dest,
            opts,
            report: Report::default(),
            linked: HashMap::new(),
            buf: decrypt_buffer(vol),
            last_progress: Instant::now(),
        }
    }

    fn run(mut self) -> Result<Report, RestoreError> {
        let root_meta =
            fs::metadata(self.cipher_root).map_err(|source| RestoreError::CipherRoot {
                path: self.cipher_root.to_path_buf(),
                source,
            })?;
        if self.opts.paths.is_empty() {
            self.walk_dir(Path::new(""), Path::new(""), 0)?;
            self.finish_dir(Path::new(""), &root_meta);
        } else {
            for sel in self.opts.paths.clone() {
                let entry = self.select(&sel)?;
                if let (Some(dest), Some(parent)) = (self.dest, entry.plain_rel.parent()) {
                    fs::create_dir_all(dest.join(parent)).map_err(|source| RestoreError::Dest {
                        path: dest.join(parent),
                        source,
                    })?;
                }
                self.visit(entry)?;
            }
        }
        if self.opts.progress {
            eprintln!();
        }
        Ok(self.report)
    }

    /// Resolves a selected cipher path to an entry.
    fn select(&self, sel: &Path) -> Result<Entry, RestoreError> {
        let bad = |reason: &str| RestoreError::Selection {
            path: sel.to_path_buf(),
            reason: reason.to_string(),
        };
        let rel = sel.strip_prefix(self.cipher_root).unwrap_or(sel);
        let rel_bytes = rel.as_os_str().as_bytes();
        if rel.is_absolute()
            || rel_bytes
                .split(|&b| b == b'/')
                .any(|c| c == b".." || c == b".")
        {
            return Err(bad(
                "give a path relative to the cipher directory, without . or ..",
            ));
        }
        let (plain, name_iv) = self
            .vol
            .decode_path(rel_bytes)
            .map_err(|e| bad(&format!("{e} (give the full path from the cipher root)")))?;
        let meta =
            fs::symlink_metadata(self.cipher_root.join(rel)).map_err(|e| bad(&e.to_string()))?;
        Ok(Entry {
            cipher_rel: rel.to_path_buf(),
            plain_rel: PathBuf::from(OsString::from_vec(plain)),
            name_iv,
            meta,
        })
    }

    fn problem(&mut self, cipher: &Path, plain: Option<&Path>, reason: impl Into<String>) {
        self.report.problems.push(Problem {
            cipher: cipher.to_path_buf(),
            plain: plain.map(Path::to_path_buf),
            reason: reason.into(),
        });
    }

    fn walk_dir(
        &mut self,
        cipher_rel: &Path,
        plain_rel: &Path,
        dir_iv: u64,
    ) -> Result<(), RestoreError> {
        let dir = self.cipher_root.join(cipher_rel);
        let mut names: Vec<OsString> = match fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
            Err(e) if cipher_rel.as_os_str().is_empty() => {
                return Err(RestoreError::CipherRoot {
                    path: dir,
                    source: e,
                });
            }
            Err(e) => {
                self.problem(
                    cipher_rel,
                    Some(plain_rel),
                    format!("cannot list directory: {e}"),
                );
                return Ok(());
            }
        };
        names.sort();
        let at_root = cipher_rel.as_os_str().is_empty();
        names.retain(|name| !(at_root && ROOT_CONFIG_NAMES.iter().any(|n| OsStr::new(n) == name)));
        let decoded: Vec<_> = names
            .iter()
            .map(|name| self.vol.decode_name(name.as_bytes(), dir_iv))
            .collect();
        let long_names = self.resolve_long_names(cipher_rel, &names, &decoded);
        for (name, decoded) in names.iter().zip(decoded) {
            let c_rel = cipher_rel.join(name);
            let (plain_name, name_iv) = match decoded {
                Ok(d) => d,
                Err(e) => {
                    self.problem(&c_rel, None, format!("cannot decode name: {e}"));
                    continue;
                }
            };
            if long_names.is_side(&plain_name) {
                continue;
            }
            let plain_name = long_names
                .full_name(&plain_name)
                .map_or(plain_name.clone(), <[u8]>::to_vec);
            let meta = match fs::symlink_metadata(self.cipher_root.join(&c_rel)) {
                Ok(m) => m,
                Err(e) => {
                    self.problem(&c_rel, None, e.to_string());
                    continue;
                }
            };
            self.visit(Entry {
                cipher_rel: c_rel,
                plain_rel: plain_rel.join(OsStr::from_bytes(&plain_name)),
                name_iv,
                meta,
            })?;
        }
        Ok(())
    }

    /// The long names of one cipher directory (`volume::names::long`):
    /// short names with a side entry that holds their full name. A side
    /// entry that does not decrypt leaves its short name as it is (and is
    /// then restored, and reported, as an ordinary file).
    fn resolve_long_names(
        &self,
        cipher_rel: &Path,
        names: &[OsString],
        decoded: &[Result<(Vec<u8>, u64), crate::volume::Error>],
    ) -> Resolution {
        let plain = || {
            decoded
                .iter()
                .filter_map(|d| d.as_ref().ok().map(|(p, _)| &p[..]))
        };
        if !plain().any(long::is_short) {
            return Resolution::default();
        }
        let read_side = |side: &[u8]| {
            let i = decoded
                .iter()
                .position(|d| d.as_ref().is_ok_and(|(p, _)| p == side))?;
            let (_, name_iv) = decoded[i].as_ref().ok()?;
            read_small_file(
                self.vol,
                &self.cipher_root.join(cipher_rel).join(&names[i]),
                *name_iv,
            )
        };
        long::resolve(plain(), read_side, |s, f| self.vol.is_short_name_of(s, f))
    }

    fn visit(&mut self, e: Entry) -> Result<(), RestoreError> {
        self.progress();
        let ft = e.meta.file_type();
        let outcome = if ft.is_dir() {
            self.report.dirs += 1;
            if let Err(err) = self.make_dir(&e.plain_rel) {
                self.problem(&e.cipher_rel, Some(&e.plain_rel), err.to_string());
                return Ok(());
            }
            self.walk_dir(&e.cipher_rel, &e.plain_rel, e.name_iv)?;
            self.finish_dir(&e.plain_rel, &e.meta);
            return Ok(());
        } else if ft.is_file() {
            self.restore_file(&e)
        } else if ft.is_symlink() {
            self.restore_symlink(&e)
        } else {
            self.restore_special(&e)
        };
        match outcome {
            Ok(()) => self.apply_meta(&e.plain_rel, &e.meta),
            Err(reason) => self.problem(&e.cipher_rel, Some(&e.plain_rel), reason),
        }
        Ok(())
    }

    fn dest_path(&self, plain_rel: &Path) -> Option<PathBuf> {
        self.dest.map(|d| d.join(plain_rel))
    }

    fn make_dir(&self, plain_rel: &Path) -> io::Result<()> {
        let Some(path) = self.dest_path(plain_rel) else {
            return Ok(());
        };
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) if self.opts.force => {
                fs::remove_file(&path)?;
                fs::create_dir(&path)
            }
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a directory",
            )),
            Err(_) => fs::create_dir(&path),
        }
    }

    /// Makes room for a new non-directory at `path`.
    fn clear_place(&self, path: &Path) -> Result<(), String> {
        match fs::symlink_metadata(path) {
            Err(_) => Ok(()),
            Ok(m) if m.is_dir() => Err("a directory is in the way".into()),
            Ok(_) if self.opts.force => fs::remove_file(path).map_err(|e| e.to_string()),
            Ok(_) => Err("already exists (use --force)".into()),
        }
    }

    fn restore_file(&mut self, e: &Entry) -> Result<(), String> {
        let key = (e.meta.dev(), e.meta.ino());
        if e.meta.nlink() > 1
            && let Some(first) = self.linked.get(&key).cloned()
        {
            self.report.hard_links += 1;
            if let (Some(from), Some(to)) = (self.dest_path(&first), self.dest_path(&e.plain_rel)) {
                self.clear_place(&to)?;
                fs::hard_link(from, to).map_err(|err| format!("cannot make hard link: {err}"))?;
            }
            return Ok(());
        }
        let out_path = self.dest_path(&e.plain_rel);
        let out = match &out_path {
            Some(p) => {
                self.clear_place(p)?;
                let f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(p)
                    .map_err(|err| format!("cannot create: {err}"))?;
                Some(f)
            }
            None => None,
        };
        let result = self.decrypt_file(e, out.as_ref());
        if let Err(reason) = result {
            if let Some(p) = &out_path {
                // Never leave wrong or partial bytes behind as if they were good.
                let _ = fs::remove_file(p);
            }
            return Err(reason);
        }
        self.report.files += 1;
        if e.meta.nlink() > 1 {
            self.linked.insert(key, e.plain_rel.clone());
        }
        Ok(())
    }

    fn decrypt_file(&mut self, e: &Entry, out: Option<&File>) -> Result<(), String> {
        let mut input =
            open_nofollow(&self.cipher_root.join(&e.cipher_rel)).map_err(|err| err.to_string())?;
        let d = self.vol.layout().data_per_block();
        let written = decrypt_stream(
            self.vol,
            &mut input,
            e.meta.len(),
            e.name_iv,
            &mut self.buf,
            &mut |data, off| match out {
                Some(f) => write_sparse(f, data, off, d),
                None => Ok(()),
            },
        )?;
        if let Some(f) = out {
            f.set_len(written)
                .map_err(|err| format!("write error: {err}"))?;
        }
        self.report.bytes += written;
        Ok(())
    }

    fn restore_symlink(&mut self, e: &Entry) -> Result<(), String> {
        let raw =
            fs::read_link(self.cipher_root.join(&e.cipher_rel)).map_err(|err| err.to_string())?;
        let target = self
            .vol
            .decode_link(raw.as_os_str().as_bytes())
            .map_err(|err| format!("cannot decode link target: {err}"))?;
        if let Some(p) = self.dest_path(&e.plain_rel) {
            self.clear_place(&p)?;
            std::os::unix::fs::symlink(OsStr::from_bytes(&target), &p)
                .map_err(|err| err.to_string())?;
        }
        self.report.symlinks += 1;
        Ok(())
    }

    fn restore_special(&mut self, e: &Entry) -> Result<(), String> {
        let ft = e.meta.file_type();
        let kind = if ft.is_fifo() {
            SFlag::S_IFIFO
        } else if ft.is_socket() {
            SFlag::S_IFSOCK
        } else if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else {
            return Err("unknown file type".into());
        };
        if let Some(p) = self.dest_path(&e.plain_rel) {
            self.clear_place(&p)?;
            mknod(&p, kind, Mode::from_bits_truncate(0o600), e.meta.rdev())
                .map_err(|err| err.to_string())?;
        }
        self.report.specials += 1;
        Ok(())
    }

    /// Directory metadata goes on after its contents (mtimes).
    fn finish_dir(&mut self, plain_rel: &Path, meta: &Metadata) {
        self.apply_meta(plain_rel, meta);
    }

    fn apply_meta(&mut self, plain_rel: &Path, meta: &Metadata) {
        let Some(path) = self.dest_path(plain_rel) else {
            return;
        };
        let is_link = meta.file_type().is_symlink();
        let mut errors = Vec::new();
        if self.opts.owners
            && let Err(e) = fchownat(
                AT_FDCWD,
                &path,
                Some(Uid::from_raw(meta.uid())),
                Some(Gid::from_raw(meta.gid())),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
        {
            errors.push(format!("chown: {e}"));
        }
        if !is_link {
            // After chown, which clears set-id bits.
            let mode = fs::Permissions::from_mode(meta.mode() & 0o7777);
            if let Err(e) = fs::set_permissions(&path, mode) {
                errors.push(format!("chmod: {e}"));
            }
        }
        let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
        let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
        if let Err(e) = utimensat(
            AT_FDCWD,
            &path,
            &atime,
            &mtime,
            UtimensatFlags::NoFollowSymlink,
        ) {
            errors.push(format!("set times: {e}"));
        }
        if !errors.is_empty() {
            let reason = format!("metadata not restored: {}", errors.join(", "));
            self.problem(Path::new("-"), Some(plain_rel), reason);
        }
    }

    fn progress(&mut self) {
        if self.opts.progress && self.last_progress.elapsed() >= Duration::from_millis(250) {
            self.last_progress = Instant::now();
            eprint!(
                "\rencmount: {} files, {} dirs, {} MiB",
                self.report.files,
                self.report.dirs,
                self.report.bytes >> 20
            );
        }
    }
}

/// Decrypts one raw file of `raw_len` bytes whose name has chain IV
/// `name_iv`, handing each run of plaintext and its offset to `sink`.
/// `buf` is scratch space (a multiple of the block size). Returns the
/// plaintext length; errors are one-line reasons.
pub fn decrypt_stream(
    vol: &Volume,
    input: &mut File,
    raw_len: u64,
    name_iv: u64,
    buf: &mut [u8],
    sink: &mut dyn FnMut(&[u8], u64) -> io::Result<()>,
) -> Result<u64, String> {
    let layout = *vol.layout();
    let raw = CipherSize(raw_len);
    let plain_size = layout.plain_size(raw).map_err(|err| err.to_string())?;
    let file_iv = if layout.header_len(raw) > 0 {
        let mut header = [0u8; crate::volume::content::HEADER_LEN];
        input
            .read_exact(&mut header)
            .map_err(|err| format!("cannot read header: {err}"))?;
        vol.decode_header(&header, vol.external_iv(name_iv))
            .map_err(|err| err.to_string())?
    } else {
        0
    };
    let codec = vol.file_codec(file_iv);
    let mut block = 0u64;
    let mut written = 0u64;
    loop {
        let n = read_full(input, buf).map_err(|err| format!("read error: {err}"))?;
        if n == 0 {
            break;
        }
        let len = codec
            .decrypt_in_place(block, &mut buf[..n])
            .map_err(|err| format!("{err} (file not restored)"))?;
        sink(&buf[..len], written).map_err(|err| format!("write error: {err}"))?;
        written += len as u64;
        block += n.div_ceil(layout.block_size()) as u64;
        if n < buf.len() {
            break;
        }
    }
    if written != plain_size.0 {
        return Err(format!(
            "file changed while reading: {written} bytes decrypted, {} expected",
            plain_size.0
        ));
    }
    Ok(written)
}

/// The plaintext of a small cipher file (a long name's side entry); `None`
/// if it is not a regular file, is larger than a name can be, or does not
/// decrypt.
pub fn read_small_file(vol: &Volume, path: &Path, name_iv: u64) -> Option<Vec<u8>> {
    let mut input = open_nofollow(path).ok()?;
    let meta = input.metadata().ok()?;
    if !meta.is_file() || meta.len() > 64 * 1024 {
        return None;
    }
    let mut buf = vec![0; vol.layout().block_size()];
    let mut out = Vec::new();
    decrypt_stream(
        vol,
        &mut input,
        meta.len(),
        name_iv,
        &mut buf,
        &mut |d, _| {
            out.extend_from_slice(d);
            Ok(())
        },
    )
    .ok()?;
    Some(out)
}

/// A scratch buffer for [`decrypt_stream`].
pub fn decrypt_buffer(vol: &Volume) -> Vec<u8> {
    vec![0; BLOCKS_PER_CHUNK * vol.layout().block_size()]
}

/// Reads until `buf` is full or the end of file; returns the bytes read.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
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
