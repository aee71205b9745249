//! Reading a cipher file as plaintext for the forward view (format §7.7):
//! the file IV is read once per open handle, each read decrypts the whole
//! blocks it covers, and a file that does not decrypt fails the read
//! instead of giving wrong bytes.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::OnceLock;

use nix::sys::stat::FileStat;

use crate::view::shared::read_at_full;
use crate::view::source;
use crate::volume::content::HEADER_LEN;
use crate::volume::{CipherSize, PlainOff, Volume};

/// Reads of a file that changes under them are retried this often.
const READ_TRIES: usize = 3;

/// Why a read failed.
pub enum ReadError {
    /// The cipher file could not be read (its errno goes to the caller).
    Io(io::Error),
    /// The file does not decrypt: a bad header, a MAC mismatch, an
    /// impossible size. The reason is for the log.
    Corrupt(String),
    /// The cipher file kept changing through every try (EIO; a later read
    /// may succeed).
    Unsettled,
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn corrupt(e: crate::volume::Error) -> ReadError {
    ReadError::Corrupt(e.to_string())
}

/// A cipher file opened through the view.
pub struct OpenFile {
    file: File,
    /// The node the file was opened as.
    pub id: u64,
    /// The seed of its header (format §7.1).
    external_iv: u64,
    /// Its file IV, once the header was read.
    file_iv: OnceLock<u64>,
}

impl OpenFile {
    /// Wraps an opened cipher file whose header seed is `external_iv`, and
    /// reads its file IV. A file whose size is impossible, or whose header
    /// does not decode, is [`ReadError::Corrupt`] already here: a corrupt
    /// file shown as empty must fail too, and the kernel reads nothing of
    /// an empty file.
    pub fn new(file: File, id: u64, vol: &Volume, external_iv: u64) -> Result<Self, ReadError> {
        let f = Self {
            file,
            id,
            external_iv,
            file_iv: OnceLock::new(),
        };
        let raw = CipherSize(source::stat_fd(f.file.as_fd())?.st_size as u64);
        vol.layout().plain_size(raw).map_err(corrupt)?;
        f.file_iv(vol, raw)?;
        Ok(f)
    }

    /// `size` bytes of plaintext at `offset` (fewer at end of file).
    pub fn read(&self, vol: &Volume, offset: u64, size: usize) -> Result<Vec<u8>, ReadError> {
        for _ in 0..READ_TRIES {
            let before = source::stat_fd(self.file.as_fd())?;
            let raw = CipherSize(before.st_size as u64);
            let plan = vol
                .layout()
                .plan_decrypt(PlainOff(offset), size, raw)
                .map_err(corrupt)?;
            if plan.len == 0 {
                return Ok(Vec::new());
            }
            let file_iv = self.file_iv(vol, raw)?;
            let mut buf = vec![0u8; (plan.raw.end - plan.raw.start) as usize];
            let got = read_at_full(&self.file, &mut buf, plan.raw.start)?;
            let after = source::stat_fd(self.file.as_fd())?;
            // A block read while it is rewritten would not decrypt: retry.
            if got != buf.len() || changed(&before, &after) {
                continue;
            }
            let n = vol
                .file_codec(file_iv)
                .decrypt_in_place(plan.first_block, &mut buf)
                .map_err(corrupt)?;
            if n < plan.skip + plan.len {
                return Err(ReadError::Corrupt(
                    "a block is shorter than its size says".into(),
                ));
            }
            buf.copy_within(plan.skip..plan.skip + plan.len, 0);
            buf.truncate(plan.len);
            return Ok(buf);
        }
        Err(ReadError::Unsettled)
    }

    /// The file IV from the header of a raw file of `raw` bytes, read once
    /// (an empty file gets its header later, when it is written).
    fn file_iv(&self, vol: &Volume, raw: CipherSize) -> Result<u64, ReadError> {
        if vol.layout().header_len(raw) == 0 {
            return Ok(0);
        }
        if let Some(&iv) = self.file_iv.get() {
            return Ok(iv);
        }
        let mut header = [0u8; HEADER_LEN];
        if read_at_full(&self.file, &mut header, 0)? < HEADER_LEN {
            return Err(ReadError::Corrupt(
                "file is shorter than its 8-byte header".into(),
            ));
        }
        let iv = vol
            .decode_header(&header, self.external_iv)
            .map_err(corrupt)?;
        Ok(*self.file_iv.get_or_init(|| iv))
    }
}

fn changed(a: &FileStat, b: &FileStat) -> bool {
    a.st_size != b.st_size || a.st_mtime != b.st_mtime || a.st_mtime_nsec != b.st_mtime_nsec
}
