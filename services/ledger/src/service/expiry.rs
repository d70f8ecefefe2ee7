//! The sweeper's second duty: points whose day has ended leave the resident's lots for the
//! book's expiry account, as EXPIRE transfers through the same writer as every other transfer.
//!
//! Each expiry's id is derived from the account, the lot's day and how much had expired from
//! that lot before, so a sweep that is retried, restarted, or run by two ledger replicas at once
//! names the same transfer and writes it once; points that come back to an expired lot later (a
//! reservation voided after the day) expire under the next id. Nothing can expire twice: the
//! engine refuses an expiry beyond what the lot holds.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use healthpoints_db::outbox::{OutboxEvent, derived_id};
use healthpoints_types::{Book, calendar};
use uuid::Uuid;

use super::{Ledger, MAX_BATCH};
use crate::domain::{
    engine::Request,
    error::Result,
    lots::day_number,
    model::{AccountKind, CreateResult, Metadata, NewTransfer, PendingAction, TransferKind},
};

/// Accounts one round of the sweep reads.
const ACCOUNTS_PER_ROUND: u64 = 1_000;

/// Rounds of one sweep: a sweep that makes no progress stops, the next one tries again.
const MAX_ROUNDS: usize = 1_000;

/// The id of the expiry of `account`'s lot of `day` after `expired_before` points of it had
/// already expired.
pub fn lot_expiry_id(account: Uuid, day: NaiveDate, expired_before: u64) -> Uuid {
    super::derived_id(&[
        b"healthpoints/ledger/lot-expiry/v1/",
        account.as_bytes(),
        &day_number(Some(day)).to_be_bytes(),
        &expired_before.to_be_bytes(),
    ])
}

/// The reason an expiry shows in the resident's history.
pub fn expiry_reason(day: NaiveDate) -> String {
    format!("points expired: they could be spent until {day}")
}

impl Ledger {
    /// Expires every lot whose day ended before today (Asia/Shanghai); returns how many
    /// expiries it wrote.
    pub async fn expire_lots_once(&self) -> Result<usize> {
        let now = (self.clock)();
        let today =
            calendar::local_date(chrono::DateTime::from_timestamp_micros(now).unwrap_or_default());
        let mut written = 0;
        for _ in 0..MAX_ROUNDS {
            let due = self
                .store
                .accounts_with_lots_due(day_number(Some(today)), ACCOUNTS_PER_ROUND)
                .await?;
            if due.is_empty() {
                break;
            }
            let books: BTreeSet<Book> = due.iter().map(|a| a.book).collect();
            let expiry_accounts: BTreeMap<Book, Uuid> = self
                .store
                .open_accounts(
                    &books
                        .iter()
                        .map(|b| (*b, AccountKind::Expiry, b.to_string()))
                        .collect::<Vec<_>>(),
                    now,
                )
                .await?
                .into_iter()
                .map(|a| (a.book, a.id))
                .collect();
            let mut transfers = Vec::new();
            for a in &due {
                let Some(&to) = expiry_accounts.get(&a.book) else {
                    continue;
                };
                for lot in a.lots.iter() {
                    let Some(day) = lot.expires_on.filter(|d| *d < today) else {
                        continue;
                    };
                    if lot.points == 0 {
                        continue;
                    }
                    transfers.push(NewTransfer {
                        id: lot_expiry_id(a.id, day, lot.expired),
                        debit_account_id: a.id,
                        credit_account_id: to,
                        amount: lot.points,
                        kind: Some(TransferKind::Expire),
                        pending: false,
                        timeout_seconds: 0,
                        action: PendingAction::None,
                        pending_id: None,
                        metadata: Metadata {
                            reason: expiry_reason(day),
                            ..Metadata::default()
                        },
                        expiry: false,
                        expires_on: Some(day),
                        refund_of: None,
                    });
                }
            }
            let mut progress = 0;
            for chunk in transfers.chunks(MAX_BATCH) {
                let results = self
                    .submit(Request {
                        transfers: chunk.to_vec(),
                        linked: false,
                        allowed_book: None,
                    })
                    .await?;
                progress += results
                    .iter()
                    .filter(|(r, _)| *r == CreateResult::Ok)
                    .count();
            }
            written += progress;
            // Refused expiries (points spent meanwhile) are planned again by the next sweep.
            if progress == 0 || (due.len() as u64) < ACCOUNTS_PER_ROUND {
                break;
            }
        }
        Ok(written)
    }
}

impl Ledger {
    /// Tells residents whose next points expire within the notice period (`points.expiring` in
    /// the ledger's outbox, which the exchange takes to their inbox): once per account and day.
    /// Walks the accounts due in (day, account) order from where today's walk stopped, so a
    /// sweep reads only what it has not seen today; an account that became due behind the walk
    /// is told by tomorrow's. Returns how many it told.
    pub async fn announce_expiring_once(&self) -> Result<usize> {
        if self.expiry_notice_days == 0 {
            return Ok(0);
        }
        let now = chrono::DateTime::from_timestamp_micros((self.clock)()).unwrap_or_default();
        let today = calendar::local_date(now);
        let horizon = today + chrono::Days::new(u64::from(self.expiry_notice_days));
        let (from, to) = (day_number(Some(today)), day_number(Some(horizon)));
        // The cursor's key is "<walk's day>/<account>": yesterday's walk starts over.
        let walk = format!("{from}/");
        let mut after = self.store.notice_cursor().await?.and_then(|(day, key)| {
            let id = Uuid::parse_str(key.strip_prefix(&walk)?).ok()?;
            Some((day, id))
        });
        let mut told = 0;
        for _ in 0..MAX_ROUNDS {
            let due = self
                .store
                .untold_expiring(from, to, after, ACCOUNTS_PER_ROUND)
                .await?;
            let Some(last) = due.last() else {
                break;
            };
            let last_at = (day_number(last.lots.next_expiry()), last.id);
            let mut notices = Vec::with_capacity(due.len());
            let mut events = Vec::with_capacity(due.len());
            for a in &due {
                let Some(day) = a.lots.next_expiry() else {
                    continue;
                };
                let points: u64 = a
                    .lots
                    .expiring()
                    .filter(|(d, _)| *d == day)
                    .map(|(_, p)| p)
                    .sum();
                notices.push((a.id, day_number(Some(day))));
                events.push(OutboxEvent {
                    id: derived_id(&format!("ledger/points.expiring/{}/{day}", a.id)),
                    kind: "points.expiring".into(),
                    at: now,
                    resident_id: Some(a.owner_id.clone()),
                    merchant_id: None,
                    mall: None,
                    partner_id: None,
                    data: serde_json::json!({
                        "book": a.book.to_string(),
                        "points": points,
                        "on": day.to_string(),
                    }),
                });
            }
            self.store
                .told(
                    &notices,
                    &events,
                    (last_at.0, &format!("{walk}{}", last_at.1)),
                    from,
                )
                .await?;
            told += events.len();
            after = Some(last_at);
            if (due.len() as u64) < ACCOUNTS_PER_ROUND {
                break;
            }
        }
        Ok(told)
    }
}
