//! What intake does, over its store and its peers (the [`Residents`] and [`PointsLedger`]
//! ports): submission here, and beside it deciding a batch, check-ins, challenges and honours,
//! review, rule drafts and publication, statistics.
//!
//! `SubmitBehaviours`: each event is checked, judged against the rule version in force when it
//! occurred and what the resident already earned, recorded with exactly one outcome, and its
//! points handed to the ledger — exactly once, whatever is retried.
//!
//! Exactly once: the outcome (with a transfer id derived from the event) is committed as
//! `pending` *before* the ledger is called. A resubmission finds it and sends the same transfer
//! again; the ledger answers a repeated transfer id with the original. Only then does the
//! outcome become `awarded`.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    future::Future,
    sync::{Arc, RwLock},
};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::domain::{
    calendar::Period,
    catalogue::{Catalogue, Rule},
    error::{IntakeError, Result},
    expiry::{ExpiryPolicies, ExpiryPolicy},
    judge::{Report, Tally, Verdict, judge},
    model::{
        AwardAnswer, AwardOrder, Event, Outcome, OutcomeKind, Rejection, Resident, ResidentRef,
        award_transfer_id,
    },
};
use crate::store::{HistoryQuery, Past, RecentReports, Store, review::Flag};

/// The most events one request may carry.
pub const MAX_BATCH: usize = 1_000;

/// Who residents are: identity, seen from intake.
pub trait Residents: Send + Sync {
    /// The resident, or `None` if nobody is registered under that reference.
    fn resolve(&self, who: &ResidentRef) -> impl Future<Output = Result<Option<Resident>>> + Send;

    /// [`Self::resolve`] for many, in order; by default sixteen questions at a time.
    fn resolve_many(
        &self,
        refs: &[&ResidentRef],
    ) -> impl Future<Output = Result<Vec<Option<Resident>>>> + Send {
        async move {
            let mut answers = Vec::with_capacity(refs.len());
            for chunk in refs.chunks(16) {
                let asking = chunk.iter().map(|r| self.resolve(r));
                answers.extend(futures::future::try_join_all(asking).await?);
            }
            Ok(answers)
        }
    }
}

/// Where points go: the ledger, seen from intake.
pub trait PointsLedger: Send + Sync {
    /// Makes the awards (idempotent per transfer id); one answer per order, in order. `linked`:
    /// all of them or none (one refused, every one is answered as it).
    fn award(
        &self,
        orders: &[AwardOrder],
        linked: bool,
    ) -> impl Future<Output = Result<Vec<AwardAnswer>>> + Send;
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
    /// Reports beyond these hold the award and flag the resident for review.
    pub velocity: Velocity,
    /// The most events one what-if replays; a longer period is refused with this figure
    /// (default [`MAX_SIMULATED_EVENTS`](crate::domain::rules::MAX_SIMULATED_EVENTS)).
    pub max_simulated_events: u64,
    /// The configured expiry policies: the city book's, and every district book's (each book's
    /// version 0 until an admin publishes another).
    pub expiry_city: ExpiryPolicy,
    pub expiry_district: ExpiryPolicy,
    pub clock: Clock,
}

/// Velocity limits, a fraud guard: more reports than this flag the resident for review and
/// hold the award (not lost: a reviewer releases it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Velocity {
    /// Reports about one resident, from all sources, within an hour (default 60).
    pub resident_per_hour: u32,
    /// Reports from one source about one resident within 24 hours (default 200).
    pub source_per_day: u32,
}

impl Default for Velocity {
    fn default() -> Self {
        Self {
            resident_per_hour: 60,
            source_per_day: 200,
        }
    }
}

impl std::fmt::Debug for IntakeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeOptions")
            .field("window", &self.window)
            .field("future_skew", &self.future_skew)
            .field("pending_grace", &self.pending_grace)
            .field("velocity", &self.velocity)
            .field("max_simulated_events", &self.max_simulated_events)
            .field("expiry_city", &self.expiry_city)
            .field("expiry_district", &self.expiry_district)
            .finish_non_exhaustive()
    }
}

impl Default for IntakeOptions {
    fn default() -> Self {
        Self {
            window: Duration::days(30),
            future_skew: Duration::minutes(5),
            pending_grace: Duration::seconds(30),
            velocity: Velocity::default(),
            max_simulated_events: crate::domain::rules::MAX_SIMULATED_EVENTS,
            expiry_city: ExpiryPolicy::YearEnd { years_after: 2 },
            expiry_district: ExpiryPolicy::YearEnd { years_after: 2 },
            clock: Arc::new(Utc::now),
        }
    }
}

/// The intake domain.
pub struct Intake<R, L> {
    store: Store,
    /// Replaced whole when rules are published (here or on another replica).
    catalogue: RwLock<Arc<Catalogue>>,
    /// Replaced whole with the catalogue.
    expiry: RwLock<Arc<ExpiryPolicies>>,
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
            expiry: RwLock::new(Arc::new(ExpiryPolicies::new(
                options.expiry_city,
                options.expiry_district,
                Vec::new(),
            ))),
            residents,
            ledger,
            options,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn residents(&self) -> &R {
        &self.residents
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
        let versions = self.store.expiry_policies().await?;
        *self
            .expiry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(ExpiryPolicies::new(
            self.options.expiry_city,
            self.options.expiry_district,
            versions,
        ));
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

    pub(crate) fn options(&self) -> &IntakeOptions {
        &self.options
    }

    /// Judges and records a batch; one outcome per event, in order. A resubmitted event
    /// answers its stored outcome (and finishes a hand-off to the ledger that did not complete).
    /// If the ledger does not answer, the decided awards stay `pending` and the call fails as
    /// unavailable: resubmitting the same batch completes it, once.
    ///
    /// The batch costs a handful of statements, not a handful per event: one read of what is
    /// already stored, one transaction that locks the batch's residents, reads their history
    /// once and writes every outcome in multi-row inserts, one ledger call and one update.
    pub async fn submit(&self, events: Vec<Event>) -> Result<Vec<Outcome>> {
        Ok(self.submit_events(events, false).await?.0)
    }

    /// [`Intake::submit`], or with `all_or_none` every event is recorded or none is: when any
    /// would be rejected (or was, when sent before), nothing is recorded — no outcome, no flag,
    /// no award — and the outcomes say what each would have been; the awards of a batch that is
    /// recorded go to the ledger linked (a book's budget takes all of them or none). Returns the
    /// outcomes and whether they were recorded.
    pub async fn submit_events(
        &self,
        events: Vec<Event>,
        all_or_none: bool,
    ) -> Result<(Vec<Outcome>, bool)> {
        if events.is_empty() || events.len() > MAX_BATCH {
            return Err(IntakeError::invalid(
                "events",
                format!("must hold 1 to {MAX_BATCH} events"),
            ));
        }
        for (i, e) in events.iter().enumerate() {
            check_event(i, e)?;
        }
        let key = |e: &Event| (e.source_id.clone(), e.source_event_id.clone());
        let keys: Vec<(String, String)> = events.iter().map(key).collect();
        let mut known: HashMap<(String, String), Outcome> =
            by_key(self.store.stored(&keys).await?).collect();
        // The first of several records with one key in a batch is decided; the rest answer it.
        let mut seen = HashSet::new();
        let fresh: Vec<&Event> = events
            .iter()
            .filter(|e| !known.contains_key(&key(e)) && seen.insert(key(e)))
            .collect();
        let commit = match all_or_none {
            false => Commit::Always,
            true if known.values().any(|o| o.kind == OutcomeKind::Rejected) => Commit::Never,
            true => Commit::UnlessRejected(Uuid::now_v7()),
        };
        let mut recorded = commit != Commit::Never;
        if !fresh.is_empty()
            && let Some(unrecorded) = self.decide_all(&fresh, commit).await?
        {
            recorded = false;
            known.extend(by_key(unrecorded));
        }
        if !recorded {
            return Ok((in_order(&keys, &known)?, false));
        }
        let fresh_keys: Vec<_> = fresh.iter().map(|e| key(e)).collect();
        if !fresh_keys.is_empty() {
            known.extend(by_key(self.store.stored(&fresh_keys).await?));
        }
        let mut outcomes = in_order(&keys, &known)?;
        self.hand_over_linked(&mut outcomes, all_or_none).await?;
        self.advance_challenges(&outcomes).await?;
        // The events decided now, by how they ended (after the hand-over): one each.
        let m = healthpoints_telemetry::metrics::metrics();
        let mut uncounted: HashSet<(&str, &str)> = fresh_keys
            .iter()
            .map(|(s, e)| (s.as_str(), e.as_str()))
            .collect();
        for o in &outcomes {
            if uncounted.remove(&(o.source_id.as_str(), o.source_event_id.as_str())) {
                m.intake_outcomes
                    .get_or_create(&healthpoints_telemetry::metrics::KindLabels {
                        kind: o.kind.as_str().to_owned(),
                    })
                    .inc();
            }
        }
        Ok((outcomes, true))
    }

    /// Completes awards whose hand-off to the ledger was cut short (the ledger did not answer
    /// and the source did not resubmit), up to 500 at a time; returns how many it finished.
    /// Safe to run beside submissions and on several replicas: the transfer ids repeat.
    pub async fn finish_pending(&self) -> Result<usize> {
        let before = (self.options.clock)() - self.options.pending_grace;
        let pending = self.store.pending(before, 500).await?;
        // An all-or-none batch's awards go together again, linked, all of them (the page may
        // have cut the group): all paid or none.
        let groups: BTreeSet<Uuid> = pending.iter().filter_map(|o| o.link_group).collect();
        let mut single: Vec<Outcome> = pending
            .into_iter()
            .filter(|o| o.link_group.is_none())
            .collect();
        let mut finished = single.len();
        self.hand_over(&mut single).await?;
        for group in groups {
            let mut linked = self.store.pending_in_group(group).await?;
            finished += linked.len();
            self.hand_over_linked(&mut linked, true).await?;
        }
        Ok(finished)
    }

    /// Sends every pending award among `outcomes` to the ledger (once per event, in one call)
    /// and records the answers.
    pub(crate) async fn hand_over(&self, outcomes: &mut [Outcome]) -> Result<()> {
        self.hand_over_linked(outcomes, false).await
    }

    /// [`Intake::hand_over`], the awards linked (all or none) when `linked`.
    async fn hand_over_linked(&self, outcomes: &mut [Outcome], linked: bool) -> Result<()> {
        let mut orders: Vec<AwardOrder> = Vec::new();
        let mut ordered = HashSet::new();
        let expiry = self.expiry_policies();
        for o in outcomes.iter() {
            if o.kind != OutcomeKind::Pending || !ordered.insert(o.event_id) {
                continue;
            }
            let (Some(transfer_id), Some(book), Some(resident_id), Some((code, version))) =
                (o.transfer_id, o.book, o.resident_id.clone(), o.rule.clone())
            else {
                return Err(IntakeError::fault("a pending award lacks its transfer"));
            };
            orders.push(AwardOrder {
                transfer_id,
                book,
                resident_id,
                points: o.points,
                event_id: o.event_id,
                // The policy in force when the behaviour occurred: a retry sends the same day.
                expires_on: expiry.expires_on(book, o.occurred_at),
                reason: format!("{code} v{version}"),
                rule_code: code,
                rule_version: version,
            });
        }
        if orders.is_empty() {
            return Ok(());
        }
        let answers = self.ledger.award(&orders, linked).await?;
        let now = (self.options.clock)();
        let mut done = Vec::with_capacity(orders.len());
        let mut exhausted = HashSet::new();
        for (order, answer) in orders.iter().zip(answers) {
            match answer {
                AwardAnswer::Done => done.push(order.event_id),
                AwardAnswer::BudgetExhausted => {
                    let why = Rejection::BudgetExhausted;
                    self.store
                        .finish(
                            order.event_id,
                            OutcomeKind::Rejected,
                            Some((why.code(), why.sentence())),
                            now,
                        )
                        .await?;
                    exhausted.insert(order.event_id);
                }
            }
        }
        self.store.finish_awarded(&done, now).await?;
        for o in outcomes
            .iter_mut()
            .filter(|o| o.kind == OutcomeKind::Pending)
        {
            if exhausted.contains(&o.event_id) {
                let why = Rejection::BudgetExhausted;
                o.kind = OutcomeKind::Rejected;
                o.points = 0;
                o.transfer_id = None;
                o.reason = Some((why.code().into(), why.sentence().into()));
            } else {
                o.kind = OutcomeKind::Awarded;
            }
        }
        Ok(())
    }
}

/// Outcomes by their (source, record id) key.
fn by_key(outcomes: Vec<Outcome>) -> impl Iterator<Item = ((String, String), Outcome)> {
    outcomes
        .into_iter()
        .map(|o| ((o.source_id.clone(), o.source_event_id.clone()), o))
}

/// The outcome of each key, in the batch's order.
fn in_order(
    keys: &[(String, String)],
    known: &HashMap<(String, String), Outcome>,
) -> Result<Vec<Outcome>> {
    keys.iter()
        .map(|k| {
            known
                .get(k)
                .cloned()
                .ok_or_else(|| IntakeError::fault("a decided event was not found"))
        })
        .collect()
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

mod deciding;
mod expiry;
pub use expiry::{BookPolicy, EXPIRY_CODE, EXPIRY_NOTICE};

use deciding::Commit;
mod play;
mod resident;
mod review;
mod rules;
mod statistics;
