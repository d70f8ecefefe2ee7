//! Access tokens: EdDSA (Ed25519) JWTs signed with the newest key; older keys stay published in
//! the JWKS until every token they signed has expired, so rotation never logs anyone out.

use std::{
    sync::RwLock,
    time::{Duration, Instant},
};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use healthpoints_auth::Claims;
use healthpoints_proto::identity::v1::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::{
    crypto::{Crypto, CryptoError},
    domain::error::{IdentityError, Result},
    store::{KeyRecord, Store},
};

/// Lifetimes and names of tokens.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long after a rotation the rotated token answers the same new refresh token again.
    pub refresh_reuse_grace: Duration,
    /// How long another replica's new key may take to reach this one.
    pub key_reload: Duration,
}

struct Loaded {
    at: Instant,
    signing: Option<(String, EncodingKey)>,
    published: Vec<Jwk>,
}

/// Signs tokens and publishes the keys that verify them.
pub struct Tokens {
    policy: TokenPolicy,
    keys: RwLock<Loaded>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn jwk(kid: &str, public: &[u8]) -> Jwk {
    Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: URL_SAFE_NO_PAD.encode(public),
        kid: kid.into(),
        alg: "EdDSA".into(),
        r#use: "sig".into(),
    }
}

impl Tokens {
    pub fn new(policy: TokenPolicy) -> Self {
        Self {
            policy,
            keys: RwLock::new(Loaded {
                at: Instant::now(),
                signing: None,
                published: Vec::new(),
            }),
        }
    }

    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// Creates a new signing key and stores it (private part encrypted).
    async fn create_key(store: &Store, crypto: &Crypto, now: DateTime<Utc>) -> Result<String> {
        let pkcs8 =
            Ed25519KeyPair::generate_pkcs8(crypto.rng()).map_err(|_| CryptoError::Random)?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| CryptoError::Random)?;
        let kid = uuid::Uuid::now_v7().simple().to_string();
        store
            .insert_key(&KeyRecord {
                kid: kid.clone(),
                private_key_enc: crypto.encrypt_signing_key(&kid, pkcs8.as_ref())?,
                public_key: pair.public_key().as_ref().to_vec(),
                created_at: now,
                retired_at: None,
            })
            .await?;
        Ok(kid)
    }

    /// (Re)loads keys from the store, creating the first one if there is none.
    pub async fn load(&self, store: &Store, crypto: &Crypto, now: DateTime<Utc>) -> Result<()> {
        let mut records = store.keys().await?;
        if !records.iter().any(|k| k.retired_at.is_none()) {
            Self::create_key(store, crypto, now).await?;
            records = store.keys().await?;
        }
        // Tokens live `access_ttl`; a retired key is published that long plus clock skew.
        let overlap = chrono::Duration::from_std(self.policy.access_ttl + Duration::from_secs(60))
            .unwrap_or_else(|_| chrono::Duration::hours(1));
        let published = records
            .iter()
            .filter(|k| k.retired_at.is_none_or(|r| r + overlap > now))
            .map(|k| jwk(&k.kid, &k.public_key))
            .collect();
        let signing = match records.iter().find(|k| k.retired_at.is_none()) {
            Some(k) => Some((
                k.kid.clone(),
                EncodingKey::from_ed_der(&crypto.decrypt_signing_key(&k.kid, &k.private_key_enc)?),
            )),
            None => None,
        };
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Loaded {
            at: Instant::now(),
            signing,
            published,
        };
        Ok(())
    }

    /// Reloads when the cache is older than the reload interval (picks up other replicas'
    /// rotations and drops expired keys).
    pub async fn refresh_if_stale(
        &self,
        store: &Store,
        crypto: &Crypto,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let stale = self
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .at
            .elapsed()
            > self.policy.key_reload;
        if stale {
            self.load(store, crypto, now).await?;
        }
        Ok(())
    }

    /// Starts signing with a new key; the old one stays published until its tokens expire.
    pub async fn rotate(
        &self,
        store: &Store,
        crypto: &Crypto,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let kid = Self::create_key(store, crypto, now).await?;
        store.retire_keys_except(&kid, now).await?;
        self.load(store, crypto, now).await?;
        Ok(kid)
    }

    /// The public keys.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .published
            .clone()
    }

    /// Signs `claims` with the current key.
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let (kid, key) = keys
            .signing
            .as_ref()
            .ok_or_else(|| IdentityError::fault("no signing key is loaded"))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, key).map_err(|e| {
            IdentityError::Internal(healthpoints_errors::Fault::caused_by(
                "token signing failed",
                e,
            ))
        })
    }
}
