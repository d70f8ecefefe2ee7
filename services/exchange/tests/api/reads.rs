//! What the exchange lets out: de-identified statistics (who may read which district, the
//! month, the books), the points summary under the resident's consent, and the access log as
//! an admin reads it — every read itself logged.

use chrono::{Duration, Utc};
use healthpoints_auth::Principal;
use healthpoints_exchange::domain::{
    audit::AccessQuery,
    consent::Category,
    error::ExchangeError,
    statistics::{BehaviourCategory, BookAwards, BookMovements, Cell, CohortAwards},
};
use healthpoints_types::{Book, DistrictCode};

use crate::helpers::*;

fn district(code: &str) -> DistrictCode {
    DistrictCode::parse(code).unwrap()
}

fn district_admin(code: &str) -> Principal {
    Principal::DistrictAdmin {
        staff_id: uuid::Uuid::now_v7(),
        district: district(code),
    }
}

fn cohort(code: &str, category: BehaviourCategory, residents: u64, points: u64) -> CohortAwards {
    CohortAwards {
        book: Book::City,
        district: Some(district(code)),
        category,
        age_band: "60-69".into(),
        residence_type: "registered".into(),
        residents,
        points,
    }
}

/// (book, district, category, participants, suppressed) of each cell, in order.
type Shown = (
    Book,
    Option<DistrictCode>,
    Option<BehaviourCategory>,
    Option<u64>,
    bool,
);

fn shown(cells: &[Cell]) -> Vec<Shown> {
    cells
        .iter()
        .map(|c| (c.book, c.district, c.category, c.participants, c.suppressed))
        .collect()
}

/// The city admin sees every district's cohorts and each book with anything in it; a district
/// admin their own district only (their book, no city total); partners with the scope what
/// they ask for; nobody else. Bad months and districts are refused by field; no month means
/// this month in Shanghai. Each read is in the access log, about no resident.
#[tokio::test]
async fn statistics_are_read_by_admins_and_scoped_partners_per_district() {
    let f = fixture("exchange_statistics").await;
    let (qingpu, yangpu) = (district("310118"), district("310110"));
    *f.peers.cohorts.lock().unwrap() = vec![
        cohort("310118", BehaviourCategory::Lifestyle, 12, 600),
        cohort("310118", BehaviourCategory::Learning, 15, 300),
        cohort("310110", BehaviourCategory::Learning, 20, 900),
    ];
    *f.peers.book_awards.lock().unwrap() = vec![BookAwards {
        book: Book::City,
        residents: 47,
        points: 1_800,
    }];
    *f.peers.movements.lock().unwrap() = [
        (
            Book::City,
            BookMovements {
                issued: 1_800,
                redeemed: 200,
                outstanding: 1_600,
                holders: 50,
            },
        ),
        (
            Book::District(qingpu),
            BookMovements {
                holders: 3,
                outstanding: 40,
                ..BookMovements::default()
            },
        ),
    ]
    .into();
    let read = |caller: Principal, district: &'static str, month: &'static str| {
        let f = &f;
        async move { f.x.statistics(&caller, district, month).await }
    };

    let all = read(city_admin(), "", "2026-11").await.unwrap();
    assert_eq!(
        shown(&all),
        vec![
            (
                Book::City,
                Some(yangpu),
                Some(BehaviourCategory::Learning),
                Some(20),
                false
            ),
            (
                Book::City,
                Some(qingpu),
                Some(BehaviourCategory::Learning),
                Some(15),
                false
            ),
            (
                Book::City,
                Some(qingpu),
                Some(BehaviourCategory::Lifestyle),
                Some(12),
                false
            ),
            (Book::City, None, None, Some(47), false),
            // Qingpu's book moved nothing this month, but three residents hold its points.
            (Book::District(qingpu), Some(qingpu), None, None, true),
        ]
    );
    let city_total = &all[3];
    assert_eq!(
        (
            city_total.points_issued,
            city_total.points_redeemed,
            city_total.liability
        ),
        (Some(1_800), Some(200), Some(1_600))
    );
    assert!(all.iter().all(|c| c.month == "2026-11"));

    let own = read(district_admin("310118"), "", "2026-11").await.unwrap();
    assert_eq!(
        shown(&own),
        vec![
            (
                Book::City,
                Some(qingpu),
                Some(BehaviourCategory::Learning),
                Some(15),
                false
            ),
            (
                Book::City,
                Some(qingpu),
                Some(BehaviourCategory::Lifestyle),
                Some(12),
                false
            ),
            (Book::District(qingpu), Some(qingpu), None, None, true),
        ]
    );
    assert_eq!(
        read(district_admin("310118"), "310118", "2026-11")
            .await
            .unwrap(),
        own
    );
    assert_eq!(
        refusal(read(district_admin("310118"), "310110", "2026-11").await),
        "district admins see their own district's statistics only"
    );

    let office = f
        .register(department("statistics-office", &[], &["statistics:read"]))
        .await;
    let theirs = read(partner_client(&office), "310110", "2026-10")
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    let sports = f
        .register(department(
            "sports",
            &["steps.daily"],
            &["behaviours:submit"],
        ))
        .await;
    assert_eq!(
        refusal(read(partner_client(&sports), "", "2026-11").await),
        "missing scope statistics:read"
    );
    assert!(
        refusal(read(resident(&uuid::Uuid::now_v7().to_string()), "", "2026-11").await)
            .starts_with("statistics are for admins")
    );
    assert_eq!(refusal(read(city_admin(), "", "2026-13").await), "month");
    assert_eq!(
        refusal(read(city_admin(), "3101", "2026-11").await),
        "district"
    );

    // No month: this month in Shanghai (read either side of the call, in case it turns).
    let months: Vec<String> = [Utc::now(), Utc::now() + Duration::seconds(5)]
        .iter()
        .map(|t| (*t + Duration::hours(8)).format("%Y-%m").to_string())
        .collect();
    read(city_admin(), "", "").await.unwrap();
    let asked = f.peers.asked.lock().unwrap().clone();
    assert!(months.contains(&asked.last().unwrap().0), "{asked:?}");
    assert_eq!(
        asked[..4],
        [
            ("2026-11".to_owned(), None),
            ("2026-11".to_owned(), Some(qingpu)),
            ("2026-11".to_owned(), Some(qingpu)),
            ("2026-10".to_owned(), Some(yangpu)),
        ]
    );

    // Five reads answered, five logged; refusals are not reads.
    let (log, _) =
        f.x.access_log(&city_admin(), AccessQuery::default())
            .await
            .unwrap();
    let reads: Vec<&str> = log
        .iter()
        .filter(|e| e.action == "read_statistics")
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(reads.len(), 5, "{reads:?}");
    assert!(reads.contains(&"de-identified statistics of 2026-10, district 310110"));
    assert!(reads.contains(&"de-identified statistics of 2026-11, every district"));
    assert!(log.iter().all(|e| e.resident_id.is_none()));
}

/// An insurer reads a resident's last twelve months only with the scope and while the
/// resident's consent to it is active; each read is in that resident's access log.
#[tokio::test]
async fn the_points_summary_follows_consent_and_is_logged() {
    let f = fixture("exchange_points_summary").await;
    let insurer = f
        .register(healthpoints_exchange::domain::partners::PartnerSpec {
            scopes: vec!["points-summary:read".into()],
            ..spec("insurer", Some("commercial"), &[])
        })
        .await;
    let wang = f.person("310118196801010012");
    let months: Vec<(String, u64)> = (0..14)
        .map(|i| (format!("m{i:02}"), [950, 300, 299][i % 3]))
        .collect();
    f.peers.monthly.lock().unwrap().insert(wang.clone(), months);
    let me = resident(&wang);
    let caller = partner_client(&insurer);

    assert!(
        refusal(f.x.points_summary(&caller, &wang).await)
            .starts_with("the resident has not consented")
    );
    assert_eq!(
        refusal(f.x.points_summary(&caller, "wang").await),
        "resident_id"
    );
    f.x.grant_consent(
        &me,
        "",
        "insurer",
        Some(Category::PointsSummary),
        "premium discount",
    )
    .await
    .unwrap();
    let summary = f.x.points_summary(&caller, &wang).await.unwrap();
    assert_eq!(summary.len(), 12);
    assert_eq!(
        summary[..3]
            .iter()
            .map(|m| (m.month.as_str(), m.points_earned, m.activity_level))
            .collect::<Vec<_>>(),
        vec![
            ("m00", 950, "high"),
            ("m01", 300, "medium"),
            ("m02", 299, "low")
        ]
    );
    let office = f
        .register(department("statistics-office", &[], &["statistics:read"]))
        .await;
    assert_eq!(
        refusal(f.x.points_summary(&partner_client(&office), &wang).await),
        "missing scope points-summary:read"
    );
    f.x.revoke_consent(&me, "", "insurer", Some(Category::PointsSummary))
        .await
        .unwrap();
    assert!(
        refusal(f.x.points_summary(&caller, &wang).await)
            .starts_with("the resident has not consented")
    );

    let (log, _) = f.x.access_log(&me, AccessQuery::default()).await.unwrap();
    assert_eq!(
        log.iter()
            .map(|e| (e.actor.as_str(), e.action.as_str()))
            .collect::<Vec<_>>(),
        vec![("insurer", "read_points_summary")]
    );
}

/// The city admin reads the log by resident, by partner or whole, within `[from, to)`, a page
/// at a time, newest first; a district admin may not read it; a bad cursor is refused by field.
#[tokio::test]
async fn admins_page_through_the_access_log_by_resident_partner_and_period() {
    let f = fixture("exchange_access_log").await;
    let office = f
        .register(department("statistics-office", &[], &["statistics:read"]))
        .await;
    for _ in 0..5 {
        f.x.statistics(&partner_client(&office), "", "2026-11")
            .await
            .unwrap();
    }
    let admin = city_admin();
    let query = |page_size, cursor| AccessQuery {
        partner_id: Some("statistics-office"),
        page_size,
        cursor,
        ..AccessQuery::default()
    };
    let (first, next) = f.x.access_log(&admin, query(2, "")).await.unwrap();
    assert_eq!(first.len(), 2);
    let next = next.expect("more pages");
    let (second, _) = f.x.access_log(&admin, query(2, &next)).await.unwrap();
    let (rest, _) = f.x.access_log(&admin, query(0, &next)).await.unwrap();
    assert_eq!(rest.len(), 3);
    assert!(first[1].at >= second[0].at && first[1].entry_id > second[0].entry_id);
    assert!(
        first
            .iter()
            .chain(&rest)
            .all(|e| e.partner_id.as_deref() == Some("statistics-office"))
    );

    let (nobody, _) =
        f.x.access_log(
            &admin,
            AccessQuery {
                partner_id: Some("insurer"),
                ..AccessQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(nobody.is_empty());
    let all = |from, to| AccessQuery {
        from,
        to,
        ..AccessQuery::default()
    };
    let (now, later) = (Utc::now(), Utc::now() + Duration::hours(1));
    let (past, _) =
        f.x.access_log(&admin, all(None, Some(now - Duration::hours(1))))
            .await
            .unwrap();
    assert!(past.is_empty());
    let (in_period, _) =
        f.x.access_log(&admin, all(Some(now - Duration::hours(1)), Some(later)))
            .await
            .unwrap();
    assert_eq!(in_period.len(), 5);
    let (future, _) =
        f.x.access_log(&admin, all(Some(later), None))
            .await
            .unwrap();
    assert!(future.is_empty());

    assert!(matches!(
        f.x.access_log(&district_admin("310118"), AccessQuery::default())
            .await,
        Err(ExchangeError::Forbidden(_))
    ));
    assert_eq!(
        refusal(f.x.access_log(&admin, query(2, "not-a-cursor")).await),
        "page.cursor"
    );
}
