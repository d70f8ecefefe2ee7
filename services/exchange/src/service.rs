//! What the exchange does, over its store and its peers (identity, intake and the ledger, each
//! behind a port trait of the domain): partners and their clients, behaviour records and FHIR
//! bundles sent in, the family-doctor contracts feed, consent, the points summary, the
//! de-identified statistics and the access log. Every call that touches a resident's data writes
//! its access-log entries here.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::store::Store;

mod audit;
mod consent;
mod contracts;
mod fhir;
pub mod notify;
mod partners;
mod products;
mod records;
pub mod station;
mod statistics;

/// The exchange's one clock, injected: grants, revocations, registrations, new clients,
/// contract answers, access-log entries and the default statistics month are all stamped with
/// it; the store reads no time of its own.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The exchange: its store, its peers (identity `I`, intake `N`, the ledger `L`) and its clock.
/// Each use case asks only for the ports it calls.
pub struct Exchange<I, N, L> {
    store: Store,
    identity: I,
    intake: N,
    ledger: L,
    clock: Clock,
    webhooks: notify::WebhookOptions,
}

impl<I: std::fmt::Debug, N: std::fmt::Debug, L: std::fmt::Debug> std::fmt::Debug
    for Exchange<I, N, L>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("store", &self.store)
            .field("identity", &self.identity)
            .field("intake", &self.intake)
            .field("ledger", &self.ledger)
            .finish_non_exhaustive()
    }
}

impl<I, N, L> Exchange<I, N, L> {
    pub fn new(store: Store, identity: I, intake: N, ledger: L, clock: Clock) -> Self {
        Self {
            store,
            identity,
            intake,
            ledger,
            clock,
            webhooks: notify::WebhookOptions::default(),
        }
    }

    /// Where webhooks may call, how often they are retried and how long an attempt may take.
    pub fn with_webhooks(mut self, webhooks: notify::WebhookOptions) -> Self {
        self.webhooks = webhooks;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}
