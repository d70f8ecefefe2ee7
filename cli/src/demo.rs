//! `healthpoints up --demo`: a small, realistic world to click through. Merchants with a
//! catalogue in every running mall, demo residents with family-doctor contracts in different
//! districts and some points in the city and district books, and the logins to try it all.
//!
//! It goes through the services' own contracts with real tokens (the bootstrap admin's, then
//! each merchant operator's), like an admin console would. Running it again changes nothing:
//! a mall that already has merchants and a resident already registered are left as they are.

use anyhow::Context as _;
use chrono::{Datelike, Utc};
use healthpoints_grpc::client::{GrpcClientConfig, PeerChannel};
use healthpoints_proto::{
    identity::v1::{self as ipb, identity_service_client::IdentityServiceClient},
    intake::v1::{self as inpb, intake_service_client::IntakeServiceClient},
    mall::v1::{self as pb, mall_service_client::MallServiceClient},
};
use healthpoints_types::{DistrictCode, MallId};
use tonic::Request;

use crate::mesh::RunningMesh;

/// The password of every demo login.
pub const DEMO_PASSWORD: &str = "Demo-pass-2026";

fn with_token<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    if let Ok(v) = format!("Bearer {token}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

fn channel(addr: std::net::SocketAddr) -> anyhow::Result<PeerChannel> {
    Ok(healthpoints_grpc::client::connect(&GrpcClientConfig::new(
        format!("http://{addr}"),
    ))?)
}

async fn login(
    identity: &mut IdentityServiceClient<PeerChannel>,
    user: &str,
    password: &str,
) -> anyhow::Result<String> {
    let r = identity
        .login(ipb::LoginRequest {
            login: user.to_owned(),
            password: password.to_owned(),
            client_address: "127.0.0.1".into(),
        })
        .await
        .with_context(|| format!("logging in as {user}"))?
        .into_inner();
    Ok(r.tokens.context("login answered no tokens")?.access_token)
}

/// A valid ID number (check character computed) for a district, birth date and sequence.
fn id_number(district: &str, birth: &str, seq: u32) -> String {
    let first17 = format!("{district}{birth}{seq:03}");
    healthpoints_types::id_number::complete(&first17).unwrap_or_else(|| format!("{first17}X"))
}

struct DemoResident {
    name: &'static str,
    phone: &'static str,
    birth: &'static str,
    residence: &'static str,
    /// The family-doctor contract's district, if any.
    contract: Option<&'static str>,
}

const RESIDENTS: [DemoResident; 3] = [
    DemoResident {
        name: "王小明",
        phone: "13900000001",
        birth: "19880315",
        residence: "310118",
        contract: Some("310118"),
    },
    DemoResident {
        name: "李秀英",
        phone: "13900000002",
        birth: "19560720",
        residence: "310110",
        contract: Some("310110"),
    },
    DemoResident {
        name: "张伟",
        phone: "13900000003",
        birth: "19950101",
        residence: "310110",
        contract: None,
    },
];

/// A merchant and its catalogue: (name, [(title, category, points, stock, min age)]).
type Catalogue = (
    &'static str,
    &'static [(&'static str, i32, u64, Option<u64>, Option<u32>)],
);

const SERVICE: i32 = pb::ProductCategory::HealthService as i32;
const PRODUCT: i32 = pb::ProductCategory::HealthProduct as i32;

fn catalogue(mall: MallId) -> Vec<Catalogue> {
    match mall {
        MallId::City => vec![
            (
                "Kangjian Pharmacy",
                &[
                    ("Blood pressure monitor", PRODUCT, 9_900, Some(20), None),
                    ("Pedometer", PRODUCT, 2_900, Some(50), None),
                ],
            ),
            (
                "Riverside Sports Centre",
                &[("Swimming session", SERVICE, 1_500, None, None)],
            ),
        ],
        MallId::District(_) => vec![(
            "Community Health Station",
            &[
                ("Dental check-up", SERVICE, 3_000, None, None),
                ("Elderly health check", SERVICE, 1_000, None, Some(60)),
                ("Yoga mat", PRODUCT, 1_200, Some(30), None),
            ],
        )],
    }
}

/// Seeds the demo world and returns what to print.
pub async fn seed(mesh: &RunningMesh, admin: (&str, &str)) -> anyhow::Result<Vec<String>> {
    let mut identity = IdentityServiceClient::new(channel(mesh.identity_addr)?);
    let mut intake = IntakeServiceClient::new(channel(mesh.intake_addr)?);
    let admin_token = login(&mut identity, admin.0, admin.1).await?;
    let mut lines = vec![format!("  city admin:      {} / (as given)", admin.0)];

    // A district official of each district with a mall, for the dashboard of their district.
    for mall in mesh.mall_ids() {
        let MallId::District(district) = mall else {
            continue;
        };
        // And a counter at one of its health stations, for residents without a smartphone.
        let official = format!("official-{district}");
        let station = format!("station-{district}");
        for (username, role, institution, label) in [
            (
                &official,
                ipb::StaffRole::DistrictAdmin,
                "",
                "district official",
            ),
            (
                &station,
                ipb::StaffRole::StationStaff,
                "HS-01",
                "health-station counter",
            ),
        ] {
            let created = identity
                .create_staff(with_token(
                    &admin_token,
                    ipb::CreateStaffRequest {
                        username: username.clone(),
                        password: DEMO_PASSWORD.into(),
                        role: role as i32,
                        district: district.to_string(),
                        institution_code: institution.into(),
                        ..Default::default()
                    },
                ))
                .await;
            match created {
                Ok(_) => {}
                Err(s) if s.code() == tonic::Code::AlreadyExists => {}
                Err(s) => return Err(s).with_context(|| format!("creating {label} {username}")),
            }
            lines.push(format!("  {label} ({}): {username}", district.name()));
        }
    }

    for mall in mesh.mall_ids() {
        let addr = mesh
            .mall_addr(&mall.to_string())
            .context("a running mall has an address")?;
        let mut client = MallServiceClient::new(channel(addr)?);
        let existing = client
            .list_merchants(pb::ListMerchantsRequest { page: None })
            .await?
            .into_inner()
            .merchants;
        for (i, (name, products)) in catalogue(mall).into_iter().enumerate() {
            let username = format!("shop-{mall}-{}", i + 1);
            if existing.iter().any(|m| m.name == name) {
                lines.push(format!("  merchant ({mall}): {username}"));
                continue;
            }
            let merchant = client
                .admit_merchant(with_token(
                    &admin_token,
                    pb::AdmitMerchantRequest {
                        name: name.to_owned(),
                        licence_no: format!("91310000DEMO{mall}{i}"),
                        contact: "021-6000 0000".into(),
                        status: pb::MerchantStatus::Active as i32,
                    },
                ))
                .await
                .with_context(|| format!("admitting {name}"))?
                .into_inner()
                .merchant
                .context("no merchant")?;
            identity
                .create_staff(with_token(
                    &admin_token,
                    ipb::CreateStaffRequest {
                        username: username.clone(),
                        password: DEMO_PASSWORD.into(),
                        role: ipb::StaffRole::MerchantOperator as i32,
                        district: String::new(),
                        merchant_id: merchant.merchant_id.clone(),
                        mall: mall.to_string(),
                        institution_code: String::new(),
                    },
                ))
                .await
                .with_context(|| format!("creating operator {username}"))?;
            let operator = login(&mut identity, &username, DEMO_PASSWORD).await?;
            for (title, category, points, stock, min_age) in products {
                client
                    .create_product(with_token(
                        &operator,
                        pb::CreateProductRequest {
                            product: Some(pb::Product {
                                title: (*title).to_owned(),
                                description: format!("{title} from {name}"),
                                category: *category,
                                price_points: *points,
                                stock: *stock,
                                per_resident_limit: Some(2),
                                limit_period: "month".into(),
                                min_age: *min_age,
                                status: pb::ProductStatus::Active as i32,
                                ..pb::Product::default()
                            }),
                        },
                    ))
                    .await
                    .with_context(|| format!("adding {title}"))?;
            }
            lines.push(format!("  merchant ({mall}): {username}"));
        }
    }

    // Dates from today in Shanghai, so the demo works whenever it runs: a contract signed a
    // month ago, valid for two years.
    let today = (Utc::now() + chrono::Duration::hours(8)).date_naive();
    let month = format!("{:04}-{:02}", today.year(), today.month());
    let signed_on = today - chrono::Duration::days(30);
    let valid_until = signed_on + chrono::Months::new(24) - chrono::Duration::days(1);
    for (seq, r) in RESIDENTS.iter().enumerate() {
        let registered = identity
            .register_resident(ipb::RegisterResidentRequest {
                name: r.name.into(),
                id_number: id_number(r.residence, r.birth, u32::try_from(seq).unwrap_or(0) + 11),
                phone: r.phone.into(),
                password: DEMO_PASSWORD.into(),
                residence_district: r.residence.into(),
                residence_type: ipb::ResidenceType::Registered as i32,
            })
            .await;
        let resident_id = match registered {
            Ok(ok) => ok.into_inner().resident_id,
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                lines.push(format!("  resident:        {} ({})", r.phone, r.name));
                continue;
            }
            Err(s) => return Err(s).context("registering a demo resident"),
        };
        if let Some(district) = r.contract {
            let d = DistrictCode::parse(district).map_err(|e| anyhow::anyhow!(e.0))?;
            identity
                .set_family_doctor_contract(with_token(
                    &admin_token,
                    ipb::SetFamilyDoctorContractRequest {
                        resident_id: resident_id.clone(),
                        action: ipb::ContractAction::Sign as i32,
                        contract: Some(ipb::FamilyDoctorContract {
                            institution_code: format!("{district}001"),
                            institution_name: format!("{} Community Health Centre", d.name()),
                            district: district.into(),
                            signed_on: signed_on.to_string(),
                            valid_until: valid_until.to_string(),
                        }),
                    },
                ))
                .await
                .context("signing a demo contract")?;
        }
        // Points to spend: a city honour, and district points where they live (the resident
        // without a contract is served by the city mall and can jump to Yangpu's).
        for (district, points) in [(String::new(), 10_000), (r.residence.to_owned(), 5_000)] {
            intake
                .award_honour(with_token(
                    &admin_token,
                    inpb::AwardHonourRequest {
                        resident_id: resident_id.clone(),
                        honour: "demo-welcome".into(),
                        period: month.clone(),
                        district,
                        points,
                        citation: "welcome to the health points demo".into(),
                    },
                ))
                .await
                .context("granting demo points")?;
        }
        lines.push(format!(
            "  resident:        {} ({}, {})",
            r.phone,
            r.name,
            match r.contract {
                Some(d) => format!(
                    "family doctor in {}",
                    DistrictCode::parse(d).map(|d| d.name()).unwrap_or_default()
                ),
                None => "no family doctor".to_owned(),
            }
        ));
    }
    lines.push(format!("  every demo password: {DEMO_PASSWORD}"));
    Ok(lines)
}
