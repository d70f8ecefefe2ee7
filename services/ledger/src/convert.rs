//! The ledger contract's messages ⇄ its domain types, and its errors ⇄ the mesh's error codes:
//! every conversion of the adapter, so that `grpc.rs` holds only the handlers.

use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_proto::ledger::v1::{self as pb};
use prost_types::Timestamp;
use tonic::Status;
use uuid::Uuid;

use crate::domain::{
    LedgerError,
    model::{
        Account, AccountKind, CreateResult, Metadata, NewTransfer, PendingAction, Resolution,
        Transfer, TransferKind,
    },
};

/// Converts a domain error once, with a log level per kind.
pub fn to_api_error(err: LedgerError) -> ApiError {
    match err {
        LedgerError::Invalid(v) => ApiError::invalid_fields(v)
            .unwrap_or_else(|| ApiError::new(ErrorCode::InvalidArgument, "invalid input")),
        e @ LedgerError::Forbidden(_) => {
            tracing::info!(reason = %e, "ledger request forbidden");
            ApiError::forbidden(e.to_string())
        }
        e @ LedgerError::Unauthenticated => ApiError::unauthenticated(e.to_string()),
        e @ LedgerError::NotFound(_) => ApiError::not_found(e.to_string()),
        e @ LedgerError::Precondition(_) => {
            ApiError::new(ErrorCode::FailedPrecondition, e.to_string())
        }
        e @ LedgerError::ShuttingDown => ApiError::new(ErrorCode::Unavailable, e.to_string()),
        LedgerError::Internal(fault) => ApiError::from_fault("ledger request failed", &fault),
    }
}

pub(crate) fn status(err: LedgerError) -> Status {
    to_api_error(err).into()
}

pub(crate) fn ts(us: i64) -> Timestamp {
    Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: i32::try_from(us.rem_euclid(1_000_000) * 1_000).unwrap_or_default(),
    }
}

pub(crate) fn from_ts(t: &Timestamp) -> i64 {
    t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000
}

pub(crate) fn kind_to_pb(k: AccountKind) -> pb::AccountKind {
    match k {
        AccountKind::Resident => pb::AccountKind::Resident,
        AccountKind::Issuance => pb::AccountKind::Issuance,
        AccountKind::MerchantPayable => pb::AccountKind::MerchantPayable,
        AccountKind::Settled => pb::AccountKind::Settled,
        AccountKind::Expiry => pb::AccountKind::Expiry,
        AccountKind::Adjustment => pb::AccountKind::Adjustment,
        AccountKind::Migration => pb::AccountKind::Migration,
    }
}

pub(crate) fn kind_from_pb(v: i32) -> Option<AccountKind> {
    Some(match pb::AccountKind::try_from(v).ok()? {
        pb::AccountKind::Resident => AccountKind::Resident,
        pb::AccountKind::Issuance => AccountKind::Issuance,
        pb::AccountKind::MerchantPayable => AccountKind::MerchantPayable,
        pb::AccountKind::Settled => AccountKind::Settled,
        pb::AccountKind::Expiry => AccountKind::Expiry,
        pb::AccountKind::Adjustment => AccountKind::Adjustment,
        pb::AccountKind::Migration => AccountKind::Migration,
        pb::AccountKind::Unspecified => return None,
    })
}

pub(crate) fn transfer_kind_to_pb(k: TransferKind) -> pb::TransferKind {
    match k {
        TransferKind::Award => pb::TransferKind::Award,
        TransferKind::Redeem => pb::TransferKind::Redeem,
        TransferKind::Refund => pb::TransferKind::Refund,
        TransferKind::Expire => pb::TransferKind::Expire,
        TransferKind::Adjust => pb::TransferKind::Adjust,
        TransferKind::Settle => pb::TransferKind::Settle,
    }
}

/// Wire transfer kind → domain (`None` for unspecified).
pub fn transfer_kind_from_pb(v: i32) -> Option<TransferKind> {
    Some(match pb::TransferKind::try_from(v).ok()? {
        pb::TransferKind::Award => TransferKind::Award,
        pb::TransferKind::Redeem => TransferKind::Redeem,
        pb::TransferKind::Refund => TransferKind::Refund,
        pb::TransferKind::Expire => TransferKind::Expire,
        pb::TransferKind::Adjust => TransferKind::Adjust,
        pb::TransferKind::Settle => TransferKind::Settle,
        pb::TransferKind::Unspecified => return None,
    })
}

pub(crate) fn account_to_pb(a: &Account) -> pb::Account {
    pb::Account {
        id: a.id.to_string(),
        book: a.book.to_string(),
        kind: kind_to_pb(a.kind) as i32,
        owner_id: a.owner_id.clone(),
        debits_posted: a.debits_posted,
        credits_posted: a.credits_posted,
        debits_pending: a.debits_pending,
        credits_pending: a.credits_pending,
        budget: a.budget,
        opened_at: Some(ts(a.opened_at_us)),
    }
}

pub(crate) fn transfer_to_pb(t: &Transfer, resolution: Option<Resolution>) -> pb::Transfer {
    let pending_state = match (t.pending, resolution) {
        (false, _) => pb::PendingState::Unspecified,
        (true, None) => pb::PendingState::Pending,
        (true, Some(Resolution::Posted)) => pb::PendingState::Posted,
        (true, Some(Resolution::Voided)) => pb::PendingState::Voided,
        (true, Some(Resolution::Expired)) => pb::PendingState::Expired,
    };
    pb::Transfer {
        id: t.id.to_string(),
        debit_account_id: t.debit_account_id.to_string(),
        credit_account_id: t.credit_account_id.to_string(),
        amount: t.amount,
        kind: transfer_kind_to_pb(t.kind) as i32,
        pending: t.pending,
        timeout_seconds: t
            .timeout_at_us
            .map(|at| u32::try_from((at - t.created_at_us) / 1_000_000).unwrap_or_default())
            .unwrap_or_default(),
        pending_action: match t.action {
            PendingAction::None => pb::PendingAction::None,
            PendingAction::Post => pb::PendingAction::Post,
            PendingAction::Void => pb::PendingAction::Void,
        } as i32,
        pending_id: t.pending_id.map(|p| p.to_string()).unwrap_or_default(),
        metadata: Some(pb::TransferMetadata {
            event_id: t.metadata.event_id.clone(),
            order_id: t.metadata.order_id.clone(),
            rule_code: t.metadata.rule_code.clone(),
            rule_version: t.metadata.rule_version,
            reason: t.metadata.reason.clone(),
        }),
        book: t.book.to_string(),
        created_at: Some(ts(t.created_at_us)),
        pending_state: pending_state as i32,
        expires_on: t.expires_on.map(|d| d.to_string()).unwrap_or_default(),
        refund_of: t.refund_of.map(|id| id.to_string()).unwrap_or_default(),
    }
}

pub(crate) fn result_to_pb(r: CreateResult) -> pb::CreateTransferResult {
    use pb::CreateTransferResult as P;
    match r {
        CreateResult::Ok => P::Ok,
        CreateResult::Exists => P::Exists,
        CreateResult::ExistsWithDifferentFields => P::ExistsWithDifferentFields,
        CreateResult::LinkedEventFailed => P::LinkedEventFailed,
        CreateResult::InvalidId => P::InvalidId,
        CreateResult::AmountMustNotBeZero => P::AmountMustNotBeZero,
        CreateResult::AccountsMustBeDifferent => P::AccountsMustBeDifferent,
        CreateResult::DebitAccountNotFound => P::DebitAccountNotFound,
        CreateResult::CreditAccountNotFound => P::CreditAccountNotFound,
        CreateResult::BookMismatch => P::BookMismatch,
        CreateResult::BookForbidden => P::BookForbidden,
        CreateResult::ExceedsBalance => P::ExceedsBalance,
        CreateResult::ExceedsBudget => P::ExceedsBudget,
        CreateResult::KindMustBeSet => P::KindMustBeSet,
        CreateResult::PendingIdRequired => P::PendingIdRequired,
        CreateResult::PendingTransferNotFound => P::PendingTransferNotFound,
        CreateResult::PendingTransferNotPending => P::PendingTransferNotPending,
        CreateResult::PendingTransferAlreadyPosted => P::PendingTransferAlreadyPosted,
        CreateResult::PendingTransferAlreadyVoided => P::PendingTransferAlreadyVoided,
        CreateResult::PendingTransferExpired => P::PendingTransferExpired,
        CreateResult::ExceedsPendingAmount => P::ExceedsPendingAmount,
        CreateResult::PendingAccountsDiffer => P::PendingAccountsDiffer,
        CreateResult::TimeoutRequiresPending => P::TimeoutRequiresPending,
        CreateResult::ExpiryLotNotFound => P::ExpiryLotNotFound,
        CreateResult::ExpiryNotDue => P::ExpiryNotDue,
        CreateResult::ExceedsLot => P::ExceedsLot,
        CreateResult::RefundOfNotFound => P::RefundOfNotFound,
    }
}

pub(crate) fn uuid_field(field: String, raw: &str) -> Result<Uuid, Status> {
    if raw.trim().is_empty() {
        return Ok(Uuid::nil());
    }
    Uuid::parse_str(raw.trim()).map_err(|_| ApiError::invalid(field, "must be a UUID").into())
}

/// Wire transfer → what the client asks for. Malformed ids are refused for the whole request.
pub(crate) fn new_transfer(i: usize, t: pb::Transfer) -> Result<NewTransfer, Status> {
    let m = t.metadata.unwrap_or_default();
    let action = match pb::PendingAction::try_from(t.pending_action) {
        Ok(pb::PendingAction::Post) => PendingAction::Post,
        Ok(pb::PendingAction::Void) => PendingAction::Void,
        Ok(pb::PendingAction::None) => PendingAction::None,
        Err(_) => {
            return Err(ApiError::invalid(
                format!("transfers[{i}].pending_action"),
                "is not a known action",
            )
            .into());
        }
    };
    let pending_id = uuid_field(format!("transfers[{i}].pending_id"), &t.pending_id)?;
    let refund_of = uuid_field(format!("transfers[{i}].refund_of"), &t.refund_of)?;
    let expires_on = match t.expires_on.trim() {
        "" => None,
        day => Some(
            chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| {
                Status::from(ApiError::invalid(
                    format!("transfers[{i}].expires_on"),
                    "must be a date, YYYY-MM-DD",
                ))
            })?,
        ),
    };
    Ok(NewTransfer {
        id: uuid_field(format!("transfers[{i}].id"), &t.id)?,
        debit_account_id: uuid_field(
            format!("transfers[{i}].debit_account_id"),
            &t.debit_account_id,
        )?,
        credit_account_id: uuid_field(
            format!("transfers[{i}].credit_account_id"),
            &t.credit_account_id,
        )?,
        amount: t.amount,
        kind: transfer_kind_from_pb(t.kind),
        pending: t.pending,
        timeout_seconds: t.timeout_seconds,
        action,
        pending_id: (!pending_id.is_nil()).then_some(pending_id),
        metadata: Metadata {
            event_id: m.event_id,
            order_id: m.order_id,
            rule_code: m.rule_code,
            rule_version: m.rule_version,
            reason: m.reason,
        },
        expiry: false,
        expires_on,
        refund_of: (!refund_of.is_nil()).then_some(refund_of),
    })
}
