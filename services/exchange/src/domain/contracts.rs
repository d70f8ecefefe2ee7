//! The family-doctor contracts feed from the health commission: sign, change, end. Each record
//! updates the resident's contract in identity — which drives redemption routing on the
//! resident's next request — and a signing is reported to intake as the behaviour
//! `family_doctor.contract`, so it earns points under the catalogue. Idempotent per (partner,
//! record id): a resent record gets the answer it got the first time.

use super::{error::Result, records::Person};
use std::future::Future;

/// What a contract record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractAction {
    Sign,
    Change,
    End,
}

impl ContractAction {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "sign" => Some(Self::Sign),
            "change" => Some(Self::Change),
            "end" => Some(Self::End),
            _ => None,
        }
    }
}

/// One record as the health commission sends it.
#[derive(Debug, Clone)]
pub struct ContractRecord {
    pub record_id: String,
    pub person: Person,
    pub action: String,
    pub institution_code: String,
    pub institution_name: String,
    pub district: String,
    pub signed_on: String,
    pub valid_until: String,
}

/// A contract as identity keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub institution_code: String,
    pub institution_name: String,
    pub district: String,
    pub signed_on: String,
    pub valid_until: String,
}

/// identity's `SetFamilyDoctorContract`, seen from the exchange.
pub trait Contracts: Send + Sync {
    /// Applies the action; `Ok(Err(reason))` when identity refuses this record (unknown
    /// resident, a field it does not accept), `Err` when it cannot be asked.
    fn set_contract(
        &self,
        resident_id: &str,
        action: ContractAction,
        contract: &Contract,
    ) -> impl Future<Output = Result<std::result::Result<(), String>>> + Send;
}
