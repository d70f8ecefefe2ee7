use healthpoints_auth::Principal;
use healthpoints_ledger::{
    domain::{
        LedgerError, journal,
        model::{AccountKind, CreateResult, PendingAction, Resolution, TransferKind},
    },
    service::AccountSelector,
};
use healthpoints_types::Book;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn awards_redemptions_and_refusals_leave_exact_balances() {
    let f = ledger("ledger_semantics").await;
    let (issuance, residents, merchant) = open_city(&f.ledger, 1).await;
    let r = residents[0].id;
    let award = transfer(issuance.id, r, 500, TransferKind::Award);
    assert_eq!(
        create(&f.ledger, vec![award.clone()]).await,
        [CreateResult::Ok]
    );
    // A retry in a later request returns the original.
    assert_eq!(
        create(&f.ledger, vec![award.clone()]).await,
        [CreateResult::Exists]
    );
    let hold = pending(r, merchant.id, 300, 600);
    assert_eq!(
        create(&f.ledger, vec![hold.clone()]).await,
        [CreateResult::Ok]
    );
    assert_eq!(
        create(
            &f.ledger,
            vec![transfer(r, merchant.id, 201, TransferKind::Redeem)]
        )
        .await,
        [CreateResult::ExceedsBalance]
    );
    assert_eq!(
        create(&f.ledger, vec![resolve(hold.id, PendingAction::Post, 0)]).await,
        [CreateResult::Ok]
    );
    // A retry of the reservation, now that its points are spent, still answers as the
    // original — not as a new reservation that no longer fits — and so does a retry of the
    // award in a batch beside a new transfer.
    assert_eq!(
        create(&f.ledger, vec![hold.clone()]).await,
        [CreateResult::Exists]
    );
    let small = transfer(issuance.id, r, 1, TransferKind::Award);
    assert_eq!(
        create(&f.ledger, vec![award.clone(), small.clone()]).await,
        [CreateResult::Exists, CreateResult::Ok]
    );
    assert_eq!(
        create(
            &f.ledger,
            vec![transfer(r, merchant.id, 1, TransferKind::Redeem)]
        )
        .await,
        [CreateResult::Ok]
    );
    let a = account(&f.ledger, r).await;
    assert_eq!(
        (a.credits_posted, a.debits_posted, a.debits_pending),
        (501, 301, 0)
    );
    let balances = f
        .ledger
        .balances(
            &Principal::Resident {
                resident_id: Uuid::parse_str(&a.owner_id).unwrap(),
            },
            &a.owner_id,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            balances[0].posted,
            balances[0].pending,
            balances[0].available
        ),
        (200, 0, 200)
    );
    let looked = f
        .ledger
        .lookup_transfers(&intake(), &[hold.id.to_string()])
        .await
        .unwrap();
    assert_eq!(looked[0].1, Some(Resolution::Posted));
    assert_invariants(&f.ledger).await;
}

#[tokio::test]
async fn the_database_refuses_to_rewrite_history_or_break_a_balance() {
    let f = ledger("ledger_constraints").await;
    let (issuance, residents, _) = open_city(&f.ledger, 1).await;
    create(
        &f.ledger,
        vec![transfer(
            issuance.id,
            residents[0].id,
            10,
            TransferKind::Award,
        )],
    )
    .await;
    assert!(
        raw(&f.ledger, "UPDATE transfers SET amount = 1000")
            .await
            .is_err(),
        "transfers are immutable"
    );
    assert!(
        raw(&f.ledger, "DELETE FROM transfers").await.is_err(),
        "transfers cannot be deleted"
    );
    let overdraw = format!(
        "UPDATE accounts SET debits_posted = 11 WHERE id = '{}'",
        residents[0].id
    );
    let overdraw = if is_postgres(&f.ledger) {
        overdraw
    } else {
        overdraw.replace(
            &format!("'{}'", residents[0].id),
            &format!("X'{}'", residents[0].id.simple()),
        )
    };
    assert!(
        raw(&f.ledger, &overdraw).await.is_err(),
        "a resident account cannot go below zero"
    );
    // An account cannot change book, and no transfer can join accounts of different books.
    let literal = |id: Uuid| {
        if is_postgres(&f.ledger) {
            format!("'{id}'")
        } else {
            format!("X'{}'", id.simple())
        }
    };
    assert!(
        raw(
            &f.ledger,
            &format!(
                "UPDATE accounts SET book = 'district:310118' WHERE id = {}",
                literal(residents[0].id)
            )
        )
        .await
        .is_err(),
        "an account's id pins its book"
    );
    let qingpu_issuance = f
        .ledger
        .open_accounts(
            &intake(),
            vec![("district:310118".into(), "issuance".into(), String::new())],
        )
        .await
        .expect("account opens")
        .remove(0);
    let cross_book = |book: &str| {
        format!(
            "INSERT INTO transfers (id, book, seq, debit_account_id, credit_account_id, amount, \
             kind, pending, action, expiry, event_id, order_id, rule_code, rule_version, reason, \
             created_at_us, prev_hash, hash) VALUES ({}, '{book}', 99, {}, {}, 5, 'award', \
             false, 'none', false, '', '', '', 0, '', 0, '', '')",
            literal(Uuid::now_v7()),
            literal(qingpu_issuance.id),
            literal(residents[0].id),
        )
    };
    for book in ["city", "district:310118"] {
        assert!(
            raw(&f.ledger, &cross_book(book)).await.is_err(),
            "a transfer between books is refused ({book})"
        );
    }
    assert_invariants(&f.ledger).await;
}

#[tokio::test]
async fn budgets_cap_issuance_and_cannot_drop_below_what_was_issued() {
    let f = ledger("ledger_budget").await;
    let (issuance, residents, _) = open_city(&f.ledger, 1).await;
    let admin = Principal::CityAdmin {
        staff_id: Uuid::now_v7(),
    };
    f.ledger
        .set_budget(&admin, "city", Some(100))
        .await
        .unwrap();
    assert_eq!(
        create(
            &f.ledger,
            vec![transfer(
                issuance.id,
                residents[0].id,
                101,
                TransferKind::Award
            )]
        )
        .await,
        [CreateResult::ExceedsBudget]
    );
    assert_eq!(
        create(
            &f.ledger,
            vec![transfer(
                issuance.id,
                residents[0].id,
                60,
                TransferKind::Award
            )]
        )
        .await,
        [CreateResult::Ok]
    );
    assert!(matches!(
        f.ledger.set_budget(&admin, "city", Some(50)).await,
        Err(LedgerError::Precondition(_))
    ));
    let qingpu = Principal::DistrictAdmin {
        staff_id: Uuid::now_v7(),
        district: healthpoints_types::DistrictCode::parse("310118").unwrap(),
    };
    assert!(matches!(
        f.ledger.set_budget(&qingpu, "city", None).await,
        Err(LedgerError::Forbidden(_))
    ));
    let (_, stats) = f.ledger.book_statistics(&admin, "city", "").await.unwrap();
    assert_eq!(
        (
            stats.issued,
            stats.outstanding,
            stats.budget,
            stats.budget_left
        ),
        (60, 60, Some(100), Some(40))
    );
    // Movements of a month count that month only; what residents hold is always as of now.
    let now =
        chrono::DateTime::from_timestamp_micros(f.clock.load(std::sync::atomic::Ordering::SeqCst))
            .unwrap();
    let this_month = healthpoints_types::calendar::month_key(now);
    let (_, month) = f
        .ledger
        .book_statistics(&admin, "city", &this_month)
        .await
        .unwrap();
    assert_eq!((month.issued, month.outstanding), (60, 60));
    let earlier = healthpoints_types::calendar::month_key(now - chrono::Duration::days(40));
    let (_, before) = f
        .ledger
        .book_statistics(&admin, "city", &earlier)
        .await
        .unwrap();
    assert_eq!((before.issued, before.outstanding), (0, 60));
    for bad in ["2026-13", "2026-W47", "last month"] {
        assert!(
            matches!(
                f.ledger.book_statistics(&admin, "city", bad).await,
                Err(LedgerError::Invalid(_))
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn history_is_newest_first_paginated_and_filterable() {
    let f = ledger("ledger_history").await;
    let (issuance, residents, merchant) = open_city(&f.ledger, 1).await;
    let r = &residents[0];
    for amount in 1..=5 {
        create(
            &f.ledger,
            vec![transfer(
                issuance.id,
                r.id,
                amount * 10,
                TransferKind::Award,
            )],
        )
        .await;
    }
    create(
        &f.ledger,
        vec![transfer(r.id, merchant.id, 15, TransferKind::Redeem)],
    )
    .await;
    let me = Principal::Resident {
        resident_id: Uuid::parse_str(&r.owner_id).unwrap(),
    };
    let by_owner = || AccountSelector::OwnerBook {
        owner_id: r.owner_id.clone(),
        book: "city".into(),
    };
    let (page, next) = f
        .ledger
        .history(&me, by_owner(), vec![], None, None, "", 4)
        .await
        .unwrap();
    let amounts: Vec<u64> = page.iter().map(|e| e.transfer.amount).collect();
    assert_eq!(amounts, [15, 50, 40, 30]);
    assert!(!page[0].credit && page[0].counterparty_kind == AccountKind::MerchantPayable);
    assert_eq!(page[1].counterparty_kind, AccountKind::Issuance);
    let (rest, end) = f
        .ledger
        .history(&me, by_owner(), vec![], None, None, &next.unwrap(), 4)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|e| e.transfer.amount).collect::<Vec<_>>(),
        [20, 10]
    );
    assert!(end.is_none());
    let (redeems, _) = f
        .ledger
        .history(
            &me,
            by_owner(),
            vec![TransferKind::Redeem],
            None,
            None,
            "",
            10,
        )
        .await
        .unwrap();
    assert_eq!(redeems.len(), 1);
    // Another resident cannot read this account.
    let stranger = Principal::Resident {
        resident_id: Uuid::now_v7(),
    };
    assert!(matches!(
        f.ledger
            .history(&stranger, by_owner(), vec![], None, None, "", 10)
            .await,
        Err(LedgerError::NotFound(_))
    ));
}

#[tokio::test]
async fn expired_reservations_are_voided_once_and_free_the_points() {
    let f = ledger("ledger_expiry").await;
    let (issuance, residents, merchant) = open_city(&f.ledger, 1).await;
    let r = residents[0].id;
    create(
        &f.ledger,
        vec![transfer(issuance.id, r, 100, TransferKind::Award)],
    )
    .await;
    let short = pending(r, merchant.id, 40, 5);
    let long = pending(r, merchant.id, 30, 3_600);
    assert_eq!(
        create(&f.ledger, vec![short.clone(), long.clone()]).await,
        [CreateResult::Ok, CreateResult::Ok]
    );
    assert_eq!(f.ledger.sweep_once().await.unwrap(), 0);
    f.advance_secs(6);
    assert_eq!(f.ledger.sweep_once().await.unwrap(), 1);
    assert_eq!(
        f.ledger.sweep_once().await.unwrap(),
        0,
        "expired exactly once"
    );
    assert_eq!(
        create(&f.ledger, vec![resolve(short.id, PendingAction::Post, 0)]).await,
        [CreateResult::PendingTransferExpired]
    );
    let a = account(&f.ledger, r).await;
    assert_eq!((a.debits_posted, a.debits_pending), (0, 30));
    let looked = f
        .ledger
        .lookup_transfers(&intake(), &[short.id.to_string(), long.id.to_string()])
        .await
        .unwrap();
    let state = |id: Uuid| looked.iter().find(|(t, _)| t.id == id).unwrap().1;
    assert_eq!(
        (state(short.id), state(long.id)),
        (Some(Resolution::Expired), None)
    );
    // The resident's history shows each reservation as it stands now, not as it was made.
    let me = Principal::Resident {
        resident_id: Uuid::parse_str(&residents[0].owner_id).unwrap(),
    };
    let (history, _) = f
        .ledger
        .history(
            &me,
            AccountSelector::OwnerBook {
                owner_id: residents[0].owner_id.clone(),
                book: "city".into(),
            },
            vec![],
            None,
            None,
            "",
            10,
        )
        .await
        .unwrap();
    let shown = |id: Uuid| {
        history
            .iter()
            .find(|e| e.transfer.id == id)
            .unwrap()
            .resolution
    };
    assert_eq!(
        (shown(short.id), shown(long.id)),
        (Some(Resolution::Expired), None)
    );
    assert_invariants(&f.ledger).await;
}

#[tokio::test]
async fn writes_need_a_service_and_district_services_stay_in_their_book() {
    let f = ledger("ledger_authz").await;
    let (issuance, residents, _) = open_city(&f.ledger, 1).await;
    let award = || {
        vec![transfer(
            issuance.id,
            residents[0].id,
            1,
            TransferKind::Award,
        )]
    };
    let resident = Principal::Resident {
        resident_id: Uuid::now_v7(),
    };
    assert!(matches!(
        f.ledger.create_transfers(&resident, award(), false).await,
        Err(LedgerError::Forbidden(_))
    ));
    let qingpu_mall = Principal::Service {
        client_id: "svc".into(),
        service: "district-mall".into(),
        district: Some(healthpoints_types::DistrictCode::parse("310118").unwrap()),
    };
    let results = f
        .ledger
        .create_transfers(&qingpu_mall, award(), false)
        .await
        .unwrap();
    assert_eq!(results[0].0, CreateResult::BookForbidden);
    let opened = f
        .ledger
        .open_accounts(
            &qingpu_mall,
            vec![(
                "district:310118".into(),
                "resident".into(),
                Uuid::now_v7().to_string(),
            )],
        )
        .await
        .unwrap();
    assert_eq!(opened[0].book.to_string(), "district:310118");
    assert!(matches!(
        f.ledger
            .open_accounts(
                &qingpu_mall,
                vec![("city".into(), "resident".into(), "x".into())]
            )
            .await,
        Err(LedgerError::Forbidden(_))
    ));
}

#[tokio::test]
async fn tampering_with_a_row_behind_the_ledgers_back_is_caught() {
    let f = ledger("ledger_journal").await;
    let (issuance, residents, _) = open_city(&f.ledger, 1).await;
    for amount in [5, 6, 7, 8] {
        create(
            &f.ledger,
            vec![transfer(
                issuance.id,
                residents[0].id,
                amount,
                TransferKind::Award,
            )],
        )
        .await;
    }
    let admin = Principal::CityAdmin {
        staff_id: Uuid::now_v7(),
    };
    let (_, report) = f
        .ledger
        .verify_journal(&admin, "city", 0, "", 0)
        .await
        .unwrap();
    assert_eq!((report.entries_checked, report.first_broken_seq), (4, None));
    assert!(report.complete);
    // In ranges: two entries, then the rest from the checkpoint; a wrong checkpoint is caught.
    let (_, first) = f
        .ledger
        .verify_journal(&admin, "city", 0, "", 2)
        .await
        .unwrap();
    assert_eq!((first.last.seq, first.complete), (2, false));
    let (_, rest) = f
        .ledger
        .verify_journal(&admin, "city", 2, &first.last.hash, 0)
        .await
        .unwrap();
    assert_eq!(
        (rest.entries_checked, rest.complete, rest.last),
        (2, true, report.last.clone())
    );
    let (_, forged) = f
        .ledger
        .verify_journal(&admin, "city", 2, &report.last.hash, 0)
        .await
        .unwrap();
    assert_eq!(forged.first_broken_seq, Some(3));
    let missing_hash = f.ledger.verify_journal(&admin, "city", 2, "", 0).await;
    assert!(matches!(missing_hash, Err(LedgerError::Invalid(v)) if v[0].field == "after_hash"));
    // An attacker with database access disables the guard and rewrites entry 3.
    if is_postgres(&f.ledger) {
        raw(
            &f.ledger,
            "ALTER TABLE transfers DISABLE TRIGGER transfers_immutable",
        )
        .await
        .unwrap();
    } else {
        raw(&f.ledger, "DROP TRIGGER transfers_no_UPDATE")
            .await
            .unwrap();
    }
    raw(&f.ledger, "UPDATE transfers SET amount = 700 WHERE seq = 3")
        .await
        .unwrap();
    let (_, report) = f
        .ledger
        .verify_journal(&admin, "city", 0, "", 0)
        .await
        .unwrap();
    assert_eq!(report.first_broken_seq, Some(3), "{}", report.detail);
    // Deleting the newest entry is caught by the book head.
    raw(&f.ledger, "UPDATE transfers SET amount = 7 WHERE seq = 3")
        .await
        .unwrap();
    raw(&f.ledger, "DELETE FROM pending_resolutions").await.ok();
    if !is_postgres(&f.ledger) {
        raw(&f.ledger, "DROP TRIGGER transfers_no_DELETE")
            .await
            .unwrap();
    }
    raw(&f.ledger, "DELETE FROM transfers WHERE seq = 4")
        .await
        .unwrap();
    let (_, report) = f
        .ledger
        .verify_journal(&admin, "city", 0, "", 0)
        .await
        .unwrap();
    assert_eq!(report.first_broken_seq, Some(4), "{}", report.detail);
}

/// The triggers that keep journal rows immutable, dropped as an attacker with database access
/// would.
async fn disable_immutability(f: &Fixture) {
    if is_postgres(&f.ledger) {
        raw(
            &f.ledger,
            "ALTER TABLE transfers DISABLE TRIGGER transfers_immutable",
        )
        .await
        .unwrap();
    } else {
        for op in ["UPDATE", "DELETE"] {
            raw(&f.ledger, &format!("DROP TRIGGER transfers_no_{op}"))
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn an_entry_deleted_from_the_middle_of_the_journal_is_caught() {
    let f = ledger("ledger_journal_delete").await;
    let (issuance, residents, _) = open_city(&f.ledger, 1).await;
    for amount in 5..10 {
        let award = transfer(issuance.id, residents[0].id, amount, TransferKind::Award);
        create(&f.ledger, vec![award]).await;
    }
    disable_immutability(&f).await;
    raw(
        &f.ledger,
        "DELETE FROM transfers WHERE book = 'city' AND seq = 3",
    )
    .await
    .unwrap();
    let admin = Principal::CityAdmin {
        staff_id: Uuid::now_v7(),
    };
    let (_, report) = f
        .ledger
        .verify_journal(&admin, "city", 0, "", 0)
        .await
        .unwrap();
    assert_eq!(report.first_broken_seq, Some(3), "{}", report.detail);
    assert_eq!(report.detail, "this entry is missing");
    assert_eq!(report.entries_checked, 2);
}

/// An attacker inserts a forged award between entries 2 and 3 — renumbering the rest and even
/// computing a correct hash for the forgery: the next entry's link still points at entry 2.
#[tokio::test]
async fn an_entry_inserted_into_the_middle_of_the_journal_is_caught() {
    let f = ledger("ledger_journal_insert").await;
    let (issuance, residents, _) = open_city(&f.ledger, 1).await;
    for amount in 5..10 {
        let award = transfer(issuance.id, residents[0].id, amount, TransferKind::Award);
        create(&f.ledger, vec![award]).await;
    }
    disable_immutability(&f).await;
    for shift in [
        "UPDATE transfers SET seq = seq + 1000 WHERE book = 'city' AND seq >= 3",
        "UPDATE transfers SET seq = seq - 999 WHERE book = 'city' AND seq >= 1000",
    ] {
        raw(&f.ledger, shift).await.unwrap();
    }
    let new_id = if is_postgres(&f.ledger) {
        "gen_random_uuid()"
    } else {
        "randomblob(16)"
    };
    raw(
        &f.ledger,
        &format!(
            "INSERT INTO transfers (id, book, seq, debit_account_id, credit_account_id, amount, kind, \
             pending, timeout_at_us, action, pending_id, expiry, event_id, order_id, rule_code, \
             rule_version, reason, created_at_us, prev_hash, hash) \
             SELECT {new_id}, book, 3, debit_account_id, credit_account_id, 999, kind, pending, \
             timeout_at_us, action, pending_id, expiry, event_id, order_id, rule_code, rule_version, \
             reason, created_at_us, hash, hash FROM transfers WHERE book = 'city' AND seq = 2"
        ),
    )
    .await
    .unwrap();
    // The forgery gets a hash that is right for its contents and its link to entry 2.
    let page = f
        .ledger
        .store()
        .journal_page(Book::City, 1, 2)
        .await
        .unwrap();
    let (second, forged) = (&page[0], &page[1]);
    assert_eq!((forged.seq, forged.amount), (3, 999));
    let hash = journal::entry_hash(&second.hash, forged);
    raw(
        &f.ledger,
        &format!("UPDATE transfers SET hash = '{hash}' WHERE book = 'city' AND seq = 3"),
    )
    .await
    .unwrap();
    let admin = Principal::CityAdmin {
        staff_id: Uuid::now_v7(),
    };
    let (_, report) = f
        .ledger
        .verify_journal(&admin, "city", 0, "", 0)
        .await
        .unwrap();
    assert_eq!(report.first_broken_seq, Some(4), "{}", report.detail);
    assert_eq!(
        report.detail,
        "the link to the previous entry does not match"
    );
    assert_eq!(report.entries_checked, 3, "the forgery itself verifies");
}
