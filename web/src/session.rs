//! The browser's session: one cookie, sealed (AES-256-GCM) so the browser can neither read
//! nor change it, `HttpOnly` and `SameSite=Strict`, `Secure` and `__Host-` behind TLS. It
//! holds the tokens the gateway issued, so they never reach the page's scripts, which is the
//! backend-for-frontend pattern of the IETF "OAuth 2.0 for Browser-Based Applications" draft.
//! Sealing instead of a server-side store keeps every replica of the web client stateless:
//! any replica with the same key opens any session.
//!
//! Every visitor gets a session (anonymous until they sign in) with a random id; a form's CSRF
//! token is an HMAC of that id, so a token from one session is worthless in another.

use aws_lc_rs::{
    aead::{self, Aad, LessSafeKey, Nonce, UnboundKey},
    constant_time, hmac,
    rand::{SecureRandom, SystemRandom},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::{Deserialize, Serialize};

use crate::i18n::Lang;

/// The keys a session is sealed and its forms signed with, both derived from one secret.
pub struct Keys {
    seal: LessSafeKey,
    csrf: hmac::Key,
    rng: SystemRandom,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

const AAD: &[u8] = b"healthpoints-web-session-v1";

impl Keys {
    /// Keys from a configured secret, or from fresh random bytes.
    pub fn new(secret: Option<[u8; 32]>) -> anyhow::Result<Self> {
        let rng = SystemRandom::new();
        let secret = match secret {
            Some(s) => s,
            None => {
                let mut s = [0u8; 32];
                rng.fill(&mut s)
                    .map_err(|_| anyhow::anyhow!("no system randomness"))?;
                s
            }
        };
        // One secret, two purposes: each key is the secret's HMAC of its purpose.
        let master = hmac::Key::new(hmac::HMAC_SHA256, &secret);
        let seal = hmac::sign(&master, b"seal");
        let csrf = hmac::sign(&master, b"csrf");
        Ok(Self {
            seal: LessSafeKey::new(
                UnboundKey::new(&aead::AES_256_GCM, seal.as_ref())
                    .map_err(|_| anyhow::anyhow!("session key"))?,
            ),
            csrf: hmac::Key::new(hmac::HMAC_SHA256, csrf.as_ref()),
            rng,
        })
    }

    /// `n` random bytes, base64url.
    pub fn random_token(&self, n: usize) -> String {
        let mut bytes = vec![0u8; n];
        // The system's generator does not fail on a running machine; a zeroed id would still
        // be sealed and bound to nothing else.
        let _ = self.rng.fill(&mut bytes);
        B64.encode(bytes)
    }

    /// A fresh anonymous session.
    pub fn fresh(&self, now: i64, lang: Lang) -> Session {
        Session {
            id: self.random_token(16),
            started: now,
            lang,
            user: None,
            flash: None,
        }
    }

    /// The cookie value of a session.
    pub fn seal(&self, session: &Session) -> String {
        let mut nonce = [0u8; 12];
        let _ = self.rng.fill(&mut nonce);
        let mut data = serde_json::to_vec(session).unwrap_or_default();
        if self
            .seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut data,
            )
            .is_err()
        {
            return String::new();
        }
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        B64.encode(out)
    }

    /// The session a cookie value holds, if it was sealed with these keys and is intact.
    pub fn open(&self, value: &str) -> Option<Session> {
        let bytes = B64.decode(value).ok()?;
        if bytes.len() < 12 + 16 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let mut sealed = sealed.to_vec();
        let plain = self
            .seal
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).ok()?,
                Aad::from(AAD),
                &mut sealed,
            )
            .ok()?;
        serde_json::from_slice(plain).ok()
    }

    /// The CSRF token of a session's forms.
    pub fn csrf(&self, session: &Session) -> String {
        B64.encode(hmac::sign(&self.csrf, session.id.as_bytes()).as_ref())
    }

    /// Whether a form's token belongs to this session (constant time).
    pub fn csrf_ok(&self, session: &Session, token: &str) -> bool {
        constant_time::verify_slices_are_equal(self.csrf(session).as_bytes(), token.as_bytes())
            .is_ok()
    }
}

/// What the cookie carries.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    /// Random; CSRF tokens are bound to it. A new one at every sign-in and sign-out.
    pub id: String,
    /// Unix seconds of the sign-in (or of the anonymous visit).
    pub started: i64,
    pub lang: Lang,
    pub user: Option<User>,
    /// A message for the next page (post/redirect/get).
    pub flash: Option<Flash>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("started", &self.started)
            .field("signed_in", &self.user.is_some())
            .finish_non_exhaustive()
    }
}

/// A message shown once, on the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

/// Who is signed in, with the tokens the gateway issued (never shown to the page).
#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    pub access: String,
    pub refresh: String,
    /// Unix seconds when the access token expires.
    pub expires: i64,
    pub role: Role,
    /// A district admin's district.
    pub district: Option<String>,
    /// What the header shows: the resident's masked name or the staff login.
    pub display: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("role", &self.role)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// The kinds of user the web client serves (others sign in through the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Resident,
    Merchant,
    DistrictAdmin,
    CityAdmin,
    /// Staff at a health-station counter.
    Station,
}

impl Role {
    /// Where the role starts.
    pub fn home(self) -> &'static str {
        match self {
            Self::Resident => "/me",
            Self::Merchant => "/counter",
            Self::DistrictAdmin | Self::CityAdmin => "/office",
            Self::Station => "/station",
        }
    }
}

/// The claims of an access token the web client reads to lay out its pages. It does not
/// verify the signature: the token came straight from the gateway, and the gateway verifies it
/// on every call.
#[derive(Debug, Deserialize)]
pub struct TokenFacts {
    pub exp: i64,
    pub role: String,
    #[serde(default)]
    pub district: Option<String>,
}

impl TokenFacts {
    pub fn read(token: &str) -> Option<Self> {
        let payload = token.split('.').nth(1)?;
        serde_json::from_slice(&B64.decode(payload).ok()?).ok()
    }

    pub fn role(&self) -> Option<Role> {
        match self.role.as_str() {
            "resident" => Some(Role::Resident),
            "merchant" => Some(Role::Merchant),
            "district_admin" => Some(Role::DistrictAdmin),
            "city_admin" => Some(Role::CityAdmin),
            "station_staff" => Some(Role::Station),
            _ => None,
        }
    }
}

/// The cookie's name: `__Host-` behind TLS, so no subdomain can set or shadow it.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-hp" } else { "hp" }
}

/// The `Set-Cookie` value for a session. No `Max-Age`: the cookie ends with the browser, and
/// the session itself ends `max_age` after sign-in whatever the browser keeps.
pub fn set_cookie(secure: bool, value: &str) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict{}",
        cookie_name(secure),
        if secure { "; Secure" } else { "" }
    )
}

/// The session cookie's value in a `Cookie` header, if any.
pub fn read_cookie(header: &str, secure: bool) -> Option<&str> {
    let name = cookie_name(secure);
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_session_opens_only_with_its_key_and_unchanged() {
        let keys = Keys::new(Some([7; 32])).unwrap();
        let mut s = keys.fresh(100, Lang::Zh);
        s.flash = Some(Flash {
            ok: true,
            text: "签到成功".into(),
        });
        let sealed = keys.seal(&s);
        let opened = keys.open(&sealed).unwrap();
        assert_eq!(opened.id, s.id);
        assert_eq!(opened.flash.unwrap().text, "签到成功");
        // Another key, a flipped byte, a truncation: nothing opens.
        assert!(Keys::new(Some([8; 32])).unwrap().open(&sealed).is_none());
        let mut bytes = B64.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(keys.open(&B64.encode(&bytes)).is_none());
        assert!(keys.open(&sealed[..20]).is_none());
        assert!(keys.open("not base64 at all!").is_none());
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let keys = Keys::new(None).unwrap();
        let a = keys.fresh(0, Lang::Zh);
        let b = keys.fresh(0, Lang::Zh);
        let token = keys.csrf(&a);
        assert!(keys.csrf_ok(&a, &token));
        assert!(!keys.csrf_ok(&b, &token));
        assert!(!keys.csrf_ok(&a, ""));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_behind_tls() {
        assert_eq!(
            set_cookie(true, "v"),
            "__Host-hp=v; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(
            set_cookie(false, "v"),
            "hp=v; Path=/; HttpOnly; SameSite=Strict"
        );
        assert_eq!(read_cookie("a=1; hp=xyz; b=2", false), Some("xyz"));
        assert_eq!(read_cookie("a=1; hpx=1", false), None);
    }
}
