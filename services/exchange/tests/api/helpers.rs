//! A fresh exchange store per test, and fakes of its peers that record what they were asked.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use healthpoints_auth::Principal;
use healthpoints_exchange::{
    domain::{
        contracts::{Contract, ContractAction, Contracts},
        error::{ExchangeError, Result},
        partners::{Identity, Intake, Partner, PartnerSpec, Resolved},
        products::MonthlyPoints,
        records::{Behaviours, Forward, Judged, RecordOutcome, RecordResult},
        station::{AtCounter, Proof},
        statistics::{AwardFigures, BookAwards, BookMovements, CohortAwards, LedgerFigures},
    },
    service::Exchange,
    store::{Migrator, Store},
};
use healthpoints_testkit::TestDatabase;
use healthpoints_types::{Book, DistrictCode};

/// The month and district intake was asked figures for.
pub(crate) type Asked = (String, Option<DistrictCode>);
/// A month (`2026-11`) and the points earned in it.
pub(crate) type Month = (String, u64);

/// The exchange on a fresh store, every peer played by `peers` (its clones share one state).
pub(crate) struct Fixture {
    pub x: Exchange<Peers, Peers, Peers>,
    pub peers: Peers,
    _db: TestDatabase,
}

/// identity and intake as the exchange sees them. ID numbers resolve through `residents`;
/// the catalogue's sources are `catalogue`; intake awards 10 points per record it has not seen
/// (per source and record id) and answers `duplicate` for one it has.
#[derive(Clone, Default)]
pub(crate) struct Peers {
    pub residents: Arc<Mutex<BTreeMap<String, String>>>,
    pub catalogue: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
    pub forwarded: Arc<Mutex<Vec<Forward>>>,
    pub clients_created: Arc<Mutex<u32>>,
    pub refuse_clients: Arc<Mutex<bool>>,
    /// Contract changes identity applied, in order; residents it refuses to change.
    pub contracts: Arc<Mutex<Vec<(String, ContractAction, Contract)>>>,
    pub refuse_contracts_of: Arc<Mutex<BTreeSet<String>>>,
    /// What intake and the ledger report for statistics, and the months they were asked for.
    pub cohorts: Arc<Mutex<Vec<CohortAwards>>>,
    pub book_awards: Arc<Mutex<Vec<BookAwards>>>,
    pub movements: Arc<Mutex<BTreeMap<Book, BookMovements>>>,
    pub asked: Arc<Mutex<Vec<Asked>>>,
    /// Points earned per month and resident (newest first), as intake counts them.
    pub monthly: Arc<Mutex<BTreeMap<String, Vec<Month>>>>,
}

impl Contracts for Peers {
    async fn set_contract(
        &self,
        resident_id: &str,
        action: ContractAction,
        contract: &Contract,
    ) -> Result<std::result::Result<(), String>> {
        if self
            .refuse_contracts_of
            .lock()
            .unwrap()
            .contains(resident_id)
        {
            return Ok(Err("the resident has left the programme".into()));
        }
        self.contracts
            .lock()
            .unwrap()
            .push((resident_id.to_owned(), action, contract.clone()));
        Ok(Ok(()))
    }
}

impl AwardFigures for Peers {
    async fn award_figures(
        &self,
        month: &str,
        district: Option<DistrictCode>,
    ) -> Result<(Vec<CohortAwards>, Vec<BookAwards>)> {
        self.asked
            .lock()
            .unwrap()
            .push((month.to_owned(), district));
        let cohorts = self.cohorts.lock().unwrap().clone();
        Ok((
            cohorts
                .into_iter()
                .filter(|c| district.is_none() || c.district == district)
                .collect(),
            self.book_awards.lock().unwrap().clone(),
        ))
    }
}

impl LedgerFigures for Peers {
    async fn book_movements(&self, book: Book, _month: &str) -> Result<BookMovements> {
        Ok(self
            .movements
            .lock()
            .unwrap()
            .get(&book)
            .copied()
            .unwrap_or_default())
    }
}

impl MonthlyPoints for Peers {
    async fn monthly_points(&self, resident_id: &str, months: u32) -> Result<Vec<(String, u64)>> {
        let mut all = self
            .monthly
            .lock()
            .unwrap()
            .get(resident_id)
            .cloned()
            .unwrap_or_default();
        all.truncate(months as usize);
        Ok(all)
    }
}

impl Identity for Peers {
    async fn create_partner_client(&self, partner: &Partner) -> Result<(String, String)> {
        if *self.refuse_clients.lock().unwrap() {
            return Err(ExchangeError::Unavailable("identity did not answer".into()));
        }
        *self.clients_created.lock().unwrap() += 1;
        Ok((format!("partner-{}", partner.partner_id), "secret".into()))
    }

    async fn resolve_id_number(&self, id_number: &str) -> Result<Resolved> {
        if id_number.len() != 18 {
            return Ok(Resolved::Invalid("it must have 18 characters".into()));
        }
        Ok(self
            .residents
            .lock()
            .unwrap()
            .get(id_number)
            .map_or(Resolved::Unknown, |r| Resolved::Resident(r.clone())))
    }

    async fn resolve_at_counter(&self, proof: &Proof) -> Result<AtCounter> {
        let id = match proof {
            Proof::IdNumber(n) => self.residents.lock().unwrap().get(n.trim()).cloned(),
            Proof::StationCode(c) => c.strip_prefix("code-").map(str::to_owned),
        };
        let resident_id =
            id.ok_or_else(|| ExchangeError::NotFound("a resident under this proof".into()))?;
        Ok(AtCounter {
            resident_id,
            name_masked: "张*明".into(),
            residence_district: "310118".into(),
            birth_date: "1950-01-01".into(),
            family_doctor_district: None,
        })
    }

    async fn delegated_token(
        &self,
        resident_id: &str,
        staff_id: &str,
        institution: &str,
    ) -> Result<(String, u32)> {
        Ok((format!("token:{resident_id}:{staff_id}:{institution}"), 120))
    }

    async fn set_password(&self, _: &str, _: &str) -> Result<()> {
        Ok(())
    }
}

impl Intake for Peers {
    async fn behaviour_sources(&self) -> Result<BTreeMap<String, BTreeSet<String>>> {
        Ok(self.catalogue.lock().unwrap().clone())
    }
}

impl Behaviours for Peers {
    async fn submit(&self, records: Vec<Forward>, _all_or_none: bool) -> Result<Judged> {
        let mut seen = self.forwarded.lock().unwrap();
        let results = records
            .iter()
            .map(|r| {
                let again = seen
                    .iter()
                    .any(|s| s.source_id == r.source_id && s.record_id == r.record_id);
                RecordResult {
                    record_id: r.record_id.clone(),
                    outcome: if again {
                        RecordOutcome::Duplicate
                    } else {
                        RecordOutcome::Awarded
                    },
                    points: if again { 0 } else { 10 },
                    reason_code: String::new(),
                    reason: String::new(),
                }
            })
            .collect();
        seen.extend(records);
        Ok(Judged {
            results,
            recorded: true,
        })
    }
}

pub(crate) async fn fixture(label: &str) -> Fixture {
    let db = TestDatabase::create(label).await;
    let conn = healthpoints_db::connect::<Migrator>(&db.config)
        .await
        .expect("the exchange store opens");
    let peers = Peers::default();
    {
        let mut catalogue = peers.catalogue.lock().unwrap();
        catalogue.insert(
            "steps.daily".into(),
            ["sports", "wearco"].map(String::from).into(),
        );
        catalogue.insert("vaccination".into(), ["health"].map(String::from).into());
        catalogue.insert("learning.checkin".into(), ["self"].map(String::from).into());
        catalogue.insert(
            "family_doctor.contract".into(),
            ["health-commission"].map(String::from).into(),
        );
    }
    Fixture {
        x: Exchange::new(
            Store::new(conn),
            peers.clone(),
            peers.clone(),
            peers.clone(),
            Arc::new(chrono::Utc::now),
        ),
        peers,
        _db: db,
    }
}

pub(crate) fn city_admin() -> Principal {
    Principal::CityAdmin {
        staff_id: uuid::Uuid::now_v7(),
    }
}

pub(crate) fn resident(id: &str) -> Principal {
    Principal::Resident {
        resident_id: uuid::Uuid::parse_str(id).expect("a resident id"),
    }
}

/// The partner's client as its token names it.
pub(crate) fn partner_client(partner: &Partner) -> Principal {
    Principal::Partner {
        client_id: partner.client_id.clone().expect("an active partner"),
        partner_id: partner.partner_id.clone(),
        department: partner.department.clone(),
        scopes: partner.scopes.clone(),
    }
}

/// A department partner reporting these behaviours and holding these scopes.
pub(crate) fn department(partner_id: &str, behaviours: &[&str], scopes: &[&str]) -> PartnerSpec {
    PartnerSpec {
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        ..spec(partner_id, Some("department"), behaviours)
    }
}

pub(crate) fn spec(partner_id: &str, kind: Option<&str>, behaviours: &[&str]) -> PartnerSpec {
    PartnerSpec {
        partner_id: partner_id.into(),
        name: format!("{partner_id} feed"),
        department: "sports".into(),
        contact: String::new(),
        behaviours: behaviours.iter().map(|b| (*b).to_owned()).collect(),
        scopes: vec!["behaviours:submit".into()],
        kind: kind.map(|k| {
            healthpoints_exchange::domain::consent::PartnerKind::parse(k).expect("a kind")
        }),
    }
}

impl Fixture {
    pub(crate) async fn register(&self, spec: PartnerSpec) -> Partner {
        self.x
            .register_partner(&city_admin(), spec)
            .await
            .expect("the partner registers")
            .0
    }

    /// A resident known to identity under an ID number.
    pub(crate) fn person(&self, id_number: &str) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        self.peers
            .residents
            .lock()
            .unwrap()
            .insert(id_number.to_owned(), id.clone());
        id
    }
}

/// What a refusal says: the field of an invalid request, or why a caller was refused; a panic
/// naming what came instead.
pub(crate) fn refusal<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Err(ExchangeError::Forbidden(why)) => why,
        Err(ExchangeError::Invalid { field, .. }) => field,
        other => panic!("expected a refusal, got {other:?}"),
    }
}
