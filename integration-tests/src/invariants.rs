//! The invariants every fault test checks afterwards, read the way an auditor would: through
//! the gateway as the city admin and as each resident, and the ledger's own hash-chained journal.
//!
//! - **Books balance**: in every book, the points residents hold are exactly what was issued,
//!   less what was redeemed and expired, plus what was refunded (every debit has its credit),
//!   and the book's journal verifies intact from its first entry to its head.
//! - **No balance below zero**: every resident's posted, pending and available points are whole
//!   non-negative numbers, and available = posted − pending.
//! - **Awards are transfers, one to one**: every behaviour outcome "awarded N" has exactly one
//!   award transfer of N in the resident's history, and every award transfer exactly one
//!   outcome.
//! - **Orders match their reservations**: every order has exactly one reservation transfer (its
//!   id is the order id) of its price, in the state its status implies — reserved → pending,
//!   written off or refunded → posted, cancelled or expired → voided — and every reservation
//!   belongs to an order.

use std::collections::BTreeMap;

use anyhow::{Context as _, ensure};
use healthpoints_proto::ledger::v1::{self as pb, ledger_service_client::LedgerServiceClient};
use reqwest::Method;
use serde_json::Value;

use healthpoints::plan::{malls_of, pilot_districts};
use healthpoints_types::{Book, MallId};

use crate::Gateway;

/// The malls of the process mesh (the pilot plan's): the city mall and each district's.
pub fn malls() -> Vec<MallId> {
    malls_of(&pilot_districts())
}

/// The books of the process mesh: each mall's.
pub fn books() -> Vec<Book> {
    malls().iter().map(MallId::book).collect()
}

/// What was checked, for the test's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    pub books: usize,
    pub journal_entries: u64,
    pub residents: usize,
    pub awards: usize,
    pub orders: usize,
}

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} books balanced ({} journal entries intact), {} residents ≥ 0, {} awards one-to-one with transfers, {} orders matching their reservations",
            self.books, self.journal_entries, self.residents, self.awards, self.orders
        )
    }
}

/// Every page of a listing (`cursor` / `next_cursor`) under `key`.
async fn all_pages(gw: &Gateway, path: &str, token: &str, key: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page_path = match &cursor {
            Some(c) => format!("{path}{sep}page_size=200&cursor={c}"),
            None => format!("{path}{sep}page_size=200"),
        };
        let page = gw
            .expect(200, Method::GET, &page_path, Some(token), None)
            .await?;
        items.extend(page[key].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
            _ => return Ok(items),
        }
    }
}

/// Verifies a book's journal from the start to its head; returns the entries checked.
async fn verify_journal(ledger: &str, admin: &str, book: &str) -> anyhow::Result<u64> {
    let channel = healthpoints_grpc::client::connect(
        &healthpoints_grpc::client::GrpcClientConfig::new(ledger.to_owned()),
    )?;
    let mut client = LedgerServiceClient::new(channel);
    let (mut seq, mut hash, mut checked) = (0, String::new(), 0);
    loop {
        let request = |seq: u64, hash: &str| -> anyhow::Result<_> {
            let mut request = tonic::Request::new(pb::VerifyJournalRequest {
                book: book.to_owned(),
                after_sequence: seq,
                after_hash: hash.to_owned(),
                max_entries: 0,
            });
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {admin}").parse()?);
            Ok(request)
        };
        // UNAVAILABLE is asked again, as for a read through the gateway (`Gateway::expect`).
        let mut again = 0;
        let report = loop {
            match client.verify_journal(request(seq, &hash)?).await {
                Err(status) if status.code() == tonic::Code::Unavailable && again < 10 => {
                    again += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                answer => {
                    break answer
                        .with_context(|| format!("verifying the journal of {book}"))?
                        .into_inner();
                }
            }
        };
        ensure!(
            report.first_broken_sequence.is_none(),
            "the journal of {book} is broken at {:?}: {}",
            report.first_broken_sequence,
            report.detail
        );
        checked += report.entries_checked;
        if report.complete {
            return Ok(checked);
        }
        ensure!(
            report.last_sequence > seq,
            "the journal of {book} made no progress"
        );
        (seq, hash) = (report.last_sequence, report.last_hash);
    }
}

/// Checks every invariant for the given residents' tokens; `ledger` is the ledger's gRPC
/// endpoint (`http://127.0.0.1:port`) for the journal. Fails naming the first one broken.
pub async fn check(gw: &Gateway, ledger: &str, residents: &[String]) -> anyhow::Result<Checked> {
    let admin = gw.admin_token().await;
    let mut checked = Checked::default();
    for book in books() {
        let s = gw
            .expect(
                200,
                Method::GET,
                &format!("/v1/admin/books/{book}/stats"),
                Some(&admin),
                None,
            )
            .await?;
        let n = |k: &str| s[k].as_i64().unwrap_or(-1);
        ensure!(
            n("outstanding") == n("issued") - n("redeemed") + n("refunded") - n("expired"),
            "book {book} does not balance: {s}"
        );
        checked.journal_entries += verify_journal(ledger, &admin, &book.to_string()).await?;
        checked.books += 1;
    }
    for token in residents {
        check_resident(gw, token, &mut checked).await?;
    }
    Ok(checked)
}

async fn check_resident(gw: &Gateway, token: &str, checked: &mut Checked) -> anyhow::Result<()> {
    let balances = gw
        .expect(200, Method::GET, "/v1/me/balances", Some(token), None)
        .await?;
    for b in balances["balances"].as_array().context("balances")? {
        let (posted, pending, available) = (
            b["posted"].as_u64(),
            b["pending"].as_u64(),
            b["available"].as_u64(),
        );
        ensure!(
            matches!((posted, pending, available), (Some(p), Some(h), Some(a)) if a + h == p),
            "a balance below zero or not adding up: {b}"
        );
    }
    // Every transfer of the resident, by id, from each book's history.
    let mut transfers: BTreeMap<String, Value> = BTreeMap::new();
    for book in books() {
        for t in all_pages(
            gw,
            &format!("/v1/me/transactions?book={book}"),
            token,
            "transactions",
        )
        .await?
        {
            let id = t["transfer_id"].as_str().unwrap_or_default().to_owned();
            ensure!(
                transfers.insert(id, t.clone()).is_none(),
                "a transfer listed twice: {t}"
            );
        }
    }
    let outcomes = all_pages(gw, "/v1/me/behaviours", token, "outcomes").await?;
    let mut awards = 0;
    for o in outcomes.iter().filter(|o| o["outcome"] == "awarded") {
        let id = o["transfer_id"].as_str().unwrap_or_default();
        let t = transfers
            .get(id)
            .with_context(|| format!("an award without its transfer: {o}"))?;
        ensure!(
            t["kind"] == "award" && t["points"].as_i64() == o["points"].as_i64(),
            "an award and its transfer differ: {o} vs {t}"
        );
        awards += 1;
    }
    let award_transfers = transfers.values().filter(|t| t["kind"] == "award").count();
    ensure!(
        award_transfers == awards,
        "{award_transfers} award transfers for {awards} awarded outcomes"
    );
    let mut orders = 0;
    for mall in malls() {
        for order in all_pages(gw, &format!("/v1/me/orders?mall={mall}"), token, "orders").await? {
            let id = order["order_id"].as_str().unwrap_or_default();
            let t = transfers
                .get(id)
                .with_context(|| format!("an order without its reservation: {order}"))?;
            let want = match order["status"].as_str() {
                Some("reserved") => "pending",
                Some("written_off" | "refunded") => "posted",
                Some("cancelled" | "expired") => "voided",
                _ => anyhow::bail!("an order in no known state: {order}"),
            };
            ensure!(
                t["kind"] == "redeem"
                    && t["reservation"] == want
                    && t["pending_points"].as_i64().map(i64::unsigned_abs)
                        == order["points"].as_u64(),
                "an order's state and its reservation differ: {order} vs {t}"
            );
            orders += 1;
        }
    }
    let reservations = transfers
        .values()
        .filter(|t| t["kind"] == "redeem" && !t["reservation"].is_null())
        .count();
    ensure!(
        reservations == orders,
        "{reservations} reservations for {orders} orders"
    );
    checked.residents += 1;
    checked.awards += awards;
    checked.orders += orders;
    Ok(())
}
