//! Secrets at rest: ID and phone numbers encrypted (AES-256-GCM) and found again through a keyed
//! hash (HMAC-SHA256), signing keys encrypted the same way, passwords hashed with argon2id,
//! opaque tokens and client secrets generated from the system RNG and kept only as keyed hashes.
//!
//! Every key is derived from one 32-byte master key (config `secrets.master_key`, or a key file
//! created on first start) with a distinct label, so rotating the master key is one operation.

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    constant_time, hmac,
    rand::{SecureRandom, SystemRandom},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

/// Why a cryptographic operation failed; never carries the data involved.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key must be 32 bytes of base64")]
    BadMasterKey,
    #[error("encrypted value could not be decrypted (wrong key or tampered data)")]
    Decrypt,
    #[error("system random number generator failed")]
    Random,
    #[error("password hashing failed")]
    Hash,
}

/// The keys derived from the master key.
pub struct Crypto {
    pii: LessSafeKey,
    signing_keys: LessSafeKey,
    lookup: hmac::Key,
    tokens: hmac::Key,
    successors: hmac::Key,
    station_codes: hmac::Key,
    rng: SystemRandom,
}

/// What a station code starts with (a version, so a later format can be told apart).
const STATION_CODE_PREFIX: &str = "hps1.";

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Crypto([redacted])")
    }
}

fn derive(master: &hmac::Key, label: &str) -> [u8; 32] {
    let tag = hmac::sign(master, label.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(&tag.as_ref()[..32]);
    out
}

fn aead_key(bytes: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32 bytes is an AES-256 key"))
}

impl Crypto {
    /// Builds every key from the base64 master key.
    pub fn from_master_key(master_b64: &str) -> Result<Self, CryptoError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(master_b64.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(master_b64.trim()))
            .map_err(|_| CryptoError::BadMasterKey)?;
        if raw.len() != 32 {
            return Err(CryptoError::BadMasterKey);
        }
        let master = hmac::Key::new(hmac::HMAC_SHA256, &raw);
        Ok(Self {
            pii: aead_key(&derive(&master, "healthpoints/identity/pii-encryption/v1")),
            signing_keys: aead_key(&derive(&master, "healthpoints/identity/signing-keys/v1")),
            lookup: hmac::Key::new(
                hmac::HMAC_SHA256,
                &derive(&master, "healthpoints/identity/lookup-hash/v1"),
            ),
            tokens: hmac::Key::new(
                hmac::HMAC_SHA256,
                &derive(&master, "healthpoints/identity/token-hash/v1"),
            ),
            successors: hmac::Key::new(
                hmac::HMAC_SHA256,
                &derive(&master, "healthpoints/identity/refresh-successor/v1"),
            ),
            station_codes: hmac::Key::new(
                hmac::HMAC_SHA256,
                &derive(&master, "healthpoints/identity/station-code/v1"),
            ),
            rng: SystemRandom::new(),
        })
    }

    /// A fresh random master key, base64.
    pub fn generate_master_key() -> Result<String, CryptoError> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| CryptoError::Random)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(key))
    }

    fn seal(
        key: &LessSafeKey,
        rng: &SystemRandom,
        aad: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut data = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut data,
        )
        .map_err(|_| CryptoError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(out)
    }

    fn open(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, data) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decrypt)?;
        let mut data = data.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(aad), &mut data)
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(plain.to_vec())
    }

    /// Encrypts a personal number; `kind` ("id_number", "phone") binds the ciphertext to its
    /// column so values cannot be swapped between columns.
    pub fn encrypt_pii(&self, kind: &str, plain: &str) -> Result<Vec<u8>, CryptoError> {
        Self::seal(&self.pii, &self.rng, kind.as_bytes(), plain.as_bytes())
    }

    /// Decrypts what [`Crypto::encrypt_pii`] produced.
    pub fn decrypt_pii(&self, kind: &str, sealed: &[u8]) -> Result<String, CryptoError> {
        let plain = Self::open(&self.pii, kind.as_bytes(), sealed)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }

    /// Encrypts a private signing key for storage.
    pub fn encrypt_signing_key(&self, kid: &str, pkcs8: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Self::seal(&self.signing_keys, &self.rng, kid.as_bytes(), pkcs8)
    }

    pub fn decrypt_signing_key(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Self::open(&self.signing_keys, kid.as_bytes(), sealed)
    }

    /// The keyed lookup hash of a personal number (hex), stable for the life of the master key.
    pub fn lookup_hash(&self, kind: &str, value: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.lookup);
        ctx.update(kind.as_bytes());
        ctx.update(b"\0");
        ctx.update(value.as_bytes());
        hex(ctx.sign().as_ref())
    }

    /// The stored form of an opaque token or client secret (hex).
    pub fn token_hash(&self, token: &str) -> String {
        hex(hmac::sign(&self.tokens, token.as_bytes()).as_ref())
    }

    /// The refresh token a refresh token is rotated into: its keyed hash, base64url (as long and
    /// as unpredictable as [`Crypto::random_token`] of 32 bytes without the master key). Derived,
    /// not drawn, so a second use of the spent token within the reuse grace can be answered
    /// with the same successor while only hashes of tokens are ever stored.
    pub fn successor_token(&self, token: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.successors, token.as_bytes()).as_ref())
    }

    /// Compares a presented secret with a stored [`Crypto::token_hash`] in constant time.
    pub fn token_matches(&self, token: &str, stored_hash: &str) -> bool {
        constant_time::verify_slices_are_equal(
            self.token_hash(token).as_bytes(),
            stored_hash.as_bytes(),
        )
        .is_ok()
    }

    /// A resident's code for a health-station counter (shown as a QR code on their phone): their
    /// id and the second it expires, with a keyed MAC, base64url. Stateless, so any replica
    /// opens it; nothing in it reads as a person's number.
    pub fn station_code(&self, resident: uuid::Uuid, until_unix: i64) -> String {
        let mut body = Vec::with_capacity(40);
        body.extend_from_slice(resident.as_bytes());
        body.extend_from_slice(&until_unix.to_be_bytes());
        let tag = hmac::sign(&self.station_codes, &body);
        body.extend_from_slice(&tag.as_ref()[..16]);
        format!("{STATION_CODE_PREFIX}{}", URL_SAFE_NO_PAD.encode(body))
    }

    /// The resident and expiry second of a station code this key made; `None` for anything
    /// else (malformed, another key's, altered).
    pub fn open_station_code(&self, code: &str) -> Option<(uuid::Uuid, i64)> {
        let raw = URL_SAFE_NO_PAD
            .decode(code.trim().strip_prefix(STATION_CODE_PREFIX)?)
            .ok()?;
        if raw.len() != 40 {
            return None;
        }
        let (body, tag) = raw.split_at(24);
        let expected = hmac::sign(&self.station_codes, body);
        constant_time::verify_slices_are_equal(&expected.as_ref()[..16], tag).ok()?;
        let resident = uuid::Uuid::from_slice(&body[..16]).ok()?;
        let until = i64::from_be_bytes(body[16..24].try_into().ok()?);
        Some((resident, until))
    }

    /// `bytes` random bytes, base64url.
    pub fn random_token(&self, bytes: usize) -> Result<String, CryptoError> {
        let mut buf = vec![0u8; bytes];
        self.rng.fill(&mut buf).map_err(|_| CryptoError::Random)?;
        Ok(URL_SAFE_NO_PAD.encode(buf))
    }

    pub fn rng(&self) -> &SystemRandom {
        &self.rng
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// Hashes a password with argon2id (default parameters, random salt) into a PHC string.
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    use argon2::{Argon2, password_hash::PasswordHasher};
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|_| CryptoError::Hash)?;
    Ok(hash.to_string())
}

/// Checks a password against a PHC string; any malformed hash counts as a mismatch.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::{
        Argon2,
        password_hash::{PasswordVerifier, phc::PasswordHash},
    };
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypto() -> Crypto {
        Crypto::from_master_key(&Crypto::generate_master_key().unwrap()).unwrap()
    }

    #[test]
    fn pii_round_trips_and_is_bound_to_its_column() {
        let c = crypto();
        let sealed = c.encrypt_pii("phone", "13812345678").unwrap();
        assert_eq!(c.decrypt_pii("phone", &sealed).unwrap(), "13812345678");
        assert!(c.decrypt_pii("id_number", &sealed).is_err());
        assert!(!String::from_utf8_lossy(&sealed).contains("1381234"));
    }

    #[test]
    fn lookup_hashes_are_keyed_and_stable() {
        let c = crypto();
        assert_eq!(c.lookup_hash("phone", "1"), c.lookup_hash("phone", "1"));
        assert_ne!(c.lookup_hash("phone", "1"), c.lookup_hash("id_number", "1"));
        assert_ne!(
            c.lookup_hash("phone", "1"),
            crypto().lookup_hash("phone", "1")
        );
    }

    #[test]
    fn passwords_verify_only_when_right() {
        let h = hash_password("correct horse 1").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse 1", &h));
        assert!(!verify_password("wrong horse 1", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn station_codes_open_only_unaltered_and_with_their_key() {
        let c = crypto();
        let resident = uuid::Uuid::now_v7();
        let code = c.station_code(resident, 1_900_000_000);
        assert_eq!(c.open_station_code(&code), Some((resident, 1_900_000_000)));
        let mut altered = code.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            c.open_station_code(&String::from_utf8(altered).unwrap()),
            None
        );
        let other = Crypto::from_master_key(&Crypto::generate_master_key().unwrap()).unwrap();
        assert_eq!(other.open_station_code(&code), None);
        assert_eq!(c.open_station_code("hps1.short"), None);
        assert_eq!(c.open_station_code(""), None);
    }

    #[test]
    fn refuses_short_master_keys() {
        assert!(Crypto::from_master_key("c2hvcnQ=").is_err());
    }
}
