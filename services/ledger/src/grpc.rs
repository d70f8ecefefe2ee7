//! The thin gRPC adapter of the ledger: each RPC checks its caller, converts its message
//! (`convert.rs`, also the one place a domain error becomes a `Status`), calls the service and
//! converts the answer.

use healthpoints_errors::ApiError;
use healthpoints_grpc::{Ready, caller};
use healthpoints_proto::{
    common::v1::{PageInfo, Yuan},
    ledger::v1::{self as pb, ledger_service_server::LedgerService},
};
use tonic::{Request, Response, Status};

use crate::{
    domain::model::CreateResult,
    service::{AccountSelector, Ledger},
};

use crate::convert::{
    account_to_pb, from_ts, kind_from_pb, kind_to_pb, new_transfer, result_to_pb, status,
    transfer_kind_from_pb, transfer_to_pb,
};

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

    #[tracing::instrument(skip_all, fields(balances = request.get_ref().balances.len()))]
    async fn import_opening_balances(
        &self,
        request: Request<pb::ImportOpeningBalancesRequest>,
    ) -> Result<Response<pb::ImportOpeningBalancesResponse>, Status> {
        use crate::service::{OpeningBalance, OpeningOutcome};
        let p = caller(&request)?;
        let balances = request
            .into_inner()
            .balances
            .into_iter()
            .map(|b| OpeningBalance {
                record_id: b.record_id,
                resident_id: b.resident_id,
                book: b.book,
                points: b.points,
                expires_on: b.expires_on,
            })
            .collect();
        let outcomes = self
            .ready()?
            .import_opening_balances(&p, balances)
            .await
            .map_err(status)?;
        let stored = |outcome: &str| pb::OpeningBalanceResult {
            outcome: outcome.into(),
            ..pb::OpeningBalanceResult::default()
        };
        let results = outcomes
            .into_iter()
            .map(|o| match o {
                OpeningOutcome::Created => stored("created"),
                OpeningOutcome::Exists => stored("exists"),
                OpeningOutcome::Refused { field, reason } => pb::OpeningBalanceResult {
                    outcome: "refused".into(),
                    field: field.into(),
                    reason,
                },
            })
            .collect();
        Ok(Response::new(pb::ImportOpeningBalancesResponse { results }))
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
                    expiring: b
                        .expiring
                        .iter()
                        .map(|(on, points)| pb::Expiring {
                            points: *points,
                            on: on.to_string(),
                        })
                        .collect(),
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
            migrated: s.migrated,
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

    #[tracing::instrument(name = "ledger.ReadOutbox", skip_all)]
    async fn read_outbox(
        &self,
        request: Request<healthpoints_proto::common::v1::ReadOutboxRequest>,
    ) -> Result<Response<healthpoints_proto::common::v1::ReadOutboxResponse>, Status> {
        healthpoints_grpc::outbox::read(self.ready()?.store().connection(), request).await
    }

    #[tracing::instrument(name = "ledger.AckOutbox", skip_all)]
    async fn ack_outbox(
        &self,
        request: Request<healthpoints_proto::common::v1::AckOutboxRequest>,
    ) -> Result<Response<healthpoints_proto::common::v1::AckOutboxResponse>, Status> {
        healthpoints_grpc::outbox::ack(self.ready()?.store().connection(), request).await
    }
}
