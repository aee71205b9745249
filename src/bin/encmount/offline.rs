//! The offline subcommands: init, info, passwd, encode, decode (restore,
//! verify, ls and cat are in restore.rs). None of them needs FUSE.

use std::fs;
use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::out::out;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use encmount::configfile::{self, ConfigFileError, WriteMode};
use encmount::escape::escape_name;
use encmount::volume::kdf::{self, calibrate_iterations};
use encmount::volume::{Config, Kdf, NameCodec, Params, Preset, Volume};

use crate::args::{ConfigArgs, PasswordArgs, random_fill};

/// Default PBKDF2 target for new configs and password changes.
const DEFAULT_KDF_MS: u32 = 1000;
const SALT_LEN: usize = 20;
const CREATOR: &str = concat!("encmount ", env!("CARGO_PKG_VERSION"));

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PresetArg {
    /// AES-256, chained names, per-file IVs derived from the path, 8-byte MACs
    Hardened,
    /// AES-192, no MACs: what `encfs --reverse` makes (byte-identical views)
    Standard,
    /// hardened + external IV chaining: hard links shown as separate files
    Paranoia,
}

impl From<PresetArg> for Preset {
    fn from(p: PresetArg) -> Self {
        match p {
            PresetArg::Hardened => Preset::Hardened,
            PresetArg::Standard => Preset::Standard,
            PresetArg::Paranoia => Preset::Paranoia,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NamesArg {
    /// nameio/block: padded AES-CBC, base64 (the default)
    Block,
    /// nameio/block32: padded AES-CBC, base32 (case-insensitive file systems)
    Block32,
    /// nameio/stream: stream cipher, base64; shortest names, leaks length
    Stream,
    /// nameio/null: names are not encrypted
    Null,
}

impl From<NamesArg> for NameCodec {
    fn from(n: NamesArg) -> Self {
        match n {
            NamesArg::Block => NameCodec::Block,
            NamesArg::Block32 => NameCodec::Block32,
            NamesArg::Stream => NameCodec::Stream,
            NamesArg::Null => NameCodec::Null,
        }
    }
}

/// Volume parameters for `init` (and for `mount --reverse` creating a config).
#[derive(Args, Debug, Clone)]
pub struct VolumeArgs {
    /// Parameter preset
    #[arg(
        long,
        value_enum,
        long_help = "Parameter preset. hardened (default): AES-256, 1 KiB blocks, \
            chained names, per-file IVs derived from the path, 8-byte block MACs \
            (stock encfs reads it, but cannot make it in reverse). standard: \
            AES-192, no chaining, no per-file IV, no MACs; identical to what \
            `encfs --reverse` makes in standard mode. paranoia: hardened plus \
            external IV chaining (the file header depends on the path); hard \
            links are then shown as separate files."
    )]
    pub preset: Option<PresetArg>,

    /// Key size in bits: 128, 192 or 256 (overrides the preset)
    #[arg(long, value_name = "BITS", value_parser = ["128", "192", "256"])]
    pub key_size: Option<String>,

    /// Block size in bytes: a multiple of 16 from 64 to 4096 (default 1024)
    #[arg(
        long,
        value_name = "BYTES",
        long_help = "Block size in bytes, MAC header included: a multiple of \
            16 from 64 to 4096. Smaller blocks keep rsync deltas smaller; larger \
            ones read faster. Default 1024."
    )]
    pub block_size: Option<u32>,

    /// File-name encoding (overrides the preset)
    #[arg(long, value_enum, value_name = "CODEC")]
    pub names: Option<NamesArg>,

    /// Time PBKDF2 to take about MS milliseconds on this machine (default 1000)
    #[arg(
        long,
        value_name = "MS",
        conflicts_with = "kdf_iterations",
        long_help = "Choose the PBKDF2 iteration count so that unlocking takes \
            about MS milliseconds on this machine (encfs's method; default 1000). \
            Stored as desiredKDFDuration, which encfs uses when it re-times."
    )]
    pub kdf_ms: Option<u32>,

    /// Use exactly N PBKDF2 iterations (instead of timing)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1000..))]
    pub kdf_iterations: Option<u32>,
}

impl VolumeArgs {
    pub fn params(&self) -> Result<Params> {
        let mut p = Preset::from(self.preset.unwrap_or(PresetArg::Hardened)).params();
        if let Some(k) = &self.key_size {
            p.key_bits = k.parse()?;
        }
        if let Some(b) = self.block_size {
            p.block_size = b;
        }
        if let Some(n) = self.names {
            p.name_codec = n.into();
            p.name_version = p.name_codec.current_version();
        }
        p.validate().context("bad volume parameters")?;
        Ok(p)
    }

    /// Whether any volume parameter was given (they only apply to a new
    /// config).
    pub fn any_given(&self) -> bool {
        self.preset.is_some()
            || self.key_size.is_some()
            || self.block_size.is_some()
            || self.names.is_some()
            || self.kdf_ms.is_some()
            || self.kdf_iterations.is_some()
    }

    /// The key derivation for a new password.
    pub fn kdf(&self) -> Result<Kdf> {
        new_kdf(self.kdf_ms, self.kdf_iterations, DEFAULT_KDF_MS)
    }
}

/// A fresh salt and an iteration count (exact, or timed like encfs).
fn new_kdf(ms: Option<u32>, iterations: Option<u32>, default_ms: u32) -> Result<Kdf> {
    let mut salt = vec![0u8; SALT_LEN];
    random_fill(&mut salt)?;
    let desired_ms = ms.unwrap_or(default_ms);
    let iterations = match iterations {
        Some(n) => n,
        None => calibrate_iterations(Duration::from_millis(desired_ms.into()), |n| {
            let t = Instant::now();
            // Time the same work a real unlock does (a 256-bit key + IV).
            let _ = kdf::derive_user_key(b"timing", &[0; SALT_LEN], n, 32);
            t.elapsed()
        }),
    };
    Ok(Kdf::Pbkdf2 {
        salt,
        iterations,
        desired_ms,
    })
}

/// Creates a new config at `path` (never overwriting); returns the volume.
pub fn create_config(path: &Path, vargs: &VolumeArgs, pw: &PasswordArgs) -> Result<Volume> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(ConfigFileError::Exists {
            path: path.to_path_buf(),
        }
        .into());
    }
    let params = vargs.params()?;
    let what = path.display().to_string();
    let password = pw.read(path.parent(), &what, true)?;
    let kdf = vargs.kdf()?;
    let mut rng_err = None;
    let volume = Volume::generate(params, |buf| rng_err = random_fill(buf).err())?;
    if let Some(e) = rng_err {
        return Err(e);
    }
    let config = volume.to_config(CREATOR, password.expose(), kdf)?;
    configfile::write(path, &config, WriteMode::CreateNew)?;
    Ok(volume)
}

#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub volume: VolumeArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Where to write the config (a directory means DIR/.encfs6.xml)
    #[arg(allow_hyphen_values = true)]
    pub config: PathBuf,
}

pub fn init(a: &InitArgs) -> Result<()> {
    let path = if a.config.is_dir() {
        a.config.join(configfile::V6_NAME)
    } else {
        a.config.clone()
    };
    create_config(&path, &a.volume, &a.password)?;
    let config = configfile::load(&configfile::Located {
        path: path.clone(),
        format: encmount::volume::ConfigFormat::V6,
    })?;
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "encmount: created {}", path.display());
    let _ = write!(err, "{}", describe(&path, &config));
    let _ = writeln!(
        err,
        "encmount: keep a copy of this config and its password apart from the \
         backups; without both, the backups cannot be decrypted."
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// A config file, or a volume root to look up as encfs does
    #[arg(allow_hyphen_values = true)]
    pub config: PathBuf,
}

pub fn info(a: &InfoArgs) -> Result<()> {
    let cfg_args = ConfigArgs {
        config: (!a.config.is_dir()).then(|| a.config.clone()),
    };
    let root = a.config.is_dir().then_some(a.config.as_path());
    let (located, config) = cfg_args.load(root)?;
    out!("{}", describe(&located.path, &config))?;
    Ok(())
}

/// The human description of a config, as `info` prints it.
fn describe(path: &Path, c: &Config) -> String {
    let p = &c.params;
    let layout = p.layout().expect("validated on load");
    let yes = |b: bool| if b { "yes" } else { "no" };
    let kdf = match &c.kdf {
        Kdf::Pbkdf2 {
            salt,
            iterations,
            desired_ms,
        } => format!(
            "PBKDF2-HMAC-SHA1, {iterations} iterations, {}-byte salt (target {desired_ms} ms)",
            salt.len()
        ),
        Kdf::Legacy => "legacy unsalted SHA-1 (old config)".into(),
    };
    let reverse = if p.stock_reverse_compatible() {
        "encmount and stock encfs --reverse".to_string()
    } else {
        "encmount only (stock encfs --reverse refuses MACs and chained IVs)".to_string()
    };
    format!(
        "Config:            {} ({:?}, version {}, created by {})\n\
         Cipher:            AES, {}-bit key (ssl/aes {}:{})\n\
         Block size:        {} bytes ({} data + {} MAC header)\n\
         File names:        {} {}:{}, chained IVs: {}\n\
         Per-file IV:       {}, external IV chaining: {}\n\
         Block MAC:         {} bytes + {} random bytes\n\
         File holes:        {}\n\
         Key derivation:    {kdf}\n\
         Reverse views:     {reverse}\n",
        path.display(),
        c.format,
        c.sub_version,
        if c.creator.is_empty() {
            "?"
        } else {
            &c.creator
        },
        p.key_bits,
        p.cipher_version.0,
        p.cipher_version.1,
        p.block_size,
        layout.data_per_block(),
        layout.overhead(),
        p.name_codec.interface_name(),
        p.name_version.0,
        p.name_version.1,
        yes(p.chained_name_iv),
        yes(p.unique_iv),
        yes(p.external_iv_chaining),
        p.block_mac_bytes,
        p.block_mac_rand_bytes,
        if p.allow_holes {
            "passed through"
        } else {
            "encrypted"
        },
    )
}

#[derive(Args, Debug)]
pub struct PasswdArgs {
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Read the new password from the first line of FILE
    #[arg(
        long,
        value_name = "FILE",
        group = "new_password",
        allow_hyphen_values = true
    )]
    pub new_password_file: Option<PathBuf>,
    /// Read the new password as one line from standard input (after the old one, if --stdinpass)
    #[arg(long, group = "new_password")]
    pub new_stdinpass: bool,
    /// Run COMMAND with `sh -c`; the first line it prints is the new password
    #[arg(long, value_name = "COMMAND", group = "new_password")]
    pub new_extpass: Option<String>,
    /// Re-time PBKDF2 to MS milliseconds (default: the config's desiredKDFDuration)
    #[arg(long, value_name = "MS", conflicts_with = "kdf_iterations")]
    pub kdf_ms: Option<u32>,
    /// Use exactly N PBKDF2 iterations
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1000..))]
    pub kdf_iterations: Option<u32>,
    /// The config file, or a volume root holding .encfs6.xml
    #[arg(allow_hyphen_values = true)]
    pub config: PathBuf,
}

pub fn passwd(a: &PasswdArgs) -> Result<()> {
    let (cfg_args, root) = if a.config.is_dir() {
        (ConfigArgs::default(), Some(a.config.as_path()))
    } else {
        (
            ConfigArgs {
                config: Some(a.config.clone()),
            },
            None,
        )
    };
    let opened = cfg_args.open(root, &a.password)?;
    if opened.config.format != encmount::volume::ConfigFormat::V6 {
        bail!(
            "{} is an old {:?} config; encmount changes passwords of V6 configs only",
            opened.path.display(),
            opened.config.format
        );
    }
    let new = PasswordArgs {
        password_file: a.new_password_file.clone(),
        stdinpass: a.new_stdinpass,
        extpass: a.new_extpass.clone(),
        extpass_timeout: a.password.extpass_timeout,
    };
    let what = opened.path.display().to_string();
    let new_password = new.read(opened.path.parent(), &what, true)?;
    let default_ms = match &opened.config.kdf {
        Kdf::Pbkdf2 { desired_ms, .. } => *desired_ms,
        Kdf::Legacy => DEFAULT_KDF_MS,
    };
    let kdf = new_kdf(a.kdf_ms, a.kdf_iterations, default_ms)?;
    let mut config = opened
        .volume
        .to_config(&opened.config.creator, new_password.expose(), kdf)?;
    config.creator = opened.config.creator.clone();
    configfile::write(&opened.path, &config, WriteMode::Replace)?;
    encmount::report::print_error(
        "encmount",
        &format!("password of {} changed", opened.path.display()),
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct CodecArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// The volume root (where .encfs6.xml is looked up; default: current directory)
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    pub root: Option<PathBuf>,
    /// Separate paths by NUL, not newline, on standard input and output, unescaped
    #[arg(
        short = '0',
        long = "null",
        long_help = "Separate the paths by NUL bytes instead of newlines, on \
            standard input and on standard output, and print names exactly as \
            they are. Without it, each output path is one line, with control \
            characters, backslashes and bytes that are not UTF-8 escaped \
            (\\n, \\t, \\\\, \\xNN), so that a name holding a newline or \
            an escape sequence cannot break lines or the terminal."
    )]
    pub null: bool,
    /// Paths relative to the volume root (default: one per line on standard input)
    #[arg(
        value_name = "PATH",
        allow_hyphen_values = true,
        long_help = "Paths relative to the volume root (default: read from \
            standard input, one per line, or NUL-separated with -0). A path \
            may begin with `-` (cipher names do): it is still a path, unless \
            it is one of the options above."
    )]
    pub paths: Vec<PathBuf>,
}

/// `encode` (plain -> cipher) or `decode` (cipher -> plain).
pub fn codec(a: &CodecArgs, encode: bool) -> Result<()> {
    let root = a.root.clone().unwrap_or_else(|| PathBuf::from("."));
    let opened = a.config.open(Some(&root), &a.password)?;
    let vol = &opened.volume;
    let mut paths: Vec<Vec<u8>> = a
        .paths
        .iter()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .collect();
    let sep = if a.null { b'\0' } else { b'\n' };
    if a.paths.is_empty() {
        for line in io::stdin().lock().split(sep) {
            paths.push(line?);
        }
    }
    let mut out = io::stdout().lock();
    let mut failed = 0;
    for p in paths {
        let result = if encode {
            Ok(match p.strip_prefix(b"/") {
                // An absolute path is a symlink target (format §6.8).
                Some(_) => vol.encode_link(&p),
                None => vol.encode_path(&p).0,
            })
        } else if p.starts_with(b"+") {
            vol.decode_link(&p)
        } else {
            vol.decode_path(&p).map(|(d, _)| d)
        };
        match result {
            Ok(text) if a.null => {
                out.write_all(&text)?;
                out.write_all(b"\0")?;
            }
            Ok(text) => {
                out.write_all(&escape_name(&text))?;
                out.write_all(b"\n")?;
            }
            Err(e) => {
                failed += 1;
                encmount::report::print_error(
                    "encmount",
                    &format!(
                        "cannot {} {}: {e}",
                        if encode { "encode" } else { "decode" },
                        String::from_utf8_lossy(&escape_name(&p))
                    ),
                );
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        bail!(
            "{failed} path(s) did not decode (wrong password, or not a full path from the root?)"
        );
    }
    Ok(())
}
