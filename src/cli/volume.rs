//! `--preset`, `--key-size`, `--block-size`, `--names`, `--kdf-*`: the
//! parameters of a new volume (`init`, and `mount --reverse` creating a
//! config).

use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::init::{MIN_KDF_ITERATIONS, NAME_CODECS, NewVolume, PRESETS};
use crate::volume::{NameCodec, Preset};

/// Volume parameters for `init` (and for `mount --reverse` creating a config).
#[derive(Args, Debug, Clone)]
pub struct VolumeArgs {
    /// Parameter preset
    #[arg(
        long,
        value_parser = preset_parser(),
        long_help = "Parameter preset. hardened (default): AES-256, 1 KiB blocks, \
            chained names, per-file IVs derived from the path, 8-byte block MACs \
            (stock encfs reads it, but cannot make it in reverse). standard: \
            AES-192, no chaining, no per-file IV, no MACs; identical to what \
            `encfs --reverse` makes in standard mode. paranoia: hardened plus \
            external IV chaining (the file header depends on the path); hard \
            links are then shown as separate files."
    )]
    pub preset: Option<Preset>,

    /// Key size in bits: 128, 192 or 256 (overrides the preset)
    #[arg(long, value_name = "BITS", value_parser = key_size_parser())]
    pub key_size: Option<u32>,

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
    #[arg(long, value_name = "CODEC", value_parser = names_parser())]
    pub names: Option<NameCodec>,

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
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(i64::from(MIN_KDF_ITERATIONS)..))]
    pub kdf_iterations: Option<u32>,
}

impl VolumeArgs {
    /// The new volume these options describe.
    pub fn new_volume(&self) -> NewVolume {
        NewVolume {
            preset: self.preset,
            key_bits: self.key_size,
            block_size: self.block_size,
            names: self.names,
            kdf_ms: self.kdf_ms,
            kdf_iterations: self.kdf_iterations,
        }
    }

    /// These options set from `new` (the inverse of [`Self::new_volume`]).
    pub fn from_new_volume(new: &NewVolume) -> Self {
        Self {
            preset: new.preset,
            key_size: new.key_bits,
            block_size: new.block_size,
            names: new.names,
            kdf_ms: new.kdf_ms,
            kdf_iterations: new.kdf_iterations,
        }
    }
}

/// `--preset NAME`, by the names [`PRESETS`] gives.
fn preset_parser() -> impl TypedValueParser<Value = Preset> {
    let help = |p| match p {
        Preset::Hardened => {
            "AES-256, chained names, per-file IVs derived from the path, 8-byte MACs"
        }
        Preset::Standard => "AES-192, no MACs: what `encfs --reverse` makes (byte-identical views)",
        Preset::Paranoia => "hardened + external IV chaining: hard links shown as separate files",
    };
    PossibleValuesParser::new(PRESETS.map(|(name, p)| PossibleValue::new(name).help(help(p)))).map(
        |name| {
            PRESETS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(PRESETS[0].1, |p| p.1)
        },
    )
}

/// `--names CODEC`, by the names [`NAME_CODECS`] gives.
fn names_parser() -> impl TypedValueParser<Value = NameCodec> {
    let help = |c| match c {
        NameCodec::Block => "nameio/block: padded AES-CBC, base64 (the default)",
        NameCodec::Block32 => {
            "nameio/block32: padded AES-CBC, base32 (case-insensitive file systems)"
        }
        NameCodec::Stream => "nameio/stream: stream cipher, base64; shortest names, leaks length",
        NameCodec::Null => "nameio/null: names are not encrypted",
    };
    PossibleValuesParser::new(NAME_CODECS.map(|(name, c)| PossibleValue::new(name).help(help(c))))
        .map(|name| {
            NAME_CODECS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(NameCodec::Block, |c| c.1)
        })
}

/// `--key-size 128|192|256`.
fn key_size_parser() -> impl TypedValueParser<Value = u32> {
    PossibleValuesParser::new(["128", "192", "256"]).map(|bits| bits.parse().unwrap_or(256))
}
