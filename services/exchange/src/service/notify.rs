//! Residents' inboxes, partners' webhooks and the worker that delivers (the rules and the
//! signature: [`crate::domain::notify`]). A notification is also handed to the [`Sender`] (an
//! SMS or WeChat-message adapter in a deployment; the log by default); a webhook delivery is
//! sent at least once and retried by the configured schedule, and every attempt is in its log.

use std::{future::Future, net::SocketAddr, time::Duration};

use chrono::Utc;
use healthpoints_auth::Principal;
use uuid::Uuid;

use super::Exchange;
use crate::domain::{
    error::{ExchangeError, Result},
    notify::{
        Delivery, DeliveryStatus, EventSource, INTAKE_EVENTS, LEDGER_EVENTS, MALL_RESIDENT_EVENTS,
        MERCHANT_EVENTS, Notification, PARTNER_EVENTS, UrlPolicy, UrlRefusal, Webhook,
        check_events, merchant_owner, new_secret, next_attempt, partner_owner, payload, signature,
    },
    notify::{Event, RefusedEvent},
    partners::{Identity, Intake},
};

/// How webhooks are called.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    pub policy: UrlPolicy,
    /// Seconds to wait after each failed attempt; when it is spent, the delivery has failed.
    pub retry_after_seconds: Vec<u64>,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl Default for WebhookOptions {
    /// The Standard Webhooks schedule: after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h —
    /// eight attempts over about a day and a half.
    fn default() -> Self {
        Self {
            policy: UrlPolicy::default(),
            retry_after_seconds: vec![5, 300, 1_800, 7_200, 18_000, 36_000, 36_000],
            timeout: Duration::from_secs(5),
        }
    }
}

/// Hands a resident's notification to them outside the app (an SMS gateway, WeChat messages).
pub trait Sender: Send + Sync {
    fn send(
        &self,
        resident_id: &str,
        notification: &Notification,
    ) -> impl Future<Output = std::result::Result<(), String>> + Send;
}

/// The default sender: the inbox only, and a log line (the kind, never the resident).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSender;

impl Sender for LogSender {
    async fn send(&self, _: &str, n: &Notification) -> std::result::Result<(), String> {
        tracing::info!(kind = %n.kind, "notification sent to the resident's inbox");
        Ok(())
    }
}

/// Resolves a webhook's host now, and refuses it when any address it names may not be called.
/// Answers the host (unbracketed) and the addresses checked.
async fn resolve(
    policy: &UrlPolicy,
    url: &str,
) -> std::result::Result<(String, Vec<SocketAddr>), UrlRefusal> {
    let (host, port) = policy.check(url)?;
    let bare = host.trim_matches(['[', ']']).to_owned();
    let unresolved = || UrlRefusal::Refused(format!("the host {host} does not resolve"));
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare.as_str(), port))
        .await
        .map_err(|_| unresolved())?
        .collect();
    if addrs.is_empty() {
        return Err(unresolved());
    }
    if addrs.iter().any(|a| !policy.allows_ip(&host, a.ip())) {
        // Which address is not said: the answer must not map the network behind the exchange.
        return Err(UrlRefusal::Refused(format!(
            "the host {host} resolves to a loopback, private, link-local or metadata address, which webhooks may not call"
        )));
    }
    Ok((bare, addrs))
}

impl<I, N, L> Exchange<I, N, L> {
    /// The caller's notifications, newest first, and how many are unread.
    pub async fn notifications(
        &self,
        caller: &Principal,
        unread_only: bool,
        cursor: &str,
        page_size: u32,
    ) -> Result<(Vec<Notification>, u64, Option<String>)> {
        let me = resident_of(caller)?;
        let before = healthpoints_types::uuid_cursor(cursor)
            .map_err(|e| ExchangeError::invalid("page.cursor", e.0))?;
        let size = match page_size {
            0 => 50,
            n => n.min(200),
        };
        let list = self
            .store
            .notifications(&me, unread_only, before, u64::from(size))
            .await?;
        let unread = self.store.unread(&me).await?;
        let next = (list.len() == size as usize)
            .then(|| list.last().map(|n| n.id.to_string()))
            .flatten();
        Ok((list, unread, next))
    }

    /// Marks the caller's notifications read: these, or (none named) all of them.
    pub async fn mark_read(&self, caller: &Principal, ids: &[String]) -> Result<u64> {
        let me = resident_of(caller)?;
        let ids = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                Uuid::parse_str(id.trim()).map_err(|_| {
                    ExchangeError::invalid(&format!("notification_ids[{i}]"), "must be a UUID")
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let ids = (!ids.is_empty()).then_some(ids.as_slice());
        self.store.mark_read(&me, ids, self.now()).await
    }

    /// Sends the notifications not sent yet (up to 100), then marks those that went in one
    /// write; answers how many went. Sending is at least once: a crash before the mark sends
    /// those again.
    pub async fn send_notifications_once(&self, sender: &impl Sender) -> Result<usize> {
        let mut sent = Vec::new();
        for (resident, n) in self.store.unsent(100).await? {
            match sender.send(&resident, &n).await {
                Ok(()) => sent.push(n.id),
                Err(why) => {
                    tracing::warn!(kind = %n.kind, %why, "a notification was not sent; retried")
                }
            }
        }
        self.store.mark_sent(&sent, self.now()).await?;
        Ok(sent.len())
    }
}

/// The resident calling, as the store names them.
fn resident_of(caller: &Principal) -> Result<String> {
    caller
        .resident_id()
        .map(|r| r.to_string())
        .ok_or_else(|| ExchangeError::Forbidden("notifications are the resident's own".into()))
}

fn webhook_id(raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| ExchangeError::NotFound("webhook".into()))
}

impl<I: Identity, N: Intake, L> Exchange<I, N, L> {
    /// Registers a webhook for the calling partner or merchant; the answer carries its secret,
    /// shown once.
    pub async fn register_webhook(
        &self,
        caller: &Principal,
        url: &str,
        events: &[String],
    ) -> Result<Webhook> {
        let (owner, known) = self.owner_of(caller).await?;
        let events = check_events(events, known)?;
        resolve(&self.webhooks.policy, url)
            .await
            .map_err(UrlRefusal::into_error)?;
        if self.store.webhooks(&owner).await?.len() >= 10 {
            return Err(ExchangeError::Refused(
                "at most 10 webhooks each; delete one first".into(),
            ));
        }
        let hook = Webhook {
            id: Uuid::now_v7(),
            owner,
            url: url.trim().to_owned(),
            events,
            secret: new_secret()?,
            created_at: self.now(),
        };
        self.store.insert_webhook(&hook).await?;
        Ok(hook)
    }

    /// The caller's webhooks (secrets are not shown again).
    pub async fn webhooks(&self, caller: &Principal) -> Result<Vec<Webhook>> {
        let (owner, _) = self.owner_of(caller).await?;
        self.store.webhooks(&owner).await
    }

    pub async fn delete_webhook(&self, caller: &Principal, id: &str) -> Result<()> {
        let (owner, _) = self.owner_of(caller).await?;
        if !self
            .store
            .delete_webhook(&owner, webhook_id(id)?, self.now())
            .await?
        {
            return Err(ExchangeError::NotFound("webhook".into()));
        }
        Ok(())
    }

    /// A webhook's deliveries, newest first: each event, its status and its last attempt.
    pub async fn deliveries(
        &self,
        caller: &Principal,
        id: &str,
        cursor: &str,
        page_size: u32,
    ) -> Result<(Vec<Delivery>, Option<String>)> {
        let (owner, _) = self.owner_of(caller).await?;
        let hook = self
            .store
            .webhook(&owner, webhook_id(id)?)
            .await?
            .ok_or_else(|| ExchangeError::NotFound("webhook".into()))?;
        let before = healthpoints_types::uuid_cursor(cursor)
            .map_err(|e| ExchangeError::invalid("page.cursor", e.0))?;
        let size = match page_size {
            0 => 50,
            n => n.min(200),
        };
        let list = self
            .store
            .deliveries(hook.id, before, u64::from(size))
            .await?;
        let next = (list.len() == size as usize)
            .then(|| list.last().map(|d| d.id.to_string()))
            .flatten();
        Ok((list, next))
    }

    /// Sends a delivery again now (the same `webhook-id`: a receiver that has it ignores it).
    pub async fn replay(&self, caller: &Principal, id: &str, delivery: &str) -> Result<()> {
        let (owner, _) = self.owner_of(caller).await?;
        let hook = self
            .store
            .webhook(&owner, webhook_id(id)?)
            .await?
            .ok_or_else(|| ExchangeError::NotFound("webhook".into()))?;
        let delivery = Uuid::parse_str(delivery.trim())
            .map_err(|_| ExchangeError::NotFound("delivery".into()))?;
        if !self.store.replay(hook.id, delivery, self.now()).await? {
            return Err(ExchangeError::NotFound("delivery".into()));
        }
        Ok(())
    }
}

impl<I: Identity, N: Intake, L> Exchange<I, N, L> {
    /// Who owns the caller's webhooks — the calling partner (registered and active), or the
    /// calling merchant of its mall — and the events they may ask for.
    async fn owner_of(&self, caller: &Principal) -> Result<(String, &'static [&'static str])> {
        match caller {
            Principal::Merchant {
                merchant_id, mall, ..
            } => Ok((
                merchant_owner(&mall.to_string(), &merchant_id.to_string()),
                MERCHANT_EVENTS,
            )),
            _ => Ok((
                partner_owner(&self.registered_partner(caller).await?.partner_id),
                PARTNER_EVENTS,
            )),
        }
    }
}

impl<I, N, L> Exchange<I, N, L> {
    /// One round of the delivery worker: every due delivery is claimed, sent and its outcome
    /// recorded. Answers how many were attempted.
    pub async fn deliver_once(&self) -> Result<usize> {
        let options = &self.webhooks;
        // The lease covers the lookup, the request and its timeout, from the moment of each
        // claim: another replica finds the delivery again only once an attempt surely ended.
        let lease_for = chrono::Duration::from_std(options.timeout * 3 + Duration::from_secs(10))
            .unwrap_or_default();
        let mut attempted = 0;
        for (mut d, hook, event) in self.store.due(self.now(), 50).await? {
            let lease = self.now() + lease_for;
            if !self.store.claim(&d, lease).await? {
                continue;
            }
            d.next_attempt_at = lease;
            attempted += 1;
            let outcome = attempt(options, &hook, &event).await;
            let at = self.now();
            d.attempts += 1;
            d.last_attempt_at = Some(at);
            match outcome {
                Ok(status) => {
                    d.status = DeliveryStatus::Delivered;
                    d.last_status = Some(status);
                    d.last_error = None;
                }
                Err((status, why)) => {
                    d.last_status = status;
                    d.last_error = Some(why);
                    match next_attempt(&options.retry_after_seconds, d.attempts, at) {
                        Some(next) => d.next_attempt_at = next,
                        None => d.status = DeliveryStatus::Failed,
                    }
                }
            }
            healthpoints_telemetry::metrics::metrics()
                .sweeps
                .get_or_create(&healthpoints_telemetry::metrics::SweepLabels {
                    service: "exchange".into(),
                    action: format!("webhook_{}", d.status.as_str()),
                })
                .inc();
            // Recorded only while the lease is still this worker's (a replay or another replica
            // may have moved the delivery on meanwhile).
            self.store.attempted(&d, lease).await?;
        }
        Ok(attempted)
    }
}

/// One attempt: the address checked again (it may resolve elsewhere now), the body signed, a
/// 2xx answer within the timeout. The error carries the status when there was one.
async fn attempt(
    options: &WebhookOptions,
    hook: &Webhook,
    event: &Event,
) -> std::result::Result<u16, (Option<u16>, String)> {
    let (host, addrs) = resolve(&options.policy, &hook.url)
        .await
        .map_err(|why| (None, why.reason().to_owned()))?;
    let body = payload(event);
    let id = event.id.to_string();
    let timestamp = Utc::now().timestamp();
    let signed =
        signature(&hook.secret, &id, timestamp, &body).map_err(|e| (None, e.to_string()))?;
    // Connect to the address just checked, not to whatever the name resolves to a moment later.
    let pinned = reqwest::Client::builder()
        .timeout(options.timeout)
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the name itself, past the addresses just checked.
        .no_proxy()
        .resolve_to_addrs(&host, &addrs)
        .build()
        .map_err(|_| (None, "no HTTP client could be built".to_owned()))?;
    let answer = pinned
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signed)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            let why = if e.is_timeout() {
                "the receiver did not answer in time"
            } else if e.is_connect() {
                "the receiver could not be reached"
            } else {
                "the request failed"
            };
            (None, why.to_owned())
        })?;
    let status = answer.status().as_u16();
    if answer.status().is_success() {
        Ok(status)
    } else {
        Err((Some(status), format!("the receiver answered {status}")))
    }
}

impl<I, N, L> Exchange<I, N, L> {
    /// Records the events a mall's outbox publishes, each tagged with its position in the
    /// call: its own mall's order events only, each id once (a relay that publishes again
    /// after a lost answer adds nothing). An event that is not the mall's to publish is
    /// refused on its own, with why, and the rest are recorded: one bad event must not hold
    /// back a mall's whole outbox. The gRPC adapter bounds a call at 1,000 events (counting
    /// those it could not read).
    pub async fn publish_events(
        &self,
        caller: &Principal,
        events: Vec<(usize, Event)>,
    ) -> Result<Vec<RefusedEvent>> {
        let own = match caller {
            Principal::Service {
                service, district, ..
            } if service == "city-mall" && district.is_none() => "city".to_owned(),
            Principal::Service {
                service,
                district: Some(d),
                ..
            } if service == "district-mall" => d.to_string(),
            _ => {
                return Err(ExchangeError::Forbidden(
                    "only a mall's service client publishes its events".into(),
                ));
            }
        };
        // What may come right refuses the whole call, and the mall's outbox holds it until the
        // exchange or the mall is put right: a kind this exchange does not know yet (a mall
        // newer than its exchange) or another mall's merchant (a misconfigured mall).
        for (position, e) in &events {
            let field = |name: &str| format!("events[{position}].{name}");
            if !MERCHANT_EVENTS.contains(&e.kind.as_str())
                && !MALL_RESIDENT_EVENTS.contains(&e.kind.as_str())
            {
                return Err(ExchangeError::invalid(
                    &field("kind"),
                    format!(
                        "must be one of {}, {}",
                        MERCHANT_EVENTS.join(", "),
                        MALL_RESIDENT_EVENTS.join(", ")
                    ),
                ));
            }
            if e.merchant.as_ref().is_some_and(|(_, mall)| *mall != own) {
                return Err(ExchangeError::Forbidden(format!(
                    "{}: a mall publishes its own merchants' events only",
                    field("mall")
                )));
            }
        }
        // What never comes right (a bug in the event) is refused on its own and dropped.
        let now = self.now();
        let mut refused = Vec::new();
        let mut taken = Vec::with_capacity(events.len());
        for (position, mut e) in events {
            match malformed_mall_event(&e) {
                None => {
                    // Dated ahead of this clock (a mall's clock running fast): dated now.
                    e.at = e.at.min(now);
                    taken.push(e);
                }
                Some((name, reason)) => {
                    let field = format!("events[{position}].{name}");
                    tracing::error!(mall = %own, kind = %e.kind, %field, reason, "a mall's event was refused and dropped");
                    refused.push(RefusedEvent {
                        position,
                        field,
                        reason: reason.to_owned(),
                    });
                }
            }
        }
        self.store.record_events(&taken).await?;
        Ok(refused)
    }
}

/// What is wrong with a mall's event of a known kind, for good: the field and why.
fn malformed_mall_event(e: &Event) -> Option<(&'static str, &'static str)> {
    let uuid = |s: &str| Uuid::parse_str(s).is_ok();
    if e.partner_id.is_some() {
        return Some(("partner_id", "a mall's events are not a partner's"));
    }
    match &e.merchant {
        Some((merchant, _)) if !uuid(merchant) => return Some(("merchant_id", "must be a UUID")),
        Some(_) => {}
        None if MERCHANT_EVENTS.contains(&e.kind.as_str()) => {
            return Some(("merchant_id", "is required"));
        }
        None if e.resident_id.is_none() => return Some(("resident_id", "is required")),
        None => {}
    }
    if e.resident_id.as_deref().is_some_and(|r| !uuid(r)) {
        return Some(("resident_id", "must be a UUID"));
    }
    None
}

impl<I, N: EventSource, L: EventSource> Exchange<I, N, L> {
    /// Takes the events of intake's and the ledger's outboxes (they must not call the exchange:
    /// it calls them): each kept once, then acknowledged. Answers how many it took.
    pub async fn pull_events_once(&self) -> Result<usize> {
        // Each on its own: intake down does not hold the ledger's events back.
        let (intake, ledger) = tokio::join!(
            pull(&self.store, &self.intake, "intake", INTAKE_EVENTS),
            pull(&self.store, &self.ledger, "ledger", LEDGER_EVENTS),
        );
        match (intake, ledger) {
            (Ok(a), Ok(b)) => Ok(a + b),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
            (Err(e), Err(other)) => {
                tracing::warn!(error = %other, "the ledger's events wait");
                Err(e)
            }
        }
    }
}

/// One read of one outbox: what may come from there is recorded, anything else is logged and
/// dropped (acknowledged all the same: it would block the outbox for ever).
async fn pull(
    store: &crate::store::Store,
    source: &impl EventSource,
    name: &str,
    kinds: &[&str],
) -> Result<usize> {
    let read = source.read_events(500).await?;
    if read.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(read.len());
    let mut events = Vec::with_capacity(read.len());
    for (id, event) in read {
        ids.push(id);
        match event {
            Some(e)
                if kinds.contains(&e.kind.as_str())
                    && e.merchant.is_none()
                    && e.resident_id
                        .as_deref()
                        .is_none_or(|r| Uuid::parse_str(r).is_ok()) =>
            {
                events.push(e);
            }
            Some(e) => {
                tracing::warn!(source = name, kind = %e.kind, "an event the exchange does not take from there was dropped");
            }
            None => tracing::warn!(source = name, "an unreadable event was dropped"),
        }
    }
    let taken = events.len();
    store.record_events(&events).await?;
    source.ack_events(ids).await?;
    Ok(taken)
}
