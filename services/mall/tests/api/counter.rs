//! The counter: exactly one write-off of a voucher is told it wrote it off, a point of sale's
//! retry with its `Idempotency-Key` is answered the same, and a cancel racing a write-off
//! either wins or is refused with the state that won.

use healthpoints_ledger::domain::model::AccountKind;
use healthpoints_mall::domain::{
    error::MallError,
    model::{Order, OrderStatus},
};
use healthpoints_types::MallId;

use crate::helpers::*;

/// The order state a refusal carries, or a panic naming what came instead.
fn state_of<T: std::fmt::Debug>(r: Result<T, MallError>) -> Order {
    match r {
        Err(MallError::OrderState { order, .. }) => *order,
        other => panic!("expected a refusal with the order's state, got {other:?}"),
    }
}

#[tokio::test]
async fn ten_concurrent_write_offs_of_one_voucher_tell_exactly_one_it_won() {
    let f = fixture("write_off_race", MallId::City).await;
    let (merchant, operator) = f.merchant("Pharmacy").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Flu shot", 800, Some(5)))
        .await
        .unwrap();
    let (resident_id, resident) = f.resident(2_000).await;
    let order = place(&f, &resident, "k", &product).await.unwrap();

    let tries = (0..10).map(|_| f.mall.write_off(&operator, &order.voucher_code, None));
    let answers = futures::future::join_all(tries).await;
    let mut won = 0;
    for answer in answers {
        match answer {
            Ok(done) => {
                won += 1;
                assert!(!done.replay);
                assert_eq!(done.order.status, OrderStatus::WrittenOff);
            }
            lost => {
                let state = state_of(lost);
                assert_eq!(state.order_id, order.order_id);
                assert_eq!(state.status.public(), "written_off");
                assert!(state.written_off_at.is_some());
            }
        }
    }
    assert_eq!(won, 1, "exactly one counter may hand over the goods");
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (1_200, 0)
    );
    assert_eq!(
        f.ledger
            .balance(AccountKind::MerchantPayable, merchant)
            .await,
        (800, 0)
    );
}

#[tokio::test]
async fn a_retried_write_off_with_its_key_answers_the_first_result_as_a_replay() {
    let f = fixture("write_off_key", MallId::City).await;
    let (_, operator) = f.merchant("Pharmacy").await;
    let (_, other_operator) = f.merchant("Gym").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Flu shot", 800, None))
        .await
        .unwrap();
    let (_, resident) = f.resident(2_000).await;
    let first = place(&f, &resident, "a", &product).await.unwrap();
    let second = place(&f, &resident, "b", &product).await.unwrap();

    let done = f
        .mall
        .write_off(&operator, &first.voucher_code, Some(&key("pos-7-0001")))
        .await
        .unwrap();
    assert!(!done.replay);
    // The point of sale timed out and sends the same request again (the code typed this time).
    let typed = first.voucher_code.to_lowercase();
    let again = f
        .mall
        .write_off(&operator, &typed, Some(&key("pos-7-0001")))
        .await
        .unwrap();
    assert!(again.replay);
    assert_eq!(again.order.order_id, first.order_id);
    assert_eq!(again.order.written_off_at, done.order.written_off_at);
    // Without the key, or with another one, the same voucher is refused with its state.
    let state = state_of(f.mall.write_off(&operator, &first.voucher_code, None).await);
    assert_eq!(state.status, OrderStatus::WrittenOff);
    state_of(
        f.mall
            .write_off(&operator, &first.voucher_code, Some(&key("pos-7-0002")))
            .await,
    );
    // One key on two vouchers is a conflict, and the second voucher is untouched.
    assert!(matches!(
        f.mall
            .write_off(&operator, &second.voucher_code, Some(&key("pos-7-0001")))
            .await,
        Err(MallError::Conflict(_))
    ));
    let untouched = f
        .mall
        .order(&resident, second.order_id.into())
        .await
        .unwrap();
    assert_eq!(untouched.status, OrderStatus::Reserved);
    // Keys are the merchant's own: another merchant's key of the same text is not a replay.
    assert!(matches!(
        f.mall
            .write_off(
                &other_operator,
                &first.voucher_code,
                Some(&key("pos-7-0001"))
            )
            .await,
        Err(MallError::Forbidden(_))
    ));
}

#[tokio::test]
async fn a_cancel_racing_a_write_off_either_wins_or_is_told_the_write_off_won() {
    let f = fixture("cancel_race", MallId::City).await;
    let (merchant, operator) = f.merchant("Pharmacy").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Massage", 100, None))
        .await
        .unwrap();
    let (resident_id, resident) = f.resident(10_000).await;
    let (mut cancels, mut write_offs) = (0, 0);
    for round in 0..12 {
        let order = place(&f, &resident, &format!("race-{round}"), &product)
            .await
            .unwrap();
        let id = order.order_id.into();
        let (cancel, write_off) = tokio::join!(
            f.mall.cancel(&resident, id),
            f.mall.write_off(&operator, &order.voucher_code, None),
        );
        let end = f.mall.order(&resident, id).await.unwrap();
        match (cancel, write_off) {
            (Ok(cancelled), lost) => {
                cancels += 1;
                assert_eq!(cancelled.status, OrderStatus::Cancelled);
                assert_eq!(state_of(lost).status, OrderStatus::Cancelled);
                assert_eq!(end.status, OrderStatus::Cancelled);
            }
            (lost, Ok(done)) => {
                write_offs += 1;
                assert_eq!(done.order.status, OrderStatus::WrittenOff);
                let state = state_of(lost);
                assert_eq!(state.status.public(), "written_off");
                assert_eq!(end.status, OrderStatus::WrittenOff);
            }
            (a, b) => panic!("exactly one must succeed, got {a:?} and {b:?}"),
        }
    }
    assert_eq!(cancels + write_offs, 12);
    let spent = 100 * write_offs;
    assert_eq!(
        f.ledger.balance(AccountKind::Resident, resident_id).await,
        (10_000 - i128::from(spent), 0)
    );
    assert_eq!(
        f.ledger
            .balance(AccountKind::MerchantPayable, merchant)
            .await,
        (i128::from(spent), 0)
    );
}

#[tokio::test]
async fn the_counter_sees_its_own_voucher_with_the_residents_masked_name() {
    let f = fixture("voucher_lookup", MallId::City).await;
    let (_, operator) = f.merchant("Pharmacy").await;
    let (_, other_operator) = f.merchant("Gym").await;
    let product = f
        .mall
        .create_product(&operator, &spec("Flu shot", 800, None))
        .await
        .unwrap();
    let (_, resident) = f.resident(2_000).await;
    let order = place(&f, &resident, "k", &product).await.unwrap();

    let seen = f
        .mall
        .voucher(&operator, &order.voucher_code)
        .await
        .unwrap();
    assert_eq!(seen.order.order_id, order.order_id);
    assert_eq!(seen.resident_name_masked, "张*明");
    assert!(seen.can_write_off);
    assert!(matches!(
        f.mall.voucher(&other_operator, &order.voucher_code).await,
        Err(MallError::Forbidden(_))
    ));
    assert!(matches!(
        f.mall.voucher(&resident, &order.voucher_code).await,
        Err(MallError::Forbidden(_))
    ));
    assert!(matches!(
        f.mall.voucher(&operator, "not a code").await,
        Err(MallError::Invalid { .. })
    ));
    f.mall
        .write_off(&operator, &order.voucher_code, None)
        .await
        .unwrap();
    let seen = f
        .mall
        .voucher(&operator, &order.voucher_code)
        .await
        .unwrap();
    assert!(!seen.can_write_off);
    assert_eq!(seen.order.status, OrderStatus::WrittenOff);
}
