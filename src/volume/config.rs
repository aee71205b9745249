//! Volume configuration (format §2): `.encfs6.xml` read and written exactly
//! as encfs 1.9.5 lays it out, old V5/V4 binary configs read for restores,
//! and encmount's presets (design §3).

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as RFC_BASE64;

use super::Error;
use super::content::Layout;
use super::key::{IV_LEN, check_key_len};
use super::names::{NameCodec, NameScheme};

/// The only config sub-version encmount writes (format §2.3).
pub const V6_SUB_VERSION: u32 = 20100713;
/// First sub-version with a salted PBKDF2 key (format §2.3).
const FIRST_PBKDF2_SUB_VERSION: u32 = 20080816;
/// The V5 sub-version 1.9.5 accepts (format §2.6).
const V5_SUB_VERSION: u32 = 20040813;
/// Size limit for any config file we parse.
pub const MAX_CONFIG_LEN: usize = 64 * 1024;

/// Which file format a config came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigFormat {
    /// `.encfs6.xml`.
    V6,
    /// `.encfs5` (binary).
    V5,
    /// `.encfs4` (binary).
    V4,
}

/// Volume parameters: everything in a config except the wrapped key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// `ssl/aes` interface version (major, minor).
    pub cipher_version: (u32, u32),
    /// Key size in bits: 128, 192 or 256.
    pub key_bits: u32,
    /// `blockSize` in bytes, MAC header included.
    pub block_size: u32,
    /// Name codec and its interface version (major, minor).
    pub name_codec: NameCodec,
    /// `nameAlg` interface version.
    pub name_version: (u32, u32),
    /// `uniqueIV`.
    pub unique_iv: bool,
    /// `chainedNameIV`.
    pub chained_name_iv: bool,
    /// `externalIVChaining`.
    pub external_iv_chaining: bool,
    /// `blockMACBytes`.
    pub block_mac_bytes: u32,
    /// `blockMACRandBytes`.
    pub block_mac_rand_bytes: u32,
    /// `allowHoles`.
    pub allow_holes: bool,
    /// `plainData`.
    pub plain_data: bool,
}

impl Params {
    /// Key length in bytes.
    pub fn key_len(&self) -> usize {
        (self.key_bits / 8) as usize
    }

    /// The name scheme.
    pub fn name_scheme(&self) -> NameScheme {
        NameScheme {
            codec: self.name_codec,
            major: self.name_version.0,
            chained: self.chained_name_iv,
        }
    }

    /// The content layout.
    pub fn layout(&self) -> Result<Layout, Error> {
        Layout::new(
            self.block_size,
            self.block_mac_bytes,
            self.block_mac_rand_bytes,
            self.unique_iv,
            self.allow_holes,
            self.plain_data,
        )
    }

    /// Checks every field (format §2.4).
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=3).contains(&self.cipher_version.0) {
            return Err(Error::Unsupported(format!(
                "ssl/aes interface version {} (supported: 1..3)",
                self.cipher_version.0
            )));
        }
        if !self.key_bits.is_multiple_of(8) {
            return Err(Error::InvalidParams(format!(
                "key size {} bits",
                self.key_bits
            )));
        }
        check_key_len(self.key_len())?;
        NameCodec::from_interface(self.name_codec.interface_name(), self.name_version.0)?;
        let layout = self.layout()?;
        if layout.overhead() >= layout.block_size() {
            return Err(Error::InvalidParams(
                "MAC header fills the whole block".into(),
            ));
        }
        Ok(())
    }

    /// Whether stock `encfs --reverse` itself accepts these parameters
    /// (format §9.1).
    pub fn stock_reverse_compatible(&self) -> bool {
        self.block_mac_bytes == 0
            && self.block_mac_rand_bytes == 0
            && !self.chained_name_iv
            && !self.external_iv_chaining
    }
}

/// How the volume key is wrapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kdf {
    /// PBKDF2-HMAC-SHA1 (format §3.1).
    Pbkdf2 {
        /// `saltData`.
        salt: Vec<u8>,
        /// `kdfIterations`.
        iterations: u32,
        /// `desiredKDFDuration` in milliseconds.
        desired_ms: u32,
    },
    /// The unsalted legacy derivation (format §3.2).
    Legacy,
}

/// A parsed volume config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The file format it came from.
    pub format: ConfigFormat,
    /// Config sub-version.
    pub sub_version: u32,
    /// `creator` text.
    pub creator: String,
    /// Volume parameters.
    pub params: Params,
    /// `encodedKeyData`: checksum and wrapped volume key.
    pub encoded_key: Vec<u8>,
    /// Key derivation.
    pub kdf: Kdf,
}

/// encmount's volume presets (design §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// AES-256, chained names, path-derived file IVs, 8-byte MACs.
    Hardened,
    /// What `encfs --reverse` standard mode makes.
    Standard,
    /// Hardened plus external IV chaining.
    Paranoia,
}

impl Preset {
    /// The parameters of the preset.
    pub fn params(self) -> Params {
        let (key_bits, chained, unique, ext, mac) = match self {
            Self::Hardened => (256, true, true, false, 8),
            Self::Standard => (192, false, false, false, 0),
            Self::Paranoia => (256, true, true, true, 8),
        };
        Params {
            cipher_version: (3, 0),
            key_bits,
            block_size: 1024,
            name_codec: NameCodec::Block,
            name_version: NameCodec::Block.current_version(),
            unique_iv: unique,
            chained_name_iv: chained,
            external_iv_chaining: ext,
            block_mac_bytes: mac,
            block_mac_rand_bytes: 0,
            allow_holes: true,
            plain_data: false,
        }
    }
}

impl Config {
    /// Parses a config: V6 XML, or V5/V4 binary when `format` says so.
    pub fn parse(bytes: &[u8], format: ConfigFormat) -> Result<Self, Error> {
        if bytes.len() > MAX_CONFIG_LEN {
            return Err(Error::Config(format!(
                "file is {} bytes, larger than any EncFS config",
                bytes.len()
            )));
        }
        let config = match format {
            ConfigFormat::V6 => parse_v6(bytes)?,
            ConfigFormat::V5 | ConfigFormat::V4 => parse_binary(bytes, format)?,
        };
        config.params.validate()?;
        let want = config.params.key_len() + IV_LEN + super::kdf::CHECKSUM_LEN;
        if config.encoded_key.len() != want {
            return Err(Error::Config(format!(
                "encodedKeyData holds {} bytes, expected {want} for a {}-bit key",
                config.encoded_key.len(),
                config.params.key_bits
            )));
        }
        Ok(config)
    }

    /// The config as `.encfs6.xml`, laid out byte for byte as encfs 1.9.5
    /// writes it (format §2.2).
    pub fn to_xml(&self) -> String {
        let p = &self.params;
        let (salt, iterations, desired) = match &self.kdf {
            Kdf::Pbkdf2 {
                salt,
                iterations,
                desired_ms,
            } => (salt.as_slice(), *iterations, *desired_ms),
            Kdf::Legacy => (&[][..], 0, 500),
        };
        let mut x = String::with_capacity(1400);
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE boost_serialization>\n");
        x.push_str("<boost_serialization signature=\"serialization::archive\" version=\"7\">\n");
        x.push_str("    <cfg class_id=\"0\" tracking_level=\"0\" version=\"20\">\n");
        let el = |x: &mut String, name: &str, v: &dyn std::fmt::Display| {
            let _ = writeln!(x, "        <{name}>{v}</{name}>");
        };
        el(&mut x, "version", &V6_SUB_VERSION);
        el(&mut x, "creator", &xml_escape(&self.creator));
        x.push_str("        <cipherAlg class_id=\"1\" tracking_level=\"0\" version=\"0\">\n");
        let _ = writeln!(x, "            <name>ssl/aes</name>");
        let _ = writeln!(x, "            <major>{}</major>", p.cipher_version.0);
        let _ = writeln!(x, "            <minor>{}</minor>", p.cipher_version.1);
        x.push_str("        </cipherAlg>\n        <nameAlg>\n");
        let _ = writeln!(
            x,
            "            <name>{}</name>",
            p.name_codec.interface_name()
        );
        let _ = writeln!(x, "            <major>{}</major>", p.name_version.0);
        let _ = writeln!(x, "            <minor>{}</minor>", p.name_version.1);
        x.push_str("        </nameAlg>\n");
        el(&mut x, "keySize", &p.key_bits);
        el(&mut x, "blockSize", &p.block_size);
        el(&mut x, "plainData", &u8::from(p.plain_data));
        el(&mut x, "uniqueIV", &u8::from(p.unique_iv));
        el(&mut x, "chainedNameIV", &u8::from(p.chained_name_iv));
        el(
            &mut x,
            "externalIVChaining",
            &u8::from(p.external_iv_chaining),
        );
        el(&mut x, "blockMACBytes", &p.block_mac_bytes);
        el(&mut x, "blockMACRandBytes", &p.block_mac_rand_bytes);
        el(&mut x, "allowHoles", &u8::from(p.allow_holes));
        el(&mut x, "encodedKeySize", &self.encoded_key.len());
        let _ = writeln!(
            x,
            "        <encodedKeyData>\n{}\n</encodedKeyData>",
            RFC_BASE64.encode(&self.encoded_key)
        );
        el(&mut x, "saltLen", &salt.len());
        let _ = writeln!(
            x,
            "        <saltData>\n{}\n</saltData>",
            RFC_BASE64.encode(salt)
        );
        el(&mut x, "kdfIterations", &iterations);
        el(&mut x, "desiredKDFDuration", &desired);
        x.push_str("    </cfg>\n</boost_serialization>\n");
        x
    }
}

/// Escapes text for an XML element; characters XML 1.0 cannot carry at
/// all (most control characters) become U+FFFD.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn parse_v6(bytes: &[u8]) -> Result<Config, Error> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::Config("not UTF-8 text (is this an .encfs6.xml file?)".into()))?;
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        nodes_limit: 10_000,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, opts)
        .map_err(|e| Error::Config(format!("not well-formed XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "boost_serialization" {
        return Err(Error::Config(format!(
            "root element is <{}>, expected <boost_serialization>",
            root.tag_name().name()
        )));
    }
    let cfg = child(root, "cfg")
        .or_else(|| child(root, "config"))
        .ok_or_else(|| Error::Config("no <cfg> element".into()))?;

    let sub_version = match child(cfg, "version") {
        Some(v) => int_text(v, "version")?,
        None => cfg
            .attribute("version")
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| Error::Config("no <version> element".into()))?,
    };
    let sub_version = match sub_version {
        20 => V6_SUB_VERSION,
        26800 => 20080816,
        26797 => 20080813,
        v => v,
    };
    if !(V5_SUB_VERSION..=V6_SUB_VERSION).contains(&sub_version) {
        return Err(Error::Unsupported(format!(
            "config version {sub_version} (this reads 20040813..20100713)"
        )));
    }

    let cipher = child(cfg, "cipherAlg").ok_or_else(|| Error::Config("no <cipherAlg>".into()))?;
    let cipher_name = text_of(cipher, "name")?;
    if cipher_name != "ssl/aes" {
        return Err(Error::Unsupported(format!(
            "cipher {cipher_name:?}: encmount reads AES volumes only"
        )));
    }
    let cipher_version = (
        req_int(cipher, "major")?,
        opt_int(cipher, "minor")?.unwrap_or(0),
    );
    let name = child(cfg, "nameAlg").ok_or_else(|| Error::Config("no <nameAlg>".into()))?;
    let name_version = (
        req_int(name, "major")?,
        opt_int(name, "minor")?.unwrap_or(0),
    );
    let name_codec = NameCodec::from_interface(&text_of(name, "name")?, name_version.0)?;

    let flag = |n: &str| -> Result<bool, Error> { Ok(opt_int(cfg, n)?.unwrap_or(0) != 0) };
    let params = Params {
        cipher_version,
        key_bits: req_int(cfg, "keySize")?,
        block_size: req_int(cfg, "blockSize")?,
        name_codec,
        name_version,
        unique_iv: flag("uniqueIV")?,
        chained_name_iv: flag("chainedNameIV")?,
        external_iv_chaining: flag("externalIVChaining")?,
        block_mac_bytes: opt_int(cfg, "blockMACBytes")?.unwrap_or(0),
        block_mac_rand_bytes: opt_int(cfg, "blockMACRandBytes")?.unwrap_or(0),
        allow_holes: flag("allowHoles")?,
        plain_data: flag("plainData")?,
    };
    let encoded_key = base64_field(cfg, "encodedKeyData", "encodedKeySize")?
        .ok_or_else(|| Error::Config("no <encodedKeyData>".into()))?;
    let kdf = if sub_version < FIRST_PBKDF2_SUB_VERSION {
        Kdf::Legacy
    } else {
        match base64_field(cfg, "saltData", "saltLen")? {
            Some(salt) if !salt.is_empty() => Kdf::Pbkdf2 {
                salt,
                iterations: req_int(cfg, "kdfIterations")?,
                desired_ms: opt_int(cfg, "desiredKDFDuration")?.unwrap_or(500),
            },
            _ => Kdf::Legacy,
        }
    };
    Ok(Config {
        format: ConfigFormat::V6,
        sub_version,
        creator: child(cfg, "creator")
            .and_then(|c| c.text())
            .unwrap_or("")
            .to_string(),
        params,
        encoded_key,
        kdf,
    })
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text_of(node: roxmltree::Node, name: &str) -> Result<String, Error> {
    child(node, name)
        .and_then(|c| c.text())
        .map(str::to_string)
        .ok_or_else(|| Error::Config(format!("no <{name}> element")))
}

/// The whole text must be a number (format §2.3).
fn int_text(node: roxmltree::Node, name: &str) -> Result<u32, Error> {
    let t = node.text().unwrap_or("");
    t.parse::<u32>()
        .map_err(|_| Error::Config(format!("<{name}> is {t:?}, not a number")))
}

fn opt_int(node: roxmltree::Node, name: &str) -> Result<Option<u32>, Error> {
    child(node, name).map(|c| int_text(c, name)).transpose()
}

fn req_int(node: roxmltree::Node, name: &str) -> Result<u32, Error> {
    opt_int(node, name)?.ok_or_else(|| Error::Config(format!("no <{name}> element")))
}

/// A base64 element whose decoded length must equal its size element
/// (format §2.3). `None` when the element is absent.
fn base64_field(cfg: roxmltree::Node, data: &str, size: &str) -> Result<Option<Vec<u8>>, Error> {
    let Some(node) = child(cfg, data) else {
        return Ok(None);
    };
    let text: String = node
        .text()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let bytes = RFC_BASE64
        .decode(text.as_bytes())
        .map_err(|e| Error::Config(format!("<{data}> is not valid base64: {e}")))?;
    if let Some(declared) = opt_int(cfg, size)?
        && declared as usize != bytes.len()
    {
        return Err(Error::Config(format!(
            "<{data}> holds {} bytes but <{size}> says {declared}",
            bytes.len()
        )));
    }
    Ok(Some(bytes))
}

// ---- V5 / V4 binary configs (format §2.6) ---------------------------------

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) = self
                .bytes
                .split_first()
                .ok_or_else(|| Error::Config("truncated binary config".into()))?;
            self.bytes = rest;
            v = (v << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                return Ok(v);
            }
            if i == 9 {
                break;
            }
        }
        Err(Error::Config("binary config integer too long".into()))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.varint()?;
        if n > self.bytes.len() as u64 {
            return Err(Error::Config("truncated binary config".into()));
        }
        let (b, rest) = self.bytes.split_at(n as usize);
        self.bytes = rest;
        Ok(b)
    }
}

fn parse_binary(bytes: &[u8], format: ConfigFormat) -> Result<Config, Error> {
    let mut r = Reader { bytes };
    let count = r.varint()?;
    let mut entries = std::collections::HashMap::new();
    for _ in 0..count {
        let key = String::from_utf8_lossy(r.bytes()?).into_owned();
        let value = r.bytes()?;
        entries.insert(key, value);
    }
    let int = |k: &str| -> Result<Option<u32>, Error> {
        entries
            .get(k)
            .map(|v| {
                let n = Reader { bytes: v }.varint()?;
                u32::try_from(n).map_err(|_| Error::Config(format!("{k} out of range")))
            })
            .transpose()
    };
    let req = |k: &str| int(k)?.ok_or_else(|| Error::Config(format!("no {k} entry")));
    let iface = |k: &str| -> Result<Option<(String, u32, u32)>, Error> {
        entries
            .get(k)
            .map(|v| {
                let mut r = Reader { bytes: v };
                let name = String::from_utf8_lossy(r.bytes()?).into_owned();
                let current = r.varint()? as u32;
                let revision = r.varint()? as u32;
                Ok((name, current, revision))
            })
            .transpose()
    };
    let (cipher_name, cmaj, cmin) =
        iface("cipher")?.ok_or_else(|| Error::Config("no cipher entry".into()))?;
    if cipher_name != "ssl/aes" {
        return Err(Error::Unsupported(format!(
            "cipher {cipher_name:?}: encmount reads AES volumes only"
        )));
    }
    let sub_version = match format {
        ConfigFormat::V5 => {
            let v = req("subVersion")?;
            if v != V5_SUB_VERSION {
                return Err(Error::Unsupported(format!("V5 config sub-version {v}")));
            }
            v
        }
        _ => 0,
    };
    let (name_codec, name_version, flags) = match format {
        ConfigFormat::V4 => (NameCodec::Stream, (1, 0), [false; 3]),
        _ => {
            let (n, maj, min) =
                iface("naming")?.ok_or_else(|| Error::Config("no naming entry".into()))?;
            let f = |k: &str| -> Result<bool, Error> { Ok(int(k)?.unwrap_or(0) != 0) };
            (
                NameCodec::from_interface(&n, maj)?,
                (maj, min),
                [f("uniqueIV")?, f("chainedIV")?, f("externalIV")?],
            )
        }
    };
    let (mac, rand) = match format {
        ConfigFormat::V4 => (0, 0),
        _ => (
            int("blockMACBytes")?.unwrap_or(0),
            int("blockMACRandBytes")?.unwrap_or(0),
        ),
    };
    let params = Params {
        cipher_version: (cmaj, cmin),
        key_bits: req("keySize")?,
        block_size: req("blockSize")?,
        name_codec,
        name_version,
        unique_iv: flags[0],
        chained_name_iv: flags[1],
        external_iv_chaining: flags[2],
        block_mac_bytes: mac,
        block_mac_rand_bytes: rand,
        allow_holes: false,
        plain_data: false,
    };
    // String values are length-prefixed inside the entry value.
    let string = |k: &str| -> Result<Option<Vec<u8>>, Error> {
        entries
            .get(k)
            .map(|v| Reader { bytes: v }.bytes().map(<[u8]>::to_vec))
            .transpose()
    };
    let encoded_key = string("keyData")?.ok_or_else(|| Error::Config("no keyData entry".into()))?;
    Ok(Config {
        format,
        sub_version,
        creator: String::from_utf8_lossy(&string("creator")?.unwrap_or_default()).into_owned(),
        params,
        encoded_key,
        kdf: Kdf::Legacy,
    })
}

#[cfg(test)]
mod tests;
