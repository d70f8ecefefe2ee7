//! Token verification against identity's published keys.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use futures::future::BoxFuture;
use healthpoints_errors::ApiError;
use healthpoints_proto::identity::v1::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::{Claims, Principal};

/// The calls a health-station counter makes with a resident's delegated token: their balances
/// (a lookup) and an order placed for them.
pub const DELEGATED_CALLS: [&str; 2] = [
    "/healthpoints.ledger.v1.LedgerService/GetBalances",
    "/healthpoints.mall.v1.MallService/CreateOrder",
];

/// Where the public keys come from: identity's `GetJwks` for every other service, identity's own
/// key store inside identity.
pub trait JwksSource: Send + Sync + 'static {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, ApiError>>;
}

/// A fixed key set (tests, or a source that is already in memory).
#[derive(Debug, Clone, Default)]
pub struct StaticJwks(pub Vec<Jwk>);

impl JwksSource for StaticJwks {
    fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, ApiError>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

/// What tokens must say to be accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierConfig {
    /// Expected `iss`.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Expected `aud`.
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

fn default_issuer() -> String {
    "healthpoints-identity".into()
}
fn default_audience() -> String {
    "healthpoints".into()
}
fn default_leeway() -> u64 {
    30
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            issuer: default_issuer(),
            audience: default_audience(),
            leeway_seconds: default_leeway(),
        }
    }
}

/// An unknown `kid` triggers at most one key refresh in this interval, so forged tokens cannot
/// make every service hammer identity.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// Tokens whose verification is remembered. A service sees the same few tokens over and over
/// (other services' tokens live for minutes, a resident's app sends one per session), and an
/// Ed25519 verification was measured at about an eighth of the ledger's CPU per small request.
const VERIFIED_CACHE: usize = 4_096;

/// A token verified earlier: its claims, remembered under the SHA-256 of the whole token
/// (signature included), so only the very same bytes hit. Cleared whenever the keys change.
type Verified = HashMap<[u8; 32], Claims>;

struct Inner {
    config: VerifierConfig,
    source: Box<dyn JwksSource>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    verified: RwLock<Verified>,
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

/// Verifies access tokens; cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.config.issuer)
            .field("audience", &self.inner.config.audience)
            .finish_non_exhaustive()
    }
}

fn unauthenticated(why: &str) -> ApiError {
    ApiError::unauthenticated(why)
}

impl Verifier {
    pub fn new(config: VerifierConfig, source: impl JwksSource) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                source: Box::new(source),
                keys: RwLock::new(HashMap::new()),
                verified: RwLock::new(HashMap::new()),
                last_refresh: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// Verifies a bearer token a client presented and returns who it was issued to. A
    /// counter's delegated token (`act`) is refused: identity gives it to the exchange, the
    /// gateway uses it for one call inside the mesh, and no client ever holds one.
    pub async fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let claims = self.verify_claims(token).await?;
        if claims.act.is_some() {
            return Err(ApiError::unauthenticated(
                "a health-station counter's delegated token is not accepted here",
            ));
        }
        claims.try_into()
    }

    /// Verifies a bearer token presented to the gRPC method `method` (its path,
    /// `/package.Service/Method`). A counter's delegated token may make only the
    /// [`DELEGATED_CALLS`]; any other call with it is refused, so a delegated token that
    /// leaked cannot change a password, close an account or read a resident's history.
    pub async fn verify_call(&self, token: &str, method: &str) -> Result<Principal, ApiError> {
        let claims = self.verify_claims(token).await?;
        if claims.act.is_some() && !DELEGATED_CALLS.contains(&method) {
            return Err(ApiError::forbidden(
                "a health-station counter acting for a resident may only look up their balances and order for them",
            ));
        }
        claims.try_into()
    }

    /// Verifies a bearer token and returns its claims.
    pub async fn verify_claims(&self, token: &str) -> Result<Claims, ApiError> {
        let fingerprint: [u8; 32] =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
                .as_ref()
                .try_into()
                .unwrap_or([0; 32]);
        let now = jsonwebtoken::get_current_timestamp();
        let leeway = self.inner.config.leeway_seconds;
        if let Some(claims) = self
            .inner
            .verified
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&fingerprint)
            // Expiry is the one check whose answer changes with time.
            .filter(|c| c.exp.saturating_add(leeway) >= now)
        {
            return Ok(claims.clone());
        }
        let claims = self.verify_signed(token).await?;
        let mut verified = self
            .inner
            .verified
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CACHE {
            verified.retain(|_, c| c.exp.saturating_add(leeway) >= now);
            if verified.len() >= VERIFIED_CACHE {
                verified.clear();
            }
        }
        verified.insert(fingerprint, claims.clone());
        Ok(claims)
    }

    /// Checks the token's signature and claims against the keys.
    async fn verify_signed(&self, token: &str) -> Result<Claims, ApiError> {
        // `alg: none` and unknown algorithms fail to parse here.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthenticated("token is malformed or uses an unsupported algorithm"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(unauthenticated("token algorithm is not accepted"));
        }
        let kid = header
            .kid
            .ok_or_else(|| unauthenticated("token has no key id"))?;
        let key = self.key(&kid).await?;
        let cfg = &self.inner.config;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&[&cfg.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = cfg.leeway_seconds;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            unauthenticated(match e.kind() {
                ErrorKind::ExpiredSignature => "token has expired",
                ErrorKind::ImmatureSignature => "token is not valid yet",
                ErrorKind::InvalidAudience => "token audience is not accepted",
                ErrorKind::InvalidIssuer => "token issuer is not accepted",
                ErrorKind::InvalidSignature => "token signature is invalid",
                ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
                _ => "token is invalid",
            })
        })?;
        Ok(data.claims)
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, ApiError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let mut last = self.inner.last_refresh.lock().await;
        // Another task may have refreshed while we waited for the lock.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if last.is_some_and(|t| t.elapsed() < MIN_REFRESH_INTERVAL) {
            return Err(unauthenticated("token signing key is unknown"));
        }
        *last = Some(Instant::now());
        let jwks = self.inner.source.fetch().await.map_err(|e| {
            tracing::warn!(error = %e, "signing keys could not be fetched");
            ApiError::new(
                healthpoints_errors::ErrorCode::Unavailable,
                "signing keys are unavailable; retry shortly",
            )
        })?;
        let mut keys = HashMap::new();
        for jwk in jwks {
            if jwk.kty == "OKP"
                && jwk.crv == "Ed25519"
                && let Ok(key) = DecodingKey::from_ed_components(&jwk.x)
            {
                keys.insert(jwk.kid, key);
            }
        }
        *self.inner.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        // A key that left the set must not keep its tokens alive.
        self.inner
            .verified
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.cached(kid)
            .ok_or_else(|| unauthenticated("token signing key is unknown"))
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;
    use aws_lc_rs::{
        rand::SystemRandom,
        signature::{Ed25519KeyPair, KeyPair},
    };
    use base64::Engine as _;
    use jsonwebtoken::{EncodingKey, Header};

    struct Key {
        kid: String,
        pkcs8: Vec<u8>,
        jwk: Jwk,
    }

    fn key(kid: &str) -> Key {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        Key {
            kid: kid.into(),
            pkcs8: pkcs8.as_ref().to_vec(),
            jwk: Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x,
                kid: kid.into(),
                alg: "EdDSA".into(),
                r#use: "sig".into(),
            },
        }
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn claims() -> Claims {
        Claims {
            iss: default_issuer(),
            aud: default_audience(),
            sub: uuid::Uuid::now_v7().to_string(),
            exp: now() + 900,
            nbf: now(),
            iat: now(),
            jti: "t1".into(),
            role: Role::Resident,
            district: None,
            merchant_id: None,
            mall: None,
            partner_id: None,
            department: None,
            service: None,
            scopes: vec![],
            institution: None,
            act: None,
        }
    }

    fn sign(key: &Key, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&key.pkcs8)).unwrap()
    }

    fn verifier(keys: &[&Key]) -> Verifier {
        Verifier::new(
            VerifierConfig::default(),
            StaticJwks(keys.iter().map(|k| k.jwk.clone()).collect()),
        )
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    async fn rejection(v: &Verifier, token: &str) -> String {
        v.verify(token).await.unwrap_err().message
    }

    #[tokio::test]
    async fn accepts_a_valid_token() {
        let k = key("k1");
        let c = claims();
        let p = verifier(&[&k]).verify(&sign(&k, &c)).await.unwrap();
        assert_eq!(p.resident_id().unwrap().to_string(), c.sub);
    }

    #[tokio::test]
    async fn a_delegated_token_is_for_the_counter_calls_only() {
        let k = key("k1");
        let mut c = claims();
        c.act = Some(crate::Actor {
            sub: uuid::Uuid::now_v7().to_string(),
            institution: "QP-ZJJ-01".into(),
        });
        let (v, token) = (verifier(&[&k]), sign(&k, &c));
        assert!(rejection(&v, &token).await.contains("delegated"));
        for call in DELEGATED_CALLS {
            let p = v.verify_call(&token, call).await.unwrap();
            assert_eq!(p.resident_id().unwrap().to_string(), c.sub);
        }
        for call in [
            "/healthpoints.identity.v1.IdentityService/CloseAccount",
            "/healthpoints.ledger.v1.LedgerService/ListTransactions",
        ] {
            let err = v.verify_call(&token, call).await.unwrap_err();
            assert_eq!(err.code, healthpoints_errors::ErrorCode::PermissionDenied);
        }
        // Without `act` the same claims are any call's.
        c.act = None;
        let plain = sign(&k, &c);
        v.verify(&plain).await.unwrap();
        v.verify_call(
            &plain,
            "/healthpoints.ledger.v1.LedgerService/ListTransactions",
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn rejects_alg_none() {
        let k = key("k1");
        let body = b64(serde_json::to_string(&claims()).unwrap().as_bytes());
        let header = b64(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        let token = format!("{header}.{body}.");
        assert!(
            rejection(&verifier(&[&k]), &token)
                .await
                .contains("unsupported")
        );
    }

    #[tokio::test]
    async fn rejects_hs256_signed_with_the_public_key() {
        let k = key("k1");
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let public = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&k.jwk.x)
            .unwrap();
        let token =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&public)).unwrap();
        assert_eq!(
            rejection(&verifier(&[&k]), &token).await,
            "token algorithm is not accepted"
        );
    }

    #[tokio::test]
    async fn rejects_wrong_audience_and_issuer() {
        let k = key("k1");
        let v = verifier(&[&k]);
        let mut c = claims();
        c.aud = "someone-else".into();
        assert_eq!(
            rejection(&v, &sign(&k, &c)).await,
            "token audience is not accepted"
        );
        let mut c = claims();
        c.iss = "evil".into();
        assert_eq!(
            rejection(&v, &sign(&k, &c)).await,
            "token issuer is not accepted"
        );
    }

    #[tokio::test]
    async fn rejects_an_unknown_kid() {
        let published = key("k1");
        let rogue = key("rogue");
        assert_eq!(
            rejection(&verifier(&[&published]), &sign(&rogue, &claims())).await,
            "token signing key is unknown"
        );
    }

    #[tokio::test]
    async fn rejects_a_key_id_that_names_another_key() {
        let published = key("k1");
        let mut rogue = key("k2");
        rogue.kid = "k1".into();
        assert_eq!(
            rejection(&verifier(&[&published]), &sign(&rogue, &claims())).await,
            "token signature is invalid"
        );
    }

    #[tokio::test]
    async fn rejects_expired_and_not_yet_valid_tokens() {
        let k = key("k1");
        let v = verifier(&[&k]);
        let mut c = claims();
        c.exp = now() - 120;
        assert_eq!(rejection(&v, &sign(&k, &c)).await, "token has expired");
        let mut c = claims();
        c.nbf = now() + 600;
        assert_eq!(rejection(&v, &sign(&k, &c)).await, "token is not valid yet");
    }

    #[tokio::test]
    async fn a_remembered_token_still_expires_and_a_tampered_copy_never_hits() {
        let k = key("k1");
        let v = Verifier::new(
            VerifierConfig {
                leeway_seconds: 0,
                ..VerifierConfig::default()
            },
            StaticJwks(vec![k.jwk.clone()]),
        );
        let mut c = claims();
        c.exp = now() + 1;
        let token = sign(&k, &c);
        assert_eq!(v.verify_claims(&token).await.unwrap().sub, c.sub);
        assert_eq!(v.verify_claims(&token).await.unwrap().sub, c.sub);
        // The same payload with another role and the remembered token's signature.
        let parts: Vec<&str> = token.split('.').collect();
        let mut elevated = c.clone();
        elevated.role = Role::CityAdmin;
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(serde_json::to_string(&elevated).unwrap().as_bytes()),
            parts[2]
        );
        assert_eq!(rejection(&v, &forged).await, "token signature is invalid");
        // No clock to move: jsonwebtoken reads the system time. Two seconds pass the expiry.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(rejection(&v, &token).await, "token has expired");
    }

    #[tokio::test]
    async fn rejects_a_tampered_payload() {
        let k = key("k1");
        let token = sign(&k, &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let mut c = claims();
        c.role = Role::Service;
        c.service = Some("ledger".into());
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(serde_json::to_string(&c).unwrap().as_bytes()),
            parts[2]
        );
        assert_eq!(
            rejection(&verifier(&[&k]), &forged).await,
            "token signature is invalid"
        );
    }

    /// A key source whose set can change and which counts how often it is asked.
    #[derive(Default)]
    struct Rotating {
        keys: std::sync::Mutex<Vec<Jwk>>,
        fetches: std::sync::atomic::AtomicUsize,
    }

    impl JwksSource for Arc<Rotating> {
        fn fetch(&self) -> BoxFuture<'_, Result<Vec<Jwk>, ApiError>> {
            self.fetches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move { Ok(self.keys.lock().unwrap().clone()) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_kid_refreshes_the_keys_at_most_once_per_interval() {
        let (old, new) = (key("old"), key("new"));
        let source = Arc::new(Rotating::default());
        source.keys.lock().unwrap().push(old.jwk.clone());
        let fetches = || source.fetches.load(std::sync::atomic::Ordering::SeqCst);
        let v = Verifier::new(VerifierConfig::default(), source.clone());
        v.verify(&sign(&old, &claims())).await.unwrap();
        v.verify(&sign(&old, &claims())).await.unwrap();
        assert_eq!(fetches(), 1, "known keys are not fetched again");

        // identity rotates: the new kid, seen right after a fetch, waits for the interval.
        source.keys.lock().unwrap().push(new.jwk.clone());
        assert_eq!(
            rejection(&v, &sign(&new, &claims())).await,
            "token signing key is unknown"
        );
        assert_eq!(fetches(), 1);
        tokio::time::advance(MIN_REFRESH_INTERVAL).await;
        v.verify(&sign(&new, &claims())).await.unwrap();
        assert_eq!(fetches(), 2, "the unknown kid refreshed the set once");
        v.verify(&sign(&old, &claims())).await.unwrap();

        // Forged kids cannot make the verifier hammer identity: one fetch per interval.
        for i in 0..20 {
            let forged = key(&format!("forged-{i}"));
            assert_eq!(
                rejection(&v, &sign(&forged, &claims())).await,
                "token signing key is unknown"
            );
        }
        assert_eq!(fetches(), 2);
        tokio::time::advance(MIN_REFRESH_INTERVAL).await;
        for i in 0..20 {
            let _ = v
                .verify(&sign(&key(&format!("forged-{i}")), &claims()))
                .await;
        }
        assert_eq!(fetches(), 3);
    }
}
