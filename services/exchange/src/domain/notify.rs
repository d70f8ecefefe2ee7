//! Notifications and webhooks, as the domain sees them: an event (written in the same
//! transaction as the change that causes it — the exchange's outbox), what a resident reads of
//! it in their inbox, and the webhooks partners register to hear of it at once, each delivery
//! signed as the Standard Webhooks specification says (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`) and retried with
//! backoff for about a day. Outbound calls are a server-side request forgery risk: a webhook's
//! address must be public unless configuration allows otherwise ([`UrlPolicy`]).

use std::net::IpAddr;

use aws_lc_rs::hmac;
use base64::{Engine as _, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{ExchangeError, Result};

/// Events a partner may subscribe to: a resident granting or revoking consent to it, and a
/// record it sent rejected (by intake's checks, a book's exhausted budget or a reviewer).
pub const PARTNER_EVENTS: &[&str] = &["consent.granted", "consent.revoked", "record.rejected"];

/// Events intake's outbox holds (the exchange pulls them).
pub const INTAKE_EVENTS: &[&str] = &["points.awarded", "points.held", "record.rejected"];

/// Events the ledger's outbox holds (the exchange pulls them).
pub const LEDGER_EVENTS: &[&str] = &["points.expiring"];

/// Events a mall publishes beside its merchants' ([`MERCHANT_EVENTS`]): for residents only.
pub const MALL_RESIDENT_EVENTS: &[&str] = &["voucher.expiring"];

/// Events a merchant may subscribe to: its orders' lives, from its mall's outbox.
pub const MERCHANT_EVENTS: &[&str] = &[
    "order.created",
    "order.cancelled",
    "order.expired",
    "order.written_off",
    "order.refunded",
];

/// Who a webhook belongs to, as stored: `partner:<id>` or `merchant:<mall>:<merchant id>`.
pub fn partner_owner(partner_id: &str) -> String {
    format!("partner:{partner_id}")
}

/// See [`partner_owner`].
pub fn merchant_owner(mall: &str, merchant_id: &str) -> String {
    format!("merchant:{mall}:{merchant_id}")
}

/// One thing that happened, for whom it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The Standard Webhooks `webhook-id`: the same on every attempt and every replay.
    pub id: Uuid,
    /// e.g. `consent.revoked`.
    pub kind: String,
    pub at: DateTime<Utc>,
    /// The resident whose inbox it goes to, if any.
    pub resident_id: Option<String>,
    /// The partner whose webhooks hear of it, if any.
    pub partner_id: Option<String>,
    /// The merchant (its id, and its mall) whose webhooks hear of it, if any.
    pub merchant: Option<(String, String)>,
    /// What the event says (ids and codes only: never an ID number, a phone number or a name).
    pub data: serde_json::Value,
}

/// An event a mall published that the exchange did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedEvent {
    /// Its position in the call.
    pub position: usize,
    /// e.g. `events[3].kind`.
    pub field: String,
    pub reason: String,
}

/// A service whose outbox the exchange reads (intake, the ledger: they must not call the
/// exchange, which calls them). Each event comes with its id, and with `None` when it could not
/// be read (it is acknowledged all the same, and logged: it would block the outbox otherwise).
pub trait EventSource: Send + Sync {
    fn read_events(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(String, Option<Event>)>>> + Send;
    fn ack_events(&self, ids: Vec<String>) -> impl Future<Output = Result<()>> + Send;
}

/// A line of a resident's inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: Uuid,
    pub kind: String,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// A partner's or a merchant's registered webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Uuid,
    /// [`partner_owner`] or [`merchant_owner`].
    pub owner: String,
    pub url: String,
    pub events: Vec<String>,
    /// `whsec_` and the base64 of 32 random bytes: shown once, kept to sign.
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx answer.
    Delivered,
    /// Every attempt of the schedule failed; a replay tries again.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One event on its way to one webhook, with its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub kind: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status of the last attempt.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, when it did.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The body a webhook receives.
pub fn payload(e: &Event) -> String {
    serde_json::json!({
        "type": e.kind,
        "timestamp": e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": e.data,
    })
    .to_string()
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| ExchangeError::fault("the random number generator failed"))?;
    Ok(format!("whsec_{}", STANDARD.encode(bytes)))
}

/// The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256, keyed with the secret's
/// bytes, of `{id}.{timestamp}.{body}`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| ExchangeError::fault("a stored webhook secret is not base64"))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let tag = hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(tag.as_ref())))
}

/// When the next attempt is due after `attempts` failed ones, by the configured schedule
/// (seconds after each failure); `None` when the schedule is spent.
pub fn next_attempt(schedule: &[u64], attempts: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let wait = schedule.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
    Some(now + chrono::Duration::seconds(i64::try_from(*wait).ok()?))
}

/// Where webhooks may call.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy {
    /// Loopback addresses allowed (a developer's local receiver; `healthpoints up` sets it).
    pub allow_loopback: bool,
    /// Hosts (names or IP addresses) allowed whatever they resolve to, and over plain HTTP:
    /// a receiver inside the city's own network.
    pub allowed_hosts: Vec<String>,
}

impl UrlPolicy {
    fn listed(&self, host: &str) -> bool {
        self.allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host.trim_matches(['[', ']'])))
    }

    /// Whether a resolved address may be called for `host`.
    pub fn allows_ip(&self, host: &str, ip: IpAddr) -> bool {
        if self.listed(host) {
            return true;
        }
        if ip.is_loopback() || ip.to_canonical().is_loopback() {
            return self.allow_loopback;
        }
        public(ip)
    }

    /// Checks a webhook's address before anything is resolved: an absolute `https` URL (or
    /// `http` to loopback or a listed host), no credentials in it, and a host that is not a
    /// forbidden address written out. Answers the host and port to resolve.
    pub fn check(&self, raw: &str) -> std::result::Result<(String, u16), UrlRefusal> {
        let malformed = |why: &str| UrlRefusal::Malformed(why.to_owned());
        let refused = |why: &str| UrlRefusal::Refused(why.to_owned());
        if raw.len() > 2_000 {
            return Err(malformed("is longer than 2,000 characters"));
        }
        let url = url::Url::parse(raw.trim()).map_err(|_| malformed("is not an absolute URL"))?;
        let host = url
            .host_str()
            .ok_or_else(|| malformed("has no host"))?
            .to_owned();
        if !url.username().is_empty() || url.password().is_some() {
            return Err(malformed("must not carry a user name or password"));
        }
        if url.fragment().is_some() {
            return Err(malformed("must not have a fragment"));
        }
        let loopback_name = host.eq_ignore_ascii_case("localhost");
        let literal = host.trim_matches(['[', ']']).parse::<IpAddr>().ok();
        let plain_ok = self.listed(&host)
            || (self.allow_loopback
                && (loopback_name || literal.is_some_and(|ip| ip.to_canonical().is_loopback())));
        match url.scheme() {
            "https" => {}
            "http" if plain_ok => {}
            "http" => return Err(refused("must use https")),
            _ => return Err(malformed("must be an https URL")),
        }
        if let Some(ip) = literal
            && !self.allows_ip(&host, ip)
        {
            return Err(refused(
                "points at a loopback, private, link-local or metadata address, which webhooks may not call",
            ));
        }
        if loopback_name && !self.allow_loopback && !self.listed(&host) {
            return Err(refused(
                "points at this machine (localhost), which webhooks may not call",
            ));
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| malformed("has no port"))?;
        Ok((host, port))
    }
}

/// Why a webhook's address is refused: not a usable URL, or a URL webhooks may not call. Both
/// are answered 422: the request is well-formed (its `url` matches the documented pattern), the
/// address is not one to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlRefusal {
    Malformed(String),
    Refused(String),
}

impl UrlRefusal {
    pub fn reason(&self) -> &str {
        match self {
            Self::Malformed(why) | Self::Refused(why) => why,
        }
    }

    /// As the caller is answered.
    pub fn into_error(self) -> ExchangeError {
        match self {
            Self::Malformed(why) | Self::Refused(why) => {
                ExchangeError::Refused(format!("url: {why}"))
            }
        }
    }
}

/// Whether an address is on the public internet: not loopback, private (RFC 1918, unique local
/// fc00::/7), link-local (169.254/16 — the cloud metadata service lives there — and fe80::/10),
/// shared (100.64/10), unspecified, broadcast, multicast or documentation.
pub fn public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || (a == 192 && b == 0))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let first = s[0];
            // Addresses that carry an IPv4 address — NAT64 (64:ff9b::/96), 6to4 (2002::/16) and
            // the old IPv4-compatible ::/96 — are refused: they may reach a private one.
            let embeds_v4 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
                || first == 0x2002
                || s[..6] == [0, 0, 0, 0, 0, 0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || embeds_v4
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && s[1] == 0x0db8)
        }
    }
}

/// The events a registration asks for: known to this audience, each once.
pub fn check_events(events: &[String], known: &[&str]) -> Result<Vec<String>> {
    if events.is_empty() {
        return Err(ExchangeError::invalid(
            "events",
            format!("name at least one of {}", known.join(", ")),
        ));
    }
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let e = e.trim();
        if !known.contains(&e) {
            return Err(ExchangeError::invalid(
                &format!("events[{i}]"),
                format!("must be one of {}", known.join(", ")),
            ));
        }
        if !out.iter().any(|o| o == e) {
            out.push(e.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // The Standard Webhooks specification's own example.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, id, 1_614_265_330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        let now = Utc::now();
        let schedule = [5, 300];
        assert_eq!(
            next_attempt(&schedule, 1, now),
            Some(now + chrono::Duration::seconds(5))
        );
        assert_eq!(
            next_attempt(&schedule, 2, now),
            Some(now + chrono::Duration::seconds(300))
        );
        assert_eq!(next_attempt(&schedule, 3, now), None);
    }

    #[test]
    fn webhooks_call_only_public_addresses_unless_configured() {
        let strict = UrlPolicy::default();
        for bad in [
            "http://example.org/hook",
            "https://127.0.0.1/hook",
            "https://localhost/hook",
            "https://10.0.0.8/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[fd00::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://100.64.0.1/hook",
            "https://198.18.0.1/hook",
            "https://240.0.0.1/hook",
            "https://[64:ff9b::a00:1]/hook",
            "https://[2002:a00:1::1]/hook",
            "https://[::a00:1]/hook",
            "https://2130706433/hook",
            "https://0x7f.1/hook",
            "https://user:pw@example.org/hook",
            "ftp://example.org/hook",
            "not a url",
        ] {
            assert!(strict.check(bad).is_err(), "{bad} must be refused");
        }
        assert_eq!(
            strict.check("https://hooks.example.org/hp").unwrap(),
            ("hooks.example.org".to_owned(), 443)
        );
        let local = UrlPolicy {
            allow_loopback: true,
            ..UrlPolicy::default()
        };
        assert!(local.check("http://127.0.0.1:9000/hook").is_ok());
        assert!(local.check("http://localhost:9000/hook").is_ok());
        assert!(local.check("https://10.0.0.8/hook").is_err());
        let listed = UrlPolicy {
            allowed_hosts: vec!["10.0.0.8".into()],
            ..UrlPolicy::default()
        };
        assert!(listed.check("http://10.0.0.8/hook").is_ok());
        assert!(!strict.allows_ip("hooks.example.org", "192.168.1.1".parse().unwrap()));
        assert!(strict.allows_ip("hooks.example.org", "93.184.216.34".parse().unwrap()));
    }

    #[test]
    fn registrations_name_known_events() {
        assert!(check_events(&[], PARTNER_EVENTS).is_err());
        assert!(check_events(&["order.created".into()], PARTNER_EVENTS).is_err());
        assert_eq!(
            check_events(
                &["consent.revoked".into(), "consent.revoked".into()],
                PARTNER_EVENTS
            )
            .unwrap(),
            ["consent.revoked"]
        );
    }
}
