//! `Config::parse` on arbitrary bytes, as `.encfs6.xml` (V6) and as binary
//! `.encfs5`/`.encfs4` configs: it must return an error or a config, never
//! panic. A config that parses must survive `to_xml` and parse back with the
//! same parameters, key data and KDF.
//!
//! Regression input: `fuzz/known/config_parser-creator-nul.bin` (a binary
//! config whose creator holds NUL once made `to_xml` write invalid XML).
#![no_main]

use encmount::volume::{Config, ConfigFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in [ConfigFormat::V6, ConfigFormat::V5, ConfigFormat::V4] {
        let Ok(config) = Config::parse(data, format) else {
            continue;
        };
        let xml = config.to_xml();
        let again = Config::parse(xml.as_bytes(), ConfigFormat::V6).unwrap_or_else(|e| {
            panic!("to_xml of a parsed {format:?} config does not parse: {e}\n{xml}")
        });
        assert_eq!(again.params, config.params, "params changed by to_xml");
        assert_eq!(
            again.encoded_key, config.encoded_key,
            "key data changed by to_xml"
        );
        assert_eq!(again.kdf, config.kdf, "KDF changed by to_xml");
    }
});
