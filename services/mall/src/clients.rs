//! A mall's peers behind the service's ports: identity says who a resident is (status, birth
//! date), the ledger moves the points — in this mall's book only, with the mall's own service
//! token (a district mall's token is bound to its district, so the ledger itself refuses any
//! other book).

use std::{collections::HashMap, sync::Mutex};

use chrono::NaiveDate;
use healthpoints_db::outbox;
use healthpoints_errors::ErrorCode;
use healthpoints_grpc::{
    client::PeerChannel,
    credentials::{PeerError, ServiceToken},
};
use healthpoints_proto::{
    exchange::v1::{self as xpb, exchange_service_client::ExchangeServiceClient},
    identity::v1::{
        ResidentStatus, ResolveResidentRequest, identity_service_client::IdentityServiceClient,
        resolve_resident_request,
    },
    ledger::v1::{
        self as lpb, AccountKind, CreateTransferResult, PendingAction, TransferKind,
        ledger_service_client::LedgerServiceClient,
    },
};
use healthpoints_types::Book;
use uuid::Uuid;

use crate::{
    domain::{
        error::{MallError, Result},
        model::{Order, RefundSource, Statement},
    },
    service::{LedgerAnswer, PointsLedger, ResidentFacts, Residents},
};

/// A peer's refusal or silence, as the domain sees it: retryable unless it is our own bug.
impl From<PeerError> for MallError {
    fn from(e: PeerError) -> Self {
        if e.retryable() {
            Self::Unavailable(e.describe("the mall"))
        } else {
            Self::fault(e.describe("the mall"))
        }
    }
}

/// identity's `ResolveResident`, asked on every order (a suspension or a birthday counts at
/// once).
#[derive(Debug)]
pub struct IdentityResidents {
    client: IdentityServiceClient<PeerChannel>,
    token: ServiceToken,
}

impl IdentityResidents {
    pub fn new(channel: PeerChannel, token: ServiceToken) -> Self {
        Self {
            client: IdentityServiceClient::new(channel),
            token,
        }
    }
}

impl Residents for IdentityResidents {
    async fn resident(&self, id: Uuid) -> Result<Option<ResidentFacts>> {
        let request = ResolveResidentRequest {
            resident: Some(resolve_resident_request::Resident::ResidentId(
                id.to_string(),
            )),
        };
        match self
            .token
            .call("identity", &self.client, request, async |mut c, r| {
                c.resolve_resident(r).await
            })
            .await
        {
            Ok(r) => Ok(Some(ResidentFacts {
                suspended: ResidentStatus::try_from(r.status).unwrap_or_default()
                    != ResidentStatus::Active,
                birth_date: NaiveDate::parse_from_str(&r.birth_date, "%Y-%m-%d").ok(),
                name_masked: r.name_masked,
            })),
            Err(e) if e.peer == "identity" && e.error.code == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// The ledger's `OpenAccounts` and `CreateTransfers` in one book. Account ids are remembered
/// (opening is idempotent, so a restart only asks again).
#[derive(Debug)]
pub struct LedgerRedemptions {
    client: LedgerServiceClient<PeerChannel>,
    token: ServiceToken,
    book: Book,
    accounts: Mutex<HashMap<(i32, Uuid), String>>,
}

/// The most accounts remembered; the cache starts over when full.
const CACHE_MAX: usize = 100_000;

impl LedgerRedemptions {
    pub fn new(channel: PeerChannel, token: ServiceToken, book: Book) -> Self {
        Self {
            client: LedgerServiceClient::new(channel),
            token,
            book,
            accounts: Mutex::new(HashMap::new()),
        }
    }

    async fn account(&self, kind: AccountKind, owner: Uuid) -> Result<String> {
        let key = (kind as i32, owner);
        if let Some(id) = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok(id.clone());
        }
        let opened = self
            .token
            .call(
                "the ledger",
                &self.client,
                lpb::OpenAccountsRequest {
                    accounts: vec![lpb::AccountSpec {
                        book: self.book.to_string(),
                        kind: kind as i32,
                        owner_id: owner.to_string(),
                    }],
                },
                async |mut c, r| c.open_accounts(r).await,
            )
            .await?;
        let id = opened
            .accounts
            .into_iter()
            .next()
            .map(|a| a.id)
            .ok_or_else(|| MallError::fault("the ledger opened no account"))?;
        let mut cache = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, id.clone());
        Ok(id)
    }

    async fn transfer(&self, transfer: lpb::Transfer) -> Result<LedgerAnswer> {
        let results = self
            .token
            .call(
                "the ledger",
                &self.client,
                lpb::CreateTransfersRequest {
                    transfers: vec![transfer],
                    linked: false,
                },
                async |mut c, r| c.create_transfers(r).await,
            )
            .await?
            .results;
        let result = results
            .first()
            .map(|r| CreateTransferResult::try_from(r.result).unwrap_or_default())
            .ok_or_else(|| MallError::fault("the ledger answered no result"))?;
        Ok(match result {
            CreateTransferResult::Ok | CreateTransferResult::Exists => LedgerAnswer::Done,
            CreateTransferResult::ExceedsBalance => LedgerAnswer::InsufficientPoints,
            CreateTransferResult::PendingTransferAlreadyVoided
            | CreateTransferResult::PendingTransferExpired => LedgerAnswer::AlreadyVoided,
            CreateTransferResult::PendingTransferAlreadyPosted => LedgerAnswer::AlreadyPosted,
            other => LedgerAnswer::Refused(other.as_str_name().to_owned()),
        })
    }

    fn metadata(order: &Order, reason: String) -> Option<lpb::TransferMetadata> {
        Some(lpb::TransferMetadata {
            order_id: order.order_id.to_string(),
            reason,
            ..lpb::TransferMetadata::default()
        })
    }
}

fn id(what: &str, id: Option<Uuid>) -> Result<String> {
    id.map(|i| i.to_string())
        .ok_or_else(|| MallError::fault(format!("the order has no {what} transfer id")))
}

impl PointsLedger for LedgerRedemptions {
    async fn reserve(&self, order: &Order, timeout_seconds: u32) -> Result<LedgerAnswer> {
        let resident = self
            .account(AccountKind::Resident, order.resident_id)
            .await?;
        let payable = self
            .account(AccountKind::MerchantPayable, order.merchant_id)
            .await?;
        self.transfer(lpb::Transfer {
            id: order.transfer_id().to_string(),
            debit_account_id: resident,
            credit_account_id: payable,
            amount: order.points,
            kind: TransferKind::Redeem as i32,
            pending: true,
            timeout_seconds,
            metadata: Self::metadata(
                order,
                format!("{} × {}", order.product_title, order.quantity),
            ),
            ..lpb::Transfer::default()
        })
        .await
    }

    async fn resolve(&self, order: &Order, post: bool) -> Result<LedgerAnswer> {
        let resident = self
            .account(AccountKind::Resident, order.resident_id)
            .await?;
        let payable = self
            .account(AccountKind::MerchantPayable, order.merchant_id)
            .await?;
        self.transfer(lpb::Transfer {
            id: id("resolve", order.resolve_transfer_id)?,
            debit_account_id: resident,
            credit_account_id: payable,
            amount: 0,
            kind: TransferKind::Redeem as i32,
            pending_action: if post {
                PendingAction::Post
            } else {
                PendingAction::Void
            } as i32,
            pending_id: order.transfer_id().to_string(),
            metadata: Self::metadata(
                order,
                if post {
                    format!("voucher written off: {}", order.product_title)
                } else {
                    format!("order cancelled or expired: {}", order.product_title)
                },
            ),
            ..lpb::Transfer::default()
        })
        .await
    }

    async fn refund(&self, order: &Order, source: RefundSource) -> Result<LedgerAnswer> {
        let from = match source {
            RefundSource::Payable => AccountKind::MerchantPayable,
            RefundSource::Settled => AccountKind::Settled,
        };
        let from = self.account(from, order.merchant_id).await?;
        let resident = self
            .account(AccountKind::Resident, order.resident_id)
            .await?;
        self.transfer(lpb::Transfer {
            id: id("refund", order.refund_transfer_id)?,
            debit_account_id: from,
            credit_account_id: resident,
            amount: order.points,
            kind: TransferKind::Refund as i32,
            // The points go back to the lots the write-off spent, with their days.
            refund_of: id("resolve", order.resolve_transfer_id)?,
            metadata: Self::metadata(
                order,
                format!(
                    "refund: {}{}",
                    order.product_title,
                    order
                        .refund_reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
            ),
            ..lpb::Transfer::default()
        })
        .await
    }

    async fn settle(&self, s: &Statement) -> Result<LedgerAnswer> {
        let payable = self
            .account(AccountKind::MerchantPayable, s.merchant_id)
            .await?;
        let settled = self.account(AccountKind::Settled, s.merchant_id).await?;
        self.transfer(lpb::Transfer {
            id: id("settlement", s.transfer_id)?,
            debit_account_id: payable,
            credit_account_id: settled,
            amount: s.net_points(),
            kind: TransferKind::Settle as i32,
            metadata: Some(lpb::TransferMetadata {
                reason: format!("settlement {}", s.period),
                ..lpb::TransferMetadata::default()
            }),
            ..lpb::Transfer::default()
        })
        .await
    }
}

/// The exchange, where the mall's outbox publishes (with the mall's own service token).
#[derive(Debug, Clone)]
pub struct ExchangeEvents {
    client: ExchangeServiceClient<PeerChannel>,
    token: ServiceToken,
}

impl ExchangeEvents {
    pub fn new(channel: PeerChannel, token: ServiceToken) -> Self {
        Self {
            client: ExchangeServiceClient::new(channel),
            token,
        }
    }
}

impl outbox::Publisher for ExchangeEvents {
    async fn publish(
        &self,
        events: &[outbox::OutboxEvent],
    ) -> std::result::Result<Vec<outbox::Refused>, String> {
        let wire = events
            .iter()
            .map(healthpoints_grpc::outbox::to_pb)
            .collect();
        self.token
            .call(
                "exchange",
                &self.client,
                xpb::PublishEventsRequest { events: wire },
                async |mut c, r| c.publish_events(r).await,
            )
            .await
            .map(|answer| {
                answer
                    .refused
                    .into_iter()
                    .map(|r| outbox::Refused {
                        id: r.event_id,
                        why: format!("{}: {}", r.field, r.reason),
                    })
                    .collect()
            })
            .map_err(|e| e.describe("the mall's outbox"))
    }
}
