//! Password to user key, and wrapping of the volume key (format §3).

use std::time::Duration;

use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use super::Error;
use super::cipher::{Cipher, IvScheme};
use super::key::{IV_LEN, KeyMaterial};

/// Length of the checksum in front of the wrapped key (format §3.3).
pub const CHECKSUM_LEN: usize = 4;
/// Iteration count encfs starts its calibration from (format §3.1).
pub const MIN_ITERATIONS: u32 = 1000;

/// PBKDF2-HMAC-SHA1 user key (format §3.1).
pub fn derive_user_key(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    key_len: usize,
) -> Result<KeyMaterial, Error> {
    check_password(password)?;
    if iterations == 0 {
        return Err(Error::InvalidParams("kdfIterations must not be 0".into()));
    }
    KeyMaterial::new_with(key_len, |out| {
        pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, out);
    })
}

/// The unsalted legacy derivation of format §3.2 (V4/V5 configs and V6
/// configs older than sub-version 20080816): 16 rounds of SHA-1.
pub fn derive_legacy_user_key(password: &[u8], key_len: usize) -> Result<KeyMaterial, Error> {
    check_password(password)?;
    KeyMaterial::new_with(key_len, |out| {
        let (key, iv) = out.split_at_mut(key_len);
        let (mut key_done, mut iv_done) = (0usize, 0usize);
        let mut prev = Zeroizing::new(Vec::<u8>::new());
        while key_done < key.len() || iv_done < iv.len() {
            let mut h = Sha1::new();
            h.update(&*prev);
            h.update(password);
            let mut d = Zeroizing::new(h.finalize());
            for _ in 0..15 {
                *d = Sha1::digest(*d);
            }
            let mut used = 0;
            let take = (key.len() - key_done).min(d.len());
            key[key_done..key_done + take].copy_from_slice(&d[..take]);
            key_done += take;
            used += take;
            let take = (iv.len() - iv_done).min(d.len() - used);
            iv[iv_done..iv_done + take].copy_from_slice(&d[used..used + take]);
            iv_done += take;
            *prev = d.to_vec();
        }
    })
}

fn check_password(password: &[u8]) -> Result<(), Error> {
    if password.is_empty() {
        return Err(Error::EmptyPassword);
    }
    Ok(())
}

/// Unwraps `encodedKeyData` with the user key and checks its checksum
/// (format §3.3). A mismatch is [`Error::WrongPassword`].
pub fn unwrap_volume_key(
    user: &KeyMaterial,
    scheme: IvScheme,
    encoded: &[u8],
) -> Result<KeyMaterial, Error> {
    let key_len = user.key_len();
    if encoded.len() != CHECKSUM_LEN + key_len + IV_LEN {
        return Err(Error::Config(format!(
            "encodedKeyData is {} bytes, expected {} for a {}-bit key",
            encoded.len(),
            CHECKSUM_LEN + key_len + IV_LEN,
            key_len * 8
        )));
    }
    let checksum = u32::from_be_bytes(encoded[..CHECKSUM_LEN].try_into().expect("4 bytes"));
    let wrap = Cipher::new(user, scheme);
    let mut plain = Zeroizing::new(encoded[CHECKSUM_LEN..].to_vec());
    wrap.stream_decrypt(&mut plain, u64::from(checksum));
    if wrap.mac32(&plain, None) != checksum {
        return Err(Error::WrongPassword);
    }
    KeyMaterial::from_bytes(key_len, &plain)
}

/// Wraps the volume key with the user key (inverse of
/// [`unwrap_volume_key`]).
pub fn wrap_volume_key(user: &KeyMaterial, scheme: IvScheme, volume: &KeyMaterial) -> Vec<u8> {
    let wrap = Cipher::new(user, scheme);
    let checksum = wrap.mac32(volume.key_and_iv(), None);
    let mut out = Vec::with_capacity(CHECKSUM_LEN + volume.key_and_iv().len());
    out.extend_from_slice(&checksum.to_be_bytes());
    out.extend_from_slice(volume.key_and_iv());
    wrap.stream_encrypt(&mut out[CHECKSUM_LEN..], u64::from(checksum));
    out
}

/// Chooses a PBKDF2 iteration count the way encfs does (format §3.1):
/// start at 1000, quadruple while a run takes under 1/8 of the target, then
/// scale by target/elapsed while under 5/6 of it. `time_run(n)` must run
/// PBKDF2 with `n` iterations and say how long it took. A target of zero
/// gives exactly 1000.
pub fn calibrate_iterations(target: Duration, mut time_run: impl FnMut(u32) -> Duration) -> u32 {
    let mut iterations = MIN_ITERATIONS;
    if target.is_zero() {
        return iterations;
    }
    // Bounded: each step at least multiplies the count by 6/5.
    for _ in 0..64 {
        let elapsed = time_run(iterations).max(Duration::from_micros(1));
        if elapsed < target / 8 {
            iterations = iterations.saturating_mul(4);
        } else if elapsed < target * 5 / 6 {
            let scaled = iterations as f64 * target.as_secs_f64() / elapsed.as_secs_f64();
            iterations = scaled.min(u32::MAX as f64) as u32;
        } else {
            break;
        }
        if iterations == u32::MAX {
            break;
        }
    }
    iterations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    const KAT_ENCODED: &str =
        "4a704d16d4732a52bae342c9b69c9429c7aa850242c9ecacb0786ea34c921567c27aad7b39214e4b79ae3916";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // format §13
    #[test]
    fn pbkdf2_user_key_matches_kat() {
        let salt: Vec<u8> = (1..=20).collect();
        let user = derive_user_key(b"encfs-kat", &salt, 1000, 24).unwrap();
        assert_eq!(
            hex(user.key()),
            "5d7f00dd96759509a4ab4add16529e5b3bd0b91b041354c0"
        );
        assert_eq!(hex(user.iv()), "20dcf114983298f1d3da322f94ad48dd");
    }

    #[test]
    fn unwrap_and_wrap_match_kat() {
        let salt: Vec<u8> = (1..=20).collect();
        let user = derive_user_key(b"encfs-kat", &salt, 1000, 24).unwrap();
        let vol = unwrap_volume_key(&user, IvScheme::Hmac, &unhex(KAT_ENCODED)).unwrap();
        assert_eq!(
            hex(vol.key()),
            "000102030405060708090a0b0c0d0e0f1011121314151617"
        );
        assert_eq!(hex(vol.iv()), "808182838485868788898a8b8c8d8e8f");
        assert_eq!(
            hex(&wrap_volume_key(&user, IvScheme::Hmac, &vol)),
            KAT_ENCODED
        );
    }

    #[test]
    fn wrong_password_is_detected_by_checksum() {
        let salt: Vec<u8> = (1..=20).collect();
        let user = derive_user_key(b"encfs-kaT", &salt, 1000, 24).unwrap();
        assert!(matches!(
            unwrap_volume_key(&user, IvScheme::Hmac, &unhex(KAT_ENCODED)),
            Err(Error::WrongPassword)
        ));
    }

    #[test]
    fn empty_password_is_refused() {
        assert!(matches!(
            derive_user_key(b"", b"salt", 1000, 16),
            Err(Error::EmptyPassword)
        ));
    }

    #[test]
    fn legacy_key_splits_digests_as_documented() {
        // AES-192: first digest gives key[0..20), the second key[20..24)
        // and iv[0..16) (format §3.2).
        let k = derive_legacy_user_key(b"pw", 24).unwrap();
        let mut d = Sha1::digest(b"pw");
        for _ in 0..15 {
            d = Sha1::digest(d);
        }
        assert_eq!(&k.key()[..20], &d[..]);
        let mut h = Sha1::new();
        h.update(d);
        h.update(b"pw");
        let mut d2 = h.finalize();
        for _ in 0..15 {
            d2 = Sha1::digest(d2);
        }
        assert_eq!(&k.key()[20..], &d2[..4]);
        assert_eq!(&k.iv()[..], &d2[4..20]);
    }

    #[test]
    fn calibration_follows_encfs_steps() {
        assert_eq!(
            calibrate_iterations(Duration::ZERO, |_| unreachable!()),
            1000
        );
        // 1 µs per iteration, target 500 ms: 1000 -> 4000 -> 16000 -> 64000
        // (64 ms >= 62.5 ms) -> scaled to 500000, which is within 5/6.
        let n = calibrate_iterations(Duration::from_millis(500), |n| {
            Duration::from_micros(u64::from(n))
        });
        assert_eq!(n, 500_000);
    }
}
