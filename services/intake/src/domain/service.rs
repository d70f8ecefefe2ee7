//! `SubmitBehaviours`: each event is checked, judged against the rule version in force when it
//! occurred and what the resident already earned, recorded with exactly one outcome, and its
//! points handed to the ledger — exactly once, whatever is retried.
//!
//! Exactly once: the outcome (with a transfer id derived from the event) is committed as
//! `pending` *before* the ledger is called. A resubmission finds it and sends the same transfer
//! again; the ledger answers a repeated transfer id with the original. Only then does the
//! outcome become `awarded`.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, RwLock},
};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{
    catalogue::Catalogue,
    error::{IntakeError, Result},
    judge::{Report, Verdict, judge},
    model::{
        AwardAnswer, AwardOrder, Event, Outcome, OutcomeKind, Rejection, Resident, ResidentRef,
        award_transfer_id,
    },
};
use crate::store::Store;

/// The most events one request may carry.
pub const MAX_BATCH: usize = 1_000;

/// Who residents are: identity, seen from intake.
pub trait Residents: Send + Sync {
    /// The resident, or `None` if nobody is registered under that reference.
    fn resolve(&self, who: &ResidentRef) -> impl Future<Output = Result<Option<Resident>>> + Send;
}

/// Where points go: the ledger, seen from intake.
pub trait PointsLedger: Send + Sync {
    /// Makes the awards (idempotent per transfer id); one answer per order, in order.
    fn award(&self, orders: &[AwardOrder])
    -> impl Future<Output = Result<Vec<AwardAnswer>>> + Send;
}

/// The clock in UTC, replaceable in tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Tuning of the intake domain.
#[derive(Clone)]
pub struct IntakeOptions {
    /// Events older than this are rejected (default 30 days).
    pub window: Duration,
    /// Clock skew tolerated on events dated slightly ahead (default 5 minutes).
    pub future_skew: Duration,
    /// How long a decided award may wait for its ledger hand-off before
    /// [`Intake::finish_pending`] completes it (default 30 seconds: longer than a submission).
    pub pending_grace: Duration,
    pub clock: Clock,
}

impl std::fmt::Debug for IntakeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeOptions")
            .field("window", &self.window)
            .field("future_skew", &self.future_skew)
            .field("pending_grace", &self.pending_grace)
            .finish_non_exhaustive()
    }
}

impl Default for IntakeOptions {
    fn default() -> Self {
        Self {
            window: Duration::days(30),
            future_skew: Duration::minutes(5),
            pending_grace: Duration::seconds(30),
            clock: Arc::new(Utc::now),
        }
    }
}

/// The intake domain.
pub struct Intake<R, L> {
    store: Store,
    /// Replaced whole when rules are published (here or on another replica).
    catalogue: RwLock<Arc<Catalogue>>,
    residents: R,
    ledger: L,
    options: IntakeOptions,
}

impl<R, L> std::fmt::Debug for Intake<R, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field(
                "rules",
                &self
                    .catalogue
                    .read()
                    .map(|c| c.rules().len())
                    .unwrap_or_default(),
            )
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// An outcome before it has an id and a time.
struct Decision {
    resident_id: Option<String>,
    kind: OutcomeKind,
    points: u64,
    rule: Option<(String, u32)>,
    cap: Option<(String, u64)>,
    reason: Option<(String, String)>,
    duplicate_of: Option<Uuid>,
    book: Option<healthpoints_types::Book>,
}

impl Decision {
    fn rejected(resident_id: Option<String>, why: Rejection) -> Self {
        Self::refused(resident_id, why.code(), why.sentence())
    }

    fn refused(resident_id: Option<String>, code: &str, sentence: &str) -> Self {
        Self {
            resident_id,
            kind: OutcomeKind::Rejected,
            points: 0,
            rule: None,
            cap: None,
            reason: Some((code.to_owned(), sentence.to_owned())),
            duplicate_of: None,
            book: None,
        }
    }
}

impl<R: Residents, L: PointsLedger> Intake<R, L> {
    pub fn new(
        store: Store,
        catalogue: Catalogue,
        residents: R,
        ledger: L,
        options: IntakeOptions,
    ) -> Self {
        Self {
            store,
            catalogue: RwLock::new(Arc::new(catalogue)),
            residents,
            ledger,
            options,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The catalogue as it stands.
    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the published rules (after a publication, and periodically for other
    /// replicas' publications).
    pub async fn reload_catalogue(&self) -> Result<()> {
        let rules = self.store.rules().await?;
        if rules.is_empty() {
            return Ok(());
        }
        *self
            .catalogue
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(Catalogue::new(rules));
        Ok(())
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.options.clock)()
    }

    /// Judges and records a batch; one outcome per event, in order. A resubmitted event
    /// answers its stored outcome (and finishes a hand-off to the ledger that did not complete).
    /// If the ledger does not answer, the decided awards stay `pending` and the call fails as
    /// unavailable: resubmitting the same batch completes it, once.
    pub async fn submit(&self, events: Vec<Event>) -> Result<Vec<Outcome>> {
        if events.is_empty() || events.len() > MAX_BATCH {
            return Err(IntakeError::invalid(
                "events",
                format!("must hold 1 to {MAX_BATCH} events"),
            ));
        }
        for (i, e) in events.iter().enumerate() {
            check_event(i, e)?;
        }
        let mut outcomes = Vec::with_capacity(events.len());
        for event in &events {
            let outcome = match self
                .store
                .by_source(&event.source_id, &event.source_event_id)
                .await?
            {
                Some(stored) => stored,
                None => self.decide(event).await?,
            };
            outcomes.push(outcome);
        }
        self.hand_over(&mut outcomes).await?;
        Ok(outcomes)
    }

    /// Completes awards whose hand-off to the ledger was cut short (the ledger did not answer
    /// and the source did not resubmit), up to 500 at a time; returns how many it finished.
    /// Safe to run beside submissions and on several replicas: the transfer ids repeat.
    pub async fn finish_pending(&self) -> Result<usize> {
        let before = (self.options.clock)() - self.options.pending_grace;
        let mut outcomes = self.store.pending(before, 500).await?;
        self.hand_over(&mut outcomes).await?;
        Ok(outcomes.len())
    }

    /// Sends every pending award among `outcomes` to the ledger and records the answers.
    async fn hand_over(&self, outcomes: &mut [Outcome]) -> Result<()> {
        let pending: Vec<usize> = (0..outcomes.len())
            .filter(|&i| outcomes[i].kind == OutcomeKind::Pending)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let mut orders = Vec::with_capacity(pending.len());
        for &i in &pending {
            let o = &outcomes[i];
            let (Some(transfer_id), Some(book), Some(resident_id), Some((code, version))) =
                (o.transfer_id, o.book, o.resident_id.clone(), o.rule.clone())
            else {
                return Err(IntakeError::Store(
                    "a pending award lacks its transfer".into(),
                ));
            };
            orders.push(AwardOrder {
                transfer_id,
                book,
                resident_id,
                points: o.points,
                event_id: o.event_id,
                reason: format!("{code} v{version}"),
                rule_code: code,
                rule_version: version,
            });
        }
        let answers = self.ledger.award(&orders).await?;
        let now = (self.options.clock)();
        for (&i, answer) in pending.iter().zip(answers) {
            let o = &mut outcomes[i];
            match answer {
                AwardAnswer::Done => {
                    self.store
                        .finish(o.event_id, OutcomeKind::Awarded, None, now)
                        .await?;
                    o.kind = OutcomeKind::Awarded;
                }
                AwardAnswer::BudgetExhausted => {
                    let why = Rejection::BudgetExhausted;
                    self.store
                        .finish(
                            o.event_id,
                            OutcomeKind::Rejected,
                            Some((why.code(), why.sentence())),
                            now,
                        )
                        .await?;
                    o.kind = OutcomeKind::Rejected;
                    o.points = 0;
                    o.transfer_id = None;
                    o.reason = Some((why.code().into(), why.sentence().into()));
                }
            }
        }
        Ok(())
    }

    /// Decides and records the outcome of an event seen for the first time.
    async fn decide(&self, event: &Event) -> Result<Outcome> {
        let now = (self.options.clock)();
        let record = |d: Decision| Outcome {
            event_id: Uuid::now_v7(),
            source_id: event.source_id.clone(),
            source_event_id: event.source_event_id.clone(),
            resident_id: d.resident_id,
            behaviour_code: event.behaviour_code.clone(),
            occurred_at: event.occurred_at,
            kind: d.kind,
            points: d.points,
            rule: d.rule,
            points_cut: d.cap.as_ref().map_or(0, |(_, cut)| *cut),
            cap: d.cap.map(|(cap, _)| cap),
            reason: d.reason,
            duplicate_of: d.duplicate_of,
            transfer_id: matches!(d.kind, OutcomeKind::Pending | OutcomeKind::Held)
                .then(|| award_transfer_id(&event.source_id, &event.source_event_id)),
            book: d.book,
            received_at: now,
        };

        let resident = match self.residents.resolve(&event.resident).await? {
            None => {
                let d = Decision::rejected(None, Rejection::ResidentUnknown);
                return self.store.insert(event, &record(d)).await;
            }
            Some(r) => r,
        };
        let id = Some(resident.resident_id.clone());
        let early = if resident.suspended {
            Some(Rejection::ResidentSuspended)
        } else if !resident.enrolled {
            Some(Rejection::ResidentNotEnrolled)
        } else if event.occurred_at > now + self.options.future_skew {
            Some(Rejection::OccurredInFuture)
        } else if event.occurred_at < now - self.options.window {
            Some(Rejection::TooOld)
        } else {
            None
        };
        if let Some(why) = early {
            return self
                .store
                .insert(event, &record(Decision::rejected(id, why)))
                .await;
        }
        let catalogue = self.catalogue();
        let Some(rule) =
            catalogue.rule_for(&event.behaviour_code, event.district, event.occurred_at)
        else {
            let d = Decision::rejected(id, Rejection::UnknownBehaviour);
            return self.store.insert(event, &record(d)).await;
        };
        let Some(book) = rule.book(event.district) else {
            let d = Decision::rejected(id, Rejection::DistrictRequired);
            return self.store.insert(event, &record(d)).await;
        };

        let txn = self.store.for_resident(&resident.resident_id).await?;
        let judged = Some((rule.code.clone(), rule.version));
        // A daily total (steps) reported again is a top-up question for the judge, not a
        // duplicate: the same day from several sources counts once, at its highest.
        let earlier = if rule.daily_total {
            None
        } else {
            txn.same_fact(&event.behaviour_code, event.occurred_at, event.quantity)
                .await?
        };
        let decision = match earlier {
            Some(earlier) => Decision {
                kind: OutcomeKind::Duplicate,
                duplicate_of: Some(earlier),
                rule: judged,
                ..Decision::refused(id, "duplicate", "the same event was already reported")
            },
            None => {
                let prior = txn.prior(&rule.code, event.occurred_at).await?;
                let attributes: HashMap<String, String> = event
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let report = Report {
                    source_id: &event.source_id,
                    occurred_at: event.occurred_at,
                    quantity: event.quantity,
                    attributes: &attributes,
                };
                match judge(rule, report, &prior) {
                    Verdict::Award { points, cut } => Decision {
                        resident_id: id,
                        kind: OutcomeKind::Pending,
                        points,
                        rule: judged,
                        cap: cut.map(|c| (c.cap.to_owned(), c.points_cut)),
                        reason: None,
                        duplicate_of: None,
                        book: Some(book),
                    },
                    Verdict::Capped(c) => Decision {
                        kind: OutcomeKind::Capped,
                        rule: judged,
                        cap: Some((c.cap.to_owned(), c.points_cut)),
                        reason: None,
                        ..Decision::refused(id, "", "")
                    },
                    Verdict::Refused(r) => Decision {
                        rule: judged,
                        ..Decision::refused(id, r.code(), r.sentence())
                    },
                }
            }
        };
        let outcome = record(decision);
        txn.commit(event, &outcome).await?;
        // A concurrent first submission of the same record may have won: answer what is stored.
        self.store
            .by_source(&event.source_id, &event.source_event_id)
            .await?
            .ok_or_else(|| IntakeError::Store("recorded event not found".into()))
    }
}

/// Request-level checks: malformed fields name themselves (the batch is refused whole, nothing
/// is recorded).
fn check_event(i: usize, e: &Event) -> Result<()> {
    let field = |name: &str| format!("events[{i}].{name}");
    let text = |name: &str, v: &str, max: usize| {
        if v.trim().is_empty() || v.len() > max {
            Err(IntakeError::invalid(
                &field(name),
                format!("must be 1 to {max} characters"),
            ))
        } else {
            Ok(())
        }
    };
    text("source_id", &e.source_id, 64)?;
    text("source_event_id", &e.source_event_id, 128)?;
    text("behaviour_code", &e.behaviour_code, 64)?;
    match &e.resident {
        ResidentRef::Id(id) => text("resident_id", id, 64)?,
        ResidentRef::IdNumberHash(h) => text("id_number_hash", h, 128)?,
    }
    if e.attributes.len() > 32
        || e.attributes
            .iter()
            .any(|(k, v)| k.is_empty() || k.len() > 64 || v.len() > 512)
    {
        return Err(IntakeError::invalid(
            &field("attributes"),
            "at most 32 attributes, names of 1 to 64 and values of up to 512 characters",
        ));
    }
    if i64::try_from(e.quantity).is_err() {
        return Err(IntakeError::invalid(&field("quantity"), "is too large"));
    }
    Ok(())
}
