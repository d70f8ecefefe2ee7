//! Intake's peers behind the service's ports: identity answers who a resident is, the ledger
//! takes the awards. Both are called with intake's own service token.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use healthpoints_errors::ErrorCode;
use healthpoints_grpc::{
    client::PeerChannel,
    credentials::{PeerError, ServiceToken},
};
use healthpoints_proto::{
    identity::v1::{
        ResidenceType, ResidentStatus, ResolveResidentRequest, ResolveResidentResponse,
        ResolveResidentsRequest, identity_service_client::IdentityServiceClient,
        resolve_resident_request,
    },
    ledger::v1::{
        self as lpb, AccountKind, CreateTransferResult, ledger_service_client::LedgerServiceClient,
    },
};
use healthpoints_types::{Book, DistrictCode};
use uuid::Uuid;

use crate::{
    domain::{
        error::{IntakeError, Result},
        model::{AwardAnswer, AwardOrder, Resident, ResidentRef},
    },
    service::{PointsLedger, Residents},
};

/// A peer's refusal or silence, as the domain sees it: retryable unless it is our own bug.
impl From<PeerError> for IntakeError {
    fn from(e: PeerError) -> Self {
        if e.retryable() {
            Self::Unavailable(e.describe("intake"))
        } else {
            Self::fault(e.describe("intake"))
        }
    }
}

/// The most residents remembered at once; the cache starts over when full.
const CACHE_MAX: usize = 100_000;

/// identity's `ResolveResident`, with answers reused for a short while (a morning sync sends
/// many records of each resident).
#[derive(Debug)]
pub struct IdentityResidents {
    client: IdentityServiceClient<PeerChannel>,
    token: ServiceToken,
    ttl: Duration,
    cache: Mutex<HashMap<ResidentRef, (Option<Resident>, Instant)>>,
}

impl IdentityResidents {
    pub fn new(channel: PeerChannel, token: ServiceToken, ttl: Duration) -> Self {
        Self {
            client: IdentityServiceClient::new(channel),
            token,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, who: &ResidentRef) -> Option<Option<Resident>> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(who)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(r, _)| r.clone())
    }
}

/// How identity is asked about a reference.
fn wire_ref(who: &ResidentRef) -> ResolveResidentRequest {
    ResolveResidentRequest {
        resident: Some(match who {
            ResidentRef::Id(id) => resolve_resident_request::Resident::ResidentId(id.clone()),
            ResidentRef::IdNumberHash(h) => {
                resolve_resident_request::Resident::IdNumberHash(h.clone())
            }
        }),
    }
}

/// What intake needs of identity's answer.
fn resident_of(r: ResolveResidentResponse) -> Resident {
    let status = ResidentStatus::try_from(r.status).unwrap_or_default();
    Resident {
        resident_id: r.resident_id,
        suspended: status != ResidentStatus::Active,
        enrolled: r.district_enrolled,
        district: DistrictCode::parse(&r.residence_district).ok(),
        name_masked: r.name_masked,
        birth_date: chrono::NaiveDate::parse_from_str(&r.birth_date, "%Y-%m-%d").ok(),
        residence_type: match ResidenceType::try_from(r.residence_type) {
            Ok(ResidenceType::Registered) => "registered",
            Ok(ResidenceType::PermanentMigrant) => "permanent_migrant",
            _ => "unknown",
        },
    }
}

impl IdentityResidents {
    fn remember(&self, who: &ResidentRef, answer: &Option<Resident>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(who.clone(), (answer.clone(), Instant::now()));
    }
}

impl Residents for IdentityResidents {
    async fn resolve(&self, who: &ResidentRef) -> Result<Option<Resident>> {
        if let Some(hit) = self.cached(who) {
            return Ok(hit);
        }
        let answer = match self
            .token
            .call("identity", &self.client, wire_ref(who), async |mut c, r| {
                c.resolve_resident(r).await
            })
            .await
        {
            Ok(r) => Some(resident_of(r)),
            Err(e)
                if e.peer == "identity"
                    && matches!(
                        e.error.code,
                        ErrorCode::NotFound | ErrorCode::InvalidArgument
                    ) =>
            {
                None
            }
            Err(e) => return Err(e.into()),
        };
        self.remember(who, &answer);
        Ok(answer)
    }

    /// The cached answers, and one `ResolveResidents` call per 1,000 of the rest.
    async fn resolve_many(&self, refs: &[&ResidentRef]) -> Result<Vec<Option<Resident>>> {
        let mut answers: Vec<Option<Option<Resident>>> =
            refs.iter().map(|r| self.cached(r)).collect();
        let missing: Vec<usize> = (0..refs.len()).filter(|&i| answers[i].is_none()).collect();
        for chunk in missing.chunks(1_000) {
            let request = ResolveResidentsRequest {
                residents: chunk.iter().map(|&i| wire_ref(refs[i])).collect(),
            };
            let found = self
                .token
                .call("identity", &self.client, request, async |mut c, r| {
                    c.resolve_residents(r).await
                })
                .await?
                .residents;
            if found.len() != chunk.len() {
                return Err(IntakeError::fault(
                    "identity answered a different number of residents",
                ));
            }
            for (&i, r) in chunk.iter().zip(found) {
                let resident = (!r.resident_id.is_empty()).then(|| resident_of(r));
                self.remember(refs[i], &resident);
                answers[i] = Some(resident);
            }
        }
        Ok(answers.into_iter().map(Option::flatten).collect())
    }
}

/// The ledger's `OpenAccounts` and `CreateTransfers`: each award moves points from the book's
/// issuance account to the resident's account there, opened on first use (idempotently; the
/// ids are remembered).
#[derive(Debug)]
pub struct LedgerAwards {
    client: LedgerServiceClient<PeerChannel>,
    token: ServiceToken,
    accounts: Mutex<HashMap<(Book, String), Uuid>>,
}

/// The owner id of a book's issuance account in the account cache.
const ISSUANCE: &str = "";

impl LedgerAwards {
    pub fn new(channel: PeerChannel, token: ServiceToken) -> Self {
        Self {
            client: LedgerServiceClient::new(channel)
                .max_decoding_message_size(16 << 20)
                .max_encoding_message_size(16 << 20),
            token,
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// The account ids of every (book, owner) the orders need, opening what is not known yet.
    async fn accounts(&self, orders: &[AwardOrder]) -> Result<HashMap<(Book, String), Uuid>> {
        let mut wanted: Vec<(Book, String)> = Vec::new();
        for o in orders {
            for key in [
                (o.book, ISSUANCE.to_owned()),
                (o.book, o.resident_id.clone()),
            ] {
                if !wanted.contains(&key) {
                    wanted.push(key);
                }
            }
        }
        let mut known = HashMap::with_capacity(wanted.len());
        let mut missing = Vec::new();
        {
            let cache = self
                .accounts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for key in wanted {
                match cache.get(&key) {
                    Some(id) => {
                        known.insert(key, *id);
                    }
                    None => missing.push(key),
                }
            }
        }
        for chunk in missing.chunks(4_000) {
            let specs = chunk
                .iter()
                .map(|(book, owner)| lpb::AccountSpec {
                    book: book.to_string(),
                    kind: if owner.is_empty() {
                        AccountKind::Issuance
                    } else {
                        AccountKind::Resident
                    } as i32,
                    owner_id: owner.clone(),
                })
                .collect();
            let opened = self
                .token
                .call(
                    "the ledger",
                    &self.client,
                    lpb::OpenAccountsRequest { accounts: specs },
                    async |mut c, r| c.open_accounts(r).await,
                )
                .await?
                .accounts;
            if opened.len() != chunk.len() {
                return Err(IntakeError::fault(
                    "the ledger answered a different number of accounts",
                ));
            }
            let mut cache = self
                .accounts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            for (key, account) in chunk.iter().zip(opened) {
                let id = Uuid::parse_str(&account.id)
                    .map_err(|_| IntakeError::fault("the ledger answered a bad account id"))?;
                cache.insert(key.clone(), id);
                known.insert(key.clone(), id);
            }
        }
        Ok(known)
    }
}

impl PointsLedger for LedgerAwards {
    async fn award(&self, orders: &[AwardOrder], linked: bool) -> Result<Vec<AwardAnswer>> {
        let accounts = self.accounts(orders).await?;
        let mut answers = Vec::with_capacity(orders.len());
        for chunk in orders.chunks(8_000) {
            let transfers = chunk
                .iter()
                .map(|o| lpb::Transfer {
                    id: o.transfer_id.to_string(),
                    debit_account_id: accounts[&(o.book, ISSUANCE.to_owned())].to_string(),
                    credit_account_id: accounts[&(o.book, o.resident_id.clone())].to_string(),
                    amount: o.points,
                    kind: lpb::TransferKind::Award as i32,
                    metadata: Some(lpb::TransferMetadata {
                        event_id: o.event_id.to_string(),
                        rule_code: o.rule_code.clone(),
                        rule_version: o.rule_version,
                        reason: o.reason.clone(),
                        order_id: String::new(),
                    }),
                    expires_on: o.expires_on.map(|d| d.to_string()).unwrap_or_default(),
                    ..lpb::Transfer::default()
                })
                .collect();
            let results = self
                .token
                .call(
                    "the ledger",
                    &self.client,
                    lpb::CreateTransfersRequest { transfers, linked },
                    async |mut c, r| c.create_transfers(r).await,
                )
                .await?
                .results;
            if results.len() != chunk.len() {
                return Err(IntakeError::fault(
                    "the ledger answered a different number of results",
                ));
            }
            for r in results {
                let result = CreateTransferResult::try_from(r.result).unwrap_or_default();
                answers.push(match result {
                    CreateTransferResult::Ok | CreateTransferResult::Exists => AwardAnswer::Done,
                    // Linked, the others of a batch one award's budget refused.
                    CreateTransferResult::ExceedsBudget
                    | CreateTransferResult::LinkedEventFailed => AwardAnswer::BudgetExhausted,
                    other => {
                        return Err(IntakeError::fault(format!(
                            "the ledger refused an award: {}",
                            other.as_str_name()
                        )));
                    }
                });
            }
        }
        Ok(answers)
    }
}
