//! The thin gRPC adapter of the ledger, and the one place where [`LedgerError`] becomes a
//! `Status`.

use healthpoints_errors::{ApiError, ErrorCode};
use healthpoints_grpc::{Ready, caller};
use healthpoints_proto::{
    common::v1::{PageInfo, Yuan},
    ledger::v1::{self as pb, ledger_service_server::LedgerService},
};
use prost_types::Timestamp;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{
        LedgerError,
        model::{
            Account, AccountKind, CreateResult, Metadata, NewTransfer, PendingAction, Resolution,
            Transfer, TransferKind,
        },
    },
    service::{AccountSelector, Ledger},
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
        e @ LedgerError::Store(_) => {
            tracing::error!(error = %e, "ledger request failed");
            ApiError::internal()
        }
    }
}

fn status(err: LedgerError) -> Status {
    to_api_error(err).into()
}

fn ts(us: i64) -> Timestamp {
    Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: i32::try_from(us.rem_euclid(1_000_000) * 1_000).unwrap_or_default(),
    }
}

fn from_ts(t: &Timestamp) -> i64 {
    t.seconds * 1_000_000 + i64::from(t.nanos) / 1_000
}

fn kind_to_pb(k: AccountKind) -> pb::AccountKind {
    match k {
        AccountKind::Resident => pb::AccountKind::Resident,
        AccountKind::Issuance => pb::AccountKind::Issuance,
        AccountKind::MerchantPayable => pb::AccountKind::MerchantPayable,
        AccountKind::Settled => pb::AccountKind::Settled,
        AccountKind::Expiry => pb::AccountKind::Expiry,
        AccountKind::Adjustment => pb::AccountKind::Adjustment,
    }
}

fn kind_from_pb(v: i32) -> Option<AccountKind> {
    Some(match pb::AccountKind::try_from(v).ok()? {
        pb::AccountKind::Resident => AccountKind::Resident,
        pb::AccountKind::Issuance => AccountKind::Issuance,
        pb::AccountKind::MerchantPayable => AccountKind::MerchantPayable,
        pb::AccountKind::Settled => AccountKind::Settled,
        pb::AccountKind::Expiry => AccountKind::Expiry,
        pb::AccountKind::Adjustment => AccountKind::Adjustment,
        pb::AccountKind::Unspecified => return None,
    })
}

fn transfer_kind_to_pb(k: TransferKind) -> pb::TransferKind {
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

fn account_to_pb(a: &Account) -> pb::Account {
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

fn transfer_to_pb(t: &Transfer, resolution: Option<Resolution>) -> pb::Transfer {
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
    }
}

fn result_to_pb(r: CreateResult) -> pb::CreateTransferResult {
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
    }
}

fn uuid_field(field: String, raw: &str) -> Result<Uuid, Status> {
    if raw.trim().is_empty() {
        return Ok(Uuid::nil());
    }
    Uuid::parse_str(raw.trim()).map_err(|_| ApiError::invalid(field, "must be a UUID").into())
}

/// Wire transfer → what the client asks for. Malformed ids are refused for the whole request.
fn new_transfer(i: usize, t: pb::Transfer) -> Result<NewTransfer, Status> {
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
    })
}

/// The ledger gRPC service. Answers UNAVAILABLE until the domain is ready.
#[derive(Debug, Clone)]
pub struct LedgerGrpc {
    ledger: Ready<Ledger>,
}

impl LedgerGrpc {
    pub fn new(ledger: Ready<Ledger>) -> Self {
        Self { ledger }
    }

    fn ready(&self) -> Result<&Ledger, Status> {
        self.ledger.get()
    }
}

#[tonic::async_trait]
impl LedgerService for LedgerGrpc {
    #[tracing::instrument(skip_all, fields(accounts = request.get_ref().accounts.len()))]
    async fn open_accounts(
        &self,
        request: Request<pb::OpenAccountsRequest>,
    ) -> Result<Response<pb::OpenAccountsResponse>, Status> {
        let p = caller(&request)?;
        let mut specs = Vec::new();
        for (i, a) in request.into_inner().accounts.into_iter().enumerate() {
            let kind = kind_from_pb(a.kind).ok_or_else(|| {
                Status::from(ApiError::invalid(
                    format!("accounts[{i}].kind"),
                    "must be set",
                ))
            })?;
            specs.push((a.book, kind.as_str().to_owned(), a.owner_id));
        }
        let accounts = self
            .ready()?
            .open_accounts(&p, specs)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::OpenAccountsResponse {
            accounts: accounts.iter().map(account_to_pb).collect(),
        }))
    }

    async fn lookup_accounts(
        &self,
        request: Request<pb::LookupAccountsRequest>,
    ) -> Result<Response<pb::LookupAccountsResponse>, Status> {
        let p = caller(&request)?;
        let accounts = self
            .ready()?
            .lookup_accounts(&p, &request.get_ref().ids)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::LookupAccountsResponse {
            accounts: accounts.iter().map(account_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(book = %request.get_ref().book))]
    async fn set_budget(
        &self,
        request: Request<pb::SetBudgetRequest>,
    ) -> Result<Response<pb::SetBudgetResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let account = self
            .ready()?
            .set_budget(&p, &r.book, r.budget)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SetBudgetResponse {
            issuance: Some(account_to_pb(&account)),
        }))
    }

    #[tracing::instrument(skip_all, fields(transfers = request.get_ref().transfers.len(), linked = request.get_ref().linked))]
    async fn create_transfers(
        &self,
        request: Request<pb::CreateTransfersRequest>,
    ) -> Result<Response<pb::CreateTransfersResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let transfers = r
            .transfers
            .into_iter()
            .enumerate()
            .map(|(i, t)| new_transfer(i, t))
            .collect::<Result<Vec<_>, _>>()?;
        let outcome = self
            .ready()?
            .create_transfers(&p, transfers, r.linked)
            .await
            .map_err(status)?;
        let results = outcome
            .into_iter()
            .enumerate()
            .map(|(i, (result, stored))| pb::TransferResultEntry {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                result: result_to_pb(result) as i32,
                // Like TigerBeetle, a fresh success needs no echo (the client sent it); a retry
                // gets the original back.
                transfer: stored
                    .filter(|_| result == CreateResult::Exists)
                    .map(|t| transfer_to_pb(&t, None)),
            })
            .collect();
        Ok(Response::new(pb::CreateTransfersResponse { results }))
    }

    async fn lookup_transfers(
        &self,
        request: Request<pb::LookupTransfersRequest>,
    ) -> Result<Response<pb::LookupTransfersResponse>, Status> {
        let p = caller(&request)?;
        let found = self
            .ready()?
            .lookup_transfers(&p, &request.get_ref().ids)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::LookupTransfersResponse {
            transfers: found.iter().map(|(t, r)| transfer_to_pb(t, *r)).collect(),
        }))
    }

    async fn get_balances(
        &self,
        request: Request<pb::GetBalancesRequest>,
    ) -> Result<Response<pb::GetBalancesResponse>, Status> {
        let p = caller(&request)?;
        let balances = self
            .ready()?
            .balances(&p, &request.get_ref().owner_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetBalancesResponse {
            balances: balances
                .into_iter()
                .map(|b| pb::Balance {
                    book: b.book.to_string(),
                    account_id: b.account_id.to_string(),
                    posted: b.posted,
                    pending: b.pending,
                    available: b.available,
                    yuan: Some(Yuan::from_points(b.available)),
                })
                .collect(),
        }))
    }

    async fn list_account_history(
        &self,
        request: Request<pb::ListAccountHistoryRequest>,
    ) -> Result<Response<pb::ListAccountHistoryResponse>, Status> {
        let p = caller(&request)?;
        let r = request.into_inner();
        let selector = match r.account {
            Some(pb::list_account_history_request::Account::AccountId(id)) => {
                AccountSelector::Id(id)
            }
            Some(pb::list_account_history_request::Account::OwnerBook(ob)) => {
                AccountSelector::OwnerBook {
                    owner_id: ob.owner_id,
                    book: ob.book,
                }
            }
            None => {
                return Err(ApiError::invalid(
                    "account",
                    "name the account by id or by owner and book",
                )
                .into());
            }
        };
        let kinds = r
            .kinds
            .iter()
            .filter_map(|k| transfer_kind_from_pb(*k))
            .collect();
        let page = r.page.unwrap_or_default();
        let (entries, next) = self
            .ready()?
            .history(
                &p,
                selector,
                kinds,
                r.from.as_ref().map(from_ts),
                r.to.as_ref().map(from_ts),
                &page.cursor,
                page.page_size,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListAccountHistoryResponse {
            entries: entries
                .into_iter()
                .map(|e| pb::HistoryEntry {
                    posted_points: e.posted_points(),
                    pending_points: e.pending_points(),
                    reason: e.transfer.metadata.reason.clone(),
                    transfer: Some(transfer_to_pb(&e.transfer, e.resolution)),
                    credit: e.credit,
                    counterparty_kind: kind_to_pb(e.counterparty_kind) as i32,
                })
                .collect(),
            page: Some(PageInfo {
                next_cursor: next.unwrap_or_default(),
            }),
        }))
    }

    async fn get_book_statistics(
        &self,
        request: Request<pb::GetBookStatisticsRequest>,
    ) -> Result<Response<pb::GetBookStatisticsResponse>, Status> {
        let p = caller(&request)?;
        let (book, s) = self
            .ready()?
            .book_statistics(&p, &request.get_ref().book, &request.get_ref().month)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetBookStatisticsResponse {
            book: book.to_string(),
            issued: s.issued,
            redeemed: s.redeemed,
            refunded: s.refunded,
            expired: s.expired,
            outstanding: s.outstanding,
            outstanding_yuan: Some(Yuan::from_points(s.outstanding)),
            budget: s.budget,
            budget_left: s.budget_left,
            resident_accounts: s.resident_accounts,
        }))
    }

    #[tracing::instrument(skip_all, fields(book = %request.get_ref().book))]
    async fn verify_journal(
        &self,
        request: Request<pb::VerifyJournalRequest>,
    ) -> Result<Response<pb::VerifyJournalResponse>, Status> {
        let p = caller(&request)?;
        let r = request.get_ref();
        let (book, report) = self
            .ready()?
            .verify_journal(&p, &r.book, r.after_sequence, &r.after_hash, r.max_entries)
            .await
            .map_err(status)?;
        if report.first_broken_seq.is_some() {
            tracing::error!(book = %book, seq = ?report.first_broken_seq, "journal verification found a broken link");
        }
        Ok(Response::new(pb::VerifyJournalResponse {
            book: book.to_string(),
            intact: report.first_broken_seq.is_none(),
            entries_checked: report.entries_checked,
            first_broken_sequence: report.first_broken_seq,
            detail: report.detail,
            last_sequence: report.last.seq,
            last_hash: report.last.hash,
            complete: report.complete,
        }))
    }
}
