//! A book's figures are running totals (docs/ledger.md, "Book figures"): every kind of movement
//! adds to them as it is written, opening resident accounts counts them once, and the migration
//! that brought them fills them from what a ledger already held (as `recount-figures` does). `assert_invariants` recounts them after every test that
//! calls it; these tests check the figures themselves and the upgrade.

use healthpoints_ledger::domain::model::{
    BookStatistics, CreateResult, PendingAction, TransferKind,
};
use uuid::Uuid;

use crate::helpers::*;

/// Issued, redeemed, refunded, expired, outstanding, resident accounts.
fn figures(s: &BookStatistics) -> (u64, u64, u64, u64, u64, u64) {
    (
        s.issued,
        s.redeemed,
        s.refunded,
        s.expired,
        s.outstanding,
        s.resident_accounts,
    )
}

async fn city_figures(f: &Fixture) -> (u64, u64, u64, u64, u64, u64) {
    let (_, stats) = f
        .ledger
        .book_statistics(&city_admin(), "city", "")
        .await
        .unwrap();
    figures(&stats)
}

#[tokio::test]
async fn every_movement_adds_to_its_books_figures_once() {
    let f = ledger("figures_movements").await;
    let (issuance, residents, merchant) = open_city(&f.ledger, 3).await;
    assert_eq!(
        city_figures(&f).await,
        (0, 0, 0, 0, 0, 3),
        "opened, not yet paid"
    );
    // Opening the same accounts again counts nobody twice.
    let again = f
        .ledger
        .open_accounts(
            &intake(),
            residents
                .iter()
                .map(|r| ("city".into(), "resident".into(), r.owner_id.clone()))
                .collect(),
        )
        .await
        .unwrap();
    assert_eq!(again.len(), 3);
    let (a, b) = (residents[0].id, residents[1].id);
    let awarded = create(
        &f.ledger,
        vec![
            transfer(issuance.id, a, 500, TransferKind::Award),
            transfer(issuance.id, b, 200, TransferKind::Award),
        ],
    )
    .await;
    assert!(awarded.iter().all(|r| r.is_success()), "{awarded:?}");
    // A direct redemption; a reservation posted in part; one voided; a move between residents.
    let held = pending(a, merchant.id, 100, 600);
    let dropped = pending(b, merchant.id, 50, 600);
    let (held_id, dropped_id) = (held.id, dropped.id);
    let moved = create(
        &f.ledger,
        vec![
            transfer(a, merchant.id, 30, TransferKind::Redeem),
            held,
            dropped,
            transfer(a, b, 20, TransferKind::Adjust),
        ],
    )
    .await;
    assert!(moved.iter().all(|r| r.is_success()), "{moved:?}");
    assert_eq!(
        city_figures(&f).await,
        (700, 30, 0, 0, 670, 3),
        "reservations are not spent until posted"
    );
    let post = resolve(held_id, PendingAction::Post, 60);
    let resolved = create(
        &f.ledger,
        vec![post.clone(), resolve(dropped_id, PendingAction::Void, 0)],
    )
    .await;
    assert!(resolved.iter().all(|r| r.is_success()), "{resolved:?}");
    // A retry, and a second post of the same reservation, add nothing.
    let retried = create(
        &f.ledger,
        vec![post, resolve(held_id, PendingAction::Post, 60)],
    )
    .await;
    assert_eq!(
        retried,
        vec![
            CreateResult::Exists,
            CreateResult::PendingTransferAlreadyPosted
        ]
    );
    assert_eq!(city_figures(&f).await, (700, 90, 0, 0, 610, 3));
    assert_invariants(&f.ledger).await;
}

#[tokio::test]
async fn a_ledger_that_held_transfers_gets_its_figures_when_they_arrive() {
    let f = ledger("figures_upgrade").await;
    let (issuance, residents, merchant) = open_city(&f.ledger, 2).await;
    let (a, b) = (residents[0].id, residents[1].id);
    let held = pending(b, merchant.id, 40, 600);
    let held_id = held.id;
    create(
        &f.ledger,
        vec![
            transfer(issuance.id, a, 300, TransferKind::Award),
            transfer(issuance.id, b, 100, TransferKind::Award),
        ],
    )
    .await;
    create(
        &f.ledger,
        vec![transfer(a, merchant.id, 70, TransferKind::Redeem), held],
    )
    .await;
    create(&f.ledger, vec![resolve(held_id, PendingAction::Post, 0)]).await;
    f.ledger
        .open_accounts(
            &intake(),
            vec![(
                "district:310118".into(),
                "resident".into(),
                Uuid::now_v7().to_string(),
            )],
        )
        .await
        .unwrap();
    let before = city_figures(&f).await;
    assert_eq!(before, (400, 110, 0, 0, 290, 2));

    // Back to the schema before the figures: their columns and table, and the migration's
    // record, gone.
    for (figure, _) in healthpoints_ledger::store::FIGURES_RECOUNTED {
        raw(
            &f.ledger,
            &format!("ALTER TABLE book_heads DROP COLUMN {figure}"),
        )
        .await
        .unwrap();
    }
    for sql in [
        "DROP TABLE book_residents",
        "DELETE FROM seaql_migrations WHERE version = 'm20261221_000001_book_figures'",
    ] {
        raw(&f.ledger, sql).await.unwrap();
    }
    let Fixture {
        ledger: old, db, ..
    } = f;
    drop(old);

    let f = ledger_on(db).await;
    assert_eq!(city_figures(&f).await, before, "filled from what was held");
    let (_, district) = f
        .ledger
        .book_statistics(&city_admin(), "district:310118", "")
        .await
        .unwrap();
    assert_eq!(district.resident_accounts, 1);
    assert_invariants(&f.ledger).await;
    // And kept from there on.
    create(
        &f.ledger,
        vec![transfer(issuance.id, a, 5, TransferKind::Award)],
    )
    .await;
    assert_eq!(city_figures(&f).await, (405, 110, 0, 0, 295, 2));
    assert_invariants(&f.ledger).await;

    // Figures gone wrong (an earlier ledger writing during the upgrade) are recounted.
    for sql in [
        "UPDATE book_heads SET issued = 1, outstanding = 7",
        "DELETE FROM book_residents",
    ] {
        raw(&f.ledger, sql).await.unwrap();
    }
    f.ledger.store().recount_figures().await.unwrap();
    assert_eq!(city_figures(&f).await, (405, 110, 0, 0, 295, 2));
    assert_invariants(&f.ledger).await;
}
