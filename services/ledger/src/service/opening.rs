//! Opening balances: the points residents held on the platform a city had before, brought in as
//! ordinary transfers so the books and the journal stay true. Each balance is an `adjust`
//! transfer (rule `opening-balance`) from its book's `migration` account — a source of points
//! like the issuance account, so the book's figures show what was brought in (`migrated`) — to
//! the resident's account, expiring on the day the earlier platform said. The transfer's id is
//! derived from the source record's id, so a record is imported once: sending it again answers
//! `exists`, and sending it with other values is refused.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use healthpoints_auth::Principal;
use healthpoints_types::{Book, calendar};
use uuid::Uuid;

use super::{Ledger, Request};
use crate::domain::{
    error::{LedgerError, Result},
    model::{AccountKind, CreateResult, Metadata, NewTransfer, PendingAction, TransferKind},
};

/// Balances one call imports at most.
pub const OPENING_BATCH: usize = 1_000;

/// The rule code opening balances carry in their transfers' metadata.
pub const OPENING_RULE: &str = "opening-balance";

/// What a resident's history says of an opening balance.
const OPENING_REASON: &str = "Points brought from the earlier health platform";

/// One balance as the earlier platform recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningBalance {
    pub record_id: String,
    pub resident_id: String,
    pub book: String,
    pub points: u64,
    /// `YYYY-MM-DD`, or empty: never.
    pub expires_on: String,
}

/// What became of one balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpeningOutcome {
    Created,
    /// Imported before with the same values; nothing changed.
    Exists,
    Refused {
        field: &'static str,
        reason: String,
    },
}

fn refused(field: &'static str, reason: impl Into<String>) -> OpeningOutcome {
    OpeningOutcome::Refused {
        field,
        reason: reason.into(),
    }
}

/// The transfer id of a source record: the same record always names the same transfer.
pub fn opening_id(record_id: &str) -> Uuid {
    super::derived_id(&[
        b"healthpoints/ledger/opening-balance/v1/",
        record_id.as_bytes(),
    ])
}

/// A balance checked: its book, resident and expiry day; or the field at fault and why.
fn check(
    b: &OpeningBalance,
    caller: &Principal,
    today: NaiveDate,
) -> std::result::Result<(Book, Option<NaiveDate>), OpeningOutcome> {
    let record = b.record_id.trim();
    if record.is_empty() || record.len() > 128 || record != b.record_id {
        return Err(refused(
            "record_id",
            "must be 1 to 128 characters, without surrounding spaces",
        ));
    }
    if Uuid::parse_str(&b.resident_id).is_err() {
        return Err(refused("resident_id", "must be a resident's id"));
    }
    let book = Book::parse(&b.book).map_err(|e| refused("book", e.0))?;
    let allowed = match caller {
        Principal::CityAdmin { .. } => true,
        Principal::DistrictAdmin { district, .. } => book == Book::District(*district),
        _ => false,
    };
    if !allowed {
        return Err(refused(
            "book",
            "is another book: a district's admin imports its own book's balances",
        ));
    }
    if b.points == 0 || b.points > i64::MAX as u64 {
        return Err(refused("points", "must be a positive number of points"));
    }
    let expires_on = match b.expires_on.trim() {
        "" => None,
        day => {
            let day = NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|_| refused("expires_on", "must be a day as YYYY-MM-DD, or empty"))?;
            if day < today {
                return Err(refused(
                    "expires_on",
                    "has already passed: these points expired on the earlier platform",
                ));
            }
            Some(day)
        }
    };
    Ok((book, expires_on))
}

impl Ledger {
    /// Imports opening balances (see the module docs); one outcome per balance, in order. City
    /// admin, or a district's admin for its book (a balance of another book is refused alone).
    pub async fn import_opening_balances(
        &self,
        caller: &Principal,
        balances: Vec<OpeningBalance>,
    ) -> Result<Vec<OpeningOutcome>> {
        if !caller.is_admin() {
            return Err(LedgerError::Forbidden(
                "only a city admin or a district's admin imports opening balances",
            ));
        }
        if balances.is_empty() || balances.len() > OPENING_BATCH {
            return Err(LedgerError::invalid(
                "balances",
                format!("must hold 1 to {OPENING_BATCH} balances"),
            ));
        }
        let today = calendar::local_date(
            chrono::DateTime::from_timestamp_micros((self.clock)()).unwrap_or_default(),
        );
        let mut outcomes: Vec<Option<OpeningOutcome>> = Vec::with_capacity(balances.len());
        let mut checked = Vec::new();
        // The accounts the batch needs: each book's migration account, each resident's account.
        let mut specs = BTreeMap::new();
        for (i, b) in balances.iter().enumerate() {
            match check(b, caller, today) {
                Ok((book, expires_on)) => {
                    specs.insert((book, AccountKind::Migration, book.to_string()), ());
                    specs.insert((book, AccountKind::Resident, b.resident_id.clone()), ());
                    checked.push((i, book, expires_on));
                    outcomes.push(None);
                }
                Err(outcome) => outcomes.push(Some(outcome)),
            }
        }
        if !checked.is_empty() {
            let specs: Vec<_> = specs.into_keys().collect();
            let accounts: BTreeMap<_, _> = self
                .store
                .open_accounts(&specs, (self.clock)())
                .await?
                .into_iter()
                .map(|a| ((a.book, a.kind, a.owner_id), a.id))
                .collect();
            let account = |book: Book, kind, owner: &str| {
                accounts
                    .get(&(book, kind, owner.to_owned()))
                    .copied()
                    .ok_or_else(|| LedgerError::fault("an opened account was not returned"))
            };
            let mut transfers = Vec::with_capacity(checked.len());
            for (i, book, expires_on) in &checked {
                let b = &balances[*i];
                transfers.push(NewTransfer {
                    id: opening_id(&b.record_id),
                    debit_account_id: account(*book, AccountKind::Migration, &book.to_string())?,
                    credit_account_id: account(*book, AccountKind::Resident, &b.resident_id)?,
                    amount: b.points,
                    kind: Some(TransferKind::Adjust),
                    pending: false,
                    timeout_seconds: 0,
                    action: PendingAction::None,
                    pending_id: None,
                    metadata: Metadata {
                        rule_code: OPENING_RULE.into(),
                        reason: OPENING_REASON.into(),
                        ..Metadata::default()
                    },
                    expiry: false,
                    expires_on: *expires_on,
                    refund_of: None,
                });
            }
            let results = self
                .submit(Request {
                    transfers,
                    linked: false,
                    allowed_book: None,
                })
                .await?;
            for ((i, _, _), (result, _)) in checked.iter().zip(results) {
                outcomes[*i] = Some(match result {
                    CreateResult::Ok => OpeningOutcome::Created,
                    CreateResult::Exists => OpeningOutcome::Exists,
                    CreateResult::ExistsWithDifferentFields => refused(
                        "record_id",
                        "was imported before with other values; nothing changed",
                    ),
                    other => refused("balances", format!("the ledger refused it: {other:?}")),
                });
            }
        }
        let created = outcomes
            .iter()
            .filter(|o| matches!(o, Some(OpeningOutcome::Created)))
            .count();
        tracing::info!(asked = balances.len(), created, "opening balances imported");
        outcomes
            .into_iter()
            .map(|o| o.ok_or_else(|| LedgerError::fault("a balance without an outcome")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balance() -> OpeningBalance {
        OpeningBalance {
            record_id: "hc-1".into(),
            resident_id: Uuid::new_v4().to_string(),
            book: "district:310101".into(),
            points: 500,
            expires_on: "2027-12-31".into(),
        }
    }

    #[test]
    fn a_record_always_names_the_same_transfer_and_records_differ() {
        assert_eq!(opening_id("hc-1"), opening_id("hc-1"));
        assert_ne!(opening_id("hc-1"), opening_id("hc-2"));
    }

    #[test]
    fn each_field_is_checked_and_a_district_admin_keeps_to_its_book() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 14).unwrap();
        let city = Principal::CityAdmin {
            staff_id: Uuid::new_v4(),
        };
        assert!(check(&balance(), &city, today).is_ok());
        let field = |b: OpeningBalance, who: &Principal| match check(&b, who, today) {
            Err(OpeningOutcome::Refused { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let with = |f: &dyn Fn(&mut OpeningBalance)| {
            let mut b = balance();
            f(&mut b);
            b
        };
        assert_eq!(
            field(with(&|b| b.record_id = " x".into()), &city),
            "record_id"
        );
        assert_eq!(
            field(with(&|b| b.resident_id = "42".into()), &city),
            "resident_id"
        );
        assert_eq!(field(with(&|b| b.book = "moon".into()), &city), "book");
        assert_eq!(field(with(&|b| b.points = 0), &city), "points");
        assert_eq!(
            field(with(&|b| b.expires_on = "2026-12-13".into()), &city),
            "expires_on"
        );
        assert_eq!(
            field(with(&|b| b.expires_on = "soon".into()), &city),
            "expires_on"
        );
        assert!(check(&with(&|b| b.expires_on = String::new()), &city, today).is_ok());
        let district = Principal::DistrictAdmin {
            staff_id: Uuid::new_v4(),
            district: healthpoints_types::DistrictCode::parse("310104").unwrap(),
        };
        assert_eq!(field(balance(), &district), "book");
    }
}
