use std::sync::atomic::Ordering;

use chrono::Duration;
use healthpoints_auth::Principal;
use healthpoints_intake::domain::{
    catalogue::{Award, Catalogue, Level, Rule},
    error::IntakeError,
    model::OutcomeKind,
    rules::{ChangeKind, Draft, apply_drafts},
};

use crate::helpers::*;

#[tokio::test]
async fn a_published_version_judges_events_that_occur_after_it_and_the_old_one_those_before() {
    let f = intake("rules_versions").await;
    let store = f.intake.store();
    assert!(
        store
            .seed_rules(
                Catalogue::default_catalogue().rules(),
                noon() - Duration::days(1)
            )
            .await
            .unwrap()
    );
    // Seeding again (another replica starting) changes nothing.
    assert!(
        !store
            .seed_rules(
                Catalogue::default_catalogue().rules(),
                noon() - Duration::days(1)
            )
            .await
            .unwrap()
    );
    f.intake.reload_catalogue().await.unwrap();
    f.residents.add("r1", false, true);

    let admin = city_admin();
    let mut rule = f
        .intake
        .catalogue()
        .rule_for("diet.record", None, noon())
        .unwrap()
        .clone();
    rule.award = Award::Fixed(8);
    rule.caps.per_day = Some(8);
    let draft = f.intake.save_draft(&admin, rule).await.unwrap();
    let at = noon() + Duration::minutes(1);
    let published = f
        .intake
        .publish_drafts(&admin, &[draft.id], Some(at))
        .await
        .unwrap();
    assert_eq!(published[0].version, 2);

    // Reported after the publication, one event from before it and one from after.
    f.now.store(
        (noon() + Duration::minutes(2)).timestamp_micros(),
        Ordering::SeqCst,
    );
    let before = event(
        "self",
        "d1",
        "r1",
        "diet.record",
        noon() - Duration::days(1),
        1,
    );
    let after = event(
        "self",
        "d2",
        "r1",
        "diet.record",
        noon() + Duration::minutes(2),
        1,
    );
    let outcomes = f.intake.submit(vec![before, after]).await.unwrap();
    assert_eq!(
        outcomes
            .iter()
            .map(|o| (o.points, o.rule.clone().unwrap().1))
            .collect::<Vec<_>>(),
        vec![(5, 1), (8, 2)]
    );
    assert!(outcomes.iter().all(|o| o.kind == OutcomeKind::Awarded));

    // The changelog holds the default catalogue and the change, newest first, paginated.
    let newest = store.rule_changes(None, 1).await.unwrap();
    assert_eq!(newest[0].code, "diet.record");
    assert_eq!(newest[0].change, ChangeKind::Changed);
    assert!(newest[0].summary.contains("award"), "{}", newest[0].summary);
    let rest = store.rule_changes(Some(newest[0].id), 1_000).await.unwrap();
    assert_eq!(rest.len(), Catalogue::default_catalogue().rules().len());

    // A catalogue read back from the database judges the same.
    let reread = Catalogue::new(store.rules().await.unwrap());
    assert_eq!(
        reread
            .rule_for("diet.record", None, noon())
            .unwrap()
            .version,
        1
    );
    assert_eq!(reread.rule_for("diet.record", None, at).unwrap().version, 2);
}

#[tokio::test]
async fn publication_refuses_the_past_a_second_time_and_non_admins() {
    let f = intake("rules_refusals").await;
    let store = f.intake.store();
    store
        .seed_rules(
            Catalogue::default_catalogue().rules(),
            noon() - Duration::days(1),
        )
        .await
        .unwrap();
    f.intake.reload_catalogue().await.unwrap();
    let admin = city_admin();
    let rule = f
        .intake
        .catalogue()
        .rule_for("referral", None, noon())
        .unwrap()
        .clone();
    let draft = f.intake.save_draft(&admin, rule.clone()).await.unwrap();

    let err = f
        .intake
        .publish_drafts(&admin, &[draft.id], Some(noon() - Duration::days(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, IntakeError::Invalid { ref field, .. } if field == "effective_from"),
        "{err}"
    );
    let resident = Principal::Resident {
        resident_id: uuid::Uuid::now_v7(),
    };
    assert!(matches!(
        f.intake.publish_drafts(&resident, &[draft.id], None).await,
        Err(IntakeError::Forbidden(_))
    ));
    f.intake
        .publish_drafts(&admin, &[draft.id], None)
        .await
        .unwrap();
    assert!(matches!(
        f.intake.publish_drafts(&admin, &[draft.id], None).await,
        Err(IntakeError::Precondition(_))
    ));
    // Nothing was half-written: exactly one new version.
    let versions: Vec<u32> = store
        .rules()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.code == "referral")
        .map(|r| r.version)
        .collect();
    assert_eq!(versions, vec![1, 2]);
}

/// Who may change which rules: the city admin the city's, a district admin their own
/// district's, nobody else — when saving a draft and again when publishing it; and the draft
/// and the public changelog name who did it.
#[tokio::test]
async fn rules_are_changed_by_their_own_admins_and_the_changelog_names_them() {
    let f = intake("rules_rights").await;
    f.intake
        .store()
        .seed_rules(
            Catalogue::default_catalogue().rules(),
            noon() - Duration::days(1),
        )
        .await
        .unwrap();
    f.intake.reload_catalogue().await.unwrap();
    let city_rule = f
        .intake
        .catalogue()
        .rule_for("referral", None, noon())
        .unwrap()
        .clone();
    let qingpu_code = healthpoints_types::DistrictCode::parse("310118").unwrap();
    let mut qingpu_rule = city_rule.clone();
    qingpu_rule.district = Some(qingpu_code);
    let (city, qingpu, yangpu) = (
        city_admin(),
        district_admin("310118"),
        district_admin("310110"),
    );
    fn refusal<T: std::fmt::Debug>(r: Result<T, IntakeError>) -> String {
        match r {
            Err(IntakeError::Forbidden(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(
        refusal(f.intake.save_draft(&city, qingpu_rule.clone()).await),
        "district rules are managed by that district's admin"
    );
    for (admin, rule) in [(&qingpu, &city_rule), (&yangpu, &qingpu_rule)] {
        assert!(
            refusal(f.intake.save_draft(admin, rule.clone()).await)
                .contains("their own district's rules only")
        );
    }
    let someone = Principal::Resident {
        resident_id: uuid::Uuid::now_v7(),
    };
    refusal(f.intake.save_draft(&someone, city_rule.clone()).await);

    let draft = f.intake.save_draft(&qingpu, qingpu_rule).await.unwrap();
    let Principal::DistrictAdmin { staff_id, .. } = &qingpu else {
        unreachable!()
    };
    assert_eq!(draft.created_by, staff_id.to_string());
    refusal(f.intake.publish_drafts(&yangpu, &[draft.id], None).await);
    refusal(f.intake.publish_drafts(&city, &[draft.id], None).await);
    f.intake
        .publish_drafts(&qingpu, &[draft.id], None)
        .await
        .unwrap();
    let changes = f.intake.rule_changes(None, 100).await.unwrap();
    let change = changes
        .iter()
        .find(|c| c.district == Some(qingpu_code))
        .expect("the district's publication is in the changelog");
    assert_eq!(
        (change.code.as_str(), change.changed_by.as_str()),
        ("referral", staff_id.to_string().as_str())
    );
}

/// A fixture whose catalogue is the default one, seeded a day before [`noon`].
async fn seeded(label: &str) -> Fixture {
    let f = intake(label).await;
    f.intake
        .store()
        .seed_rules(
            Catalogue::default_catalogue().rules(),
            noon() - Duration::days(1),
        )
        .await
        .unwrap();
    f.intake.reload_catalogue().await.unwrap();
    f
}

fn rule(f: &Fixture, code: &str) -> Rule {
    f.intake
        .catalogue()
        .rule_for(code, None, noon())
        .unwrap()
        .clone()
}

/// A publication names 1 to 100 drafts, at most one per rule; it versions only the rules it
/// names (every other rule stays in force), may take effect a minute in the past (the admin's
/// clock) but no earlier, and never before a version still waiting to take effect.
#[tokio::test]
async fn a_publication_changes_only_the_rules_it_names_one_draft_each() {
    let f = seeded("rules_publication").await;
    let admin = city_admin();
    let in_force_before = f.intake.rules_in_force(noon(), None);
    assert!(
        in_force_before.iter().any(|r| r.code == "learning.article"),
        "{in_force_before:?}"
    );

    // How many drafts: none, or more than 100, is refused by field; 100 unknown ones are looked up.
    assert_eq!(
        invalid_field(f.intake.publish_drafts(&admin, &[], None).await),
        "draft_ids"
    );
    let unknown: Vec<uuid::Uuid> = (0..101).map(|_| uuid::Uuid::now_v7()).collect();
    assert_eq!(
        invalid_field(f.intake.publish_drafts(&admin, &unknown, None).await),
        "draft_ids"
    );
    assert!(matches!(
        f.intake.publish_drafts(&admin, &unknown[..100], None).await,
        Err(IntakeError::NotFound(_))
    ));

    // Two drafts of one rule: refused, nothing published.
    let mut cheaper = rule(&f, "diet.record");
    cheaper.award = Award::Fixed(4);
    let one = f.intake.save_draft(&admin, cheaper.clone()).await.unwrap();
    cheaper.award = Award::Fixed(3);
    let two = f.intake.save_draft(&admin, cheaper).await.unwrap();
    assert_eq!(
        invalid_field(
            f.intake
                .publish_drafts(&admin, &[one.id, two.id], None)
                .await
        ),
        "draft_ids"
    );
    assert_eq!(f.intake.rules_in_force(noon(), None), in_force_before);

    // Drafts of two rules together, taking effect exactly a minute ago (so: now).
    let mut referral = rule(&f, "referral");
    referral.title = "Refer a neighbour to a family doctor".into();
    let other = f.intake.save_draft(&admin, referral).await.unwrap();
    let published = f
        .intake
        .publish_drafts(
            &admin,
            &[one.id, other.id],
            Some(noon() - Duration::minutes(1)),
        )
        .await
        .unwrap();
    assert_eq!(
        published
            .iter()
            .map(|r| (r.code.as_str(), r.version, r.effective_from))
            .collect::<Vec<_>>(),
        vec![("diet.record", 2, noon()), ("referral", 2, noon())]
    );
    let in_force = f.intake.rules_in_force(noon(), None);
    assert_eq!(in_force.len(), in_force_before.len());
    for r in &in_force {
        let expected = if matches!(r.code.as_str(), "diet.record" | "referral") {
            2
        } else {
            1
        };
        assert_eq!((r.code.as_str(), r.version), (r.code.as_str(), expected));
    }
    let changes = f.intake.rule_changes(None, 2).await.unwrap();
    assert!(
        changes.iter().all(|c| c.change == ChangeKind::Changed),
        "{changes:?}"
    );

    // A version waiting to take effect tomorrow: a draft taking effect before it is refused.
    let mut later = rule(&f, "learning.article");
    later.award = Award::Fixed(6);
    let tomorrow = f.intake.save_draft(&admin, later.clone()).await.unwrap();
    f.intake
        .publish_drafts(&admin, &[tomorrow.id], Some(noon() + Duration::days(1)))
        .await
        .unwrap();
    let sooner = f.intake.save_draft(&admin, later).await.unwrap();
    assert!(matches!(
        f.intake
            .publish_drafts(&admin, &[sooner.id], Some(noon() + Duration::hours(1)))
            .await,
        Err(IntakeError::Precondition(why)) if why.contains("takes effect at")
    ));
}

/// A district's own rule (a code the city has no rule for) awards district points: saved
/// with level `district` it is published as a new rule; with level `city` it is refused.
#[tokio::test]
async fn a_districts_own_rule_awards_district_points_and_is_created() {
    let f = seeded("rules_district_own").await;
    let qingpu = district_admin("310118");
    let mut own = rule(&f, "learning.article");
    own.code = "qingpu.tai_chi".into();
    own.title = "Tai chi in a Qingpu park".into();
    own.district = Some(healthpoints_types::DistrictCode::parse("310118").unwrap());
    own.level = Level::City;
    assert_eq!(
        invalid_field(f.intake.save_draft(&qingpu, own.clone()).await),
        "rule.level"
    );
    own.level = Level::District;
    let draft = f.intake.save_draft(&qingpu, own).await.unwrap();
    f.intake
        .publish_drafts(&qingpu, &[draft.id], None)
        .await
        .unwrap();
    let change = f.intake.rule_changes(None, 1).await.unwrap().remove(0);
    assert_eq!(
        (change.code.as_str(), change.version, change.change),
        ("qingpu.tai_chi", 1, ChangeKind::Created)
    );
    assert_eq!(change.summary, "new rule \"Tai chi in a Qingpu park\"");
}

/// The catalogue `apply_drafts` returns is the one the drafts make: the open version ends where
/// the new one begins, so exactly one is in force on either side. A draft of a rule whose last
/// version is in force but already has an end (a catalogue may say when a rule stops) is a
/// change, not a new rule.
#[test]
fn applied_drafts_end_the_version_they_replace() {
    let at = noon() + Duration::hours(1);
    let mut ending = Catalogue::default_catalogue()
        .rule_for("referral", None, noon())
        .unwrap()
        .clone();
    ending.effective_until = Some(at + Duration::days(30));
    let catalogue = Catalogue::new(
        Catalogue::default_catalogue()
            .rules()
            .iter()
            .filter(|r| r.code != "referral")
            .cloned()
            .chain([ending.clone()])
            .collect(),
    );
    let draft = |rule: &Rule| Draft {
        id: uuid::Uuid::now_v7(),
        rule: rule.clone(),
        created_by: "admin".into(),
        created_at: noon(),
        published_version: None,
    };
    let diet = catalogue
        .rule_for("diet.record", None, noon())
        .unwrap()
        .clone();
    let (next, publications) = apply_drafts(
        &catalogue,
        &[draft(&diet), draft(&ending)],
        at,
        "admin",
        noon(),
    )
    .unwrap();
    let versions = |code: &str| {
        next.rules()
            .iter()
            .filter(|r| r.code == code)
            .map(|r| (r.version, r.effective_from, r.effective_until))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        versions("diet.record"),
        vec![(1, diet.effective_from, Some(at)), (2, at, None)]
    );
    for t in [at - Duration::microseconds(1), at] {
        assert_eq!(
            next.in_force(t, None)
                .iter()
                .filter(|r| r.code == "diet.record")
                .count(),
            1
        );
    }
    assert_eq!(
        publications
            .iter()
            .map(|p| (p.rule.code.as_str(), p.change.change, p.replaces))
            .collect::<Vec<_>>(),
        vec![
            ("diet.record", ChangeKind::Changed, Some(1)),
            ("referral", ChangeKind::Changed, None),
        ]
    );
}

#[test]
fn change_kinds_read_back_as_written() {
    for kind in [
        ChangeKind::Created,
        ChangeKind::Changed,
        ChangeKind::Retired,
    ] {
        assert_eq!(ChangeKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(ChangeKind::parse("deleted"), None);
}
