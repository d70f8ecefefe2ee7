//! The catalogue and the judge: caps at Asia/Shanghai period boundaries, version selection by
//! occurrence time, steps counted once per day (the maximum across sources), refusals, and
//! district tightenings that may never loosen a city rule.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use healthpoints_intake::domain::{
    catalogue::{Award, Caps, Catalogue, Category, Level, Rule},
    judge::{Cut, Refusal, Report, Tally, Verdict},
};
use healthpoints_types::DistrictCode;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn rule(code: &str, points: u64, caps: Caps) -> Rule {
    Rule {
        code: code.into(),
        version: 1,
        category: Category::Lifestyle,
        title: "test rule".into(),
        description: String::new(),
        level: Level::City,
        district: None,
        award: Award::Fixed(points),
        caps,
        unit: "count".into(),
        max_quantity: Some(1),
        daily_total: false,
        sources: vec!["self".into(), "app".into()],
        evidence: Vec::new(),
        effective_from: at("2026-01-01T00:00:00+08:00"),
        effective_until: None,
    }
}

fn report<'a>(
    source: &'a str,
    when: &str,
    quantity: u64,
    attributes: &'a HashMap<String, String>,
) -> Report<'a> {
    Report {
        source_id: source,
        occurred_at: at(when),
        quantity,
        attributes,
    }
}

/// Awards `rule` at `first` (filling its cap), then judges an event at `second`.
fn second_event(rule: &Rule, first: &str, second: &str) -> Verdict {
    let none = HashMap::new();
    let mut tally = Tally::default();
    let v = tally.judge_and_record("r1", rule, report("self", first, 1, &none));
    assert!(matches!(v, Verdict::Award { .. }), "{v:?}");
    tally.judge_and_record("r1", rule, report("self", second, 1, &none))
}

#[test]
fn the_default_catalogue_covers_every_behaviour_of_the_programme() {
    let catalogue = Catalogue::default_catalogue();
    let codes: Vec<&str> = catalogue.rules().iter().map(|r| r.code.as_str()).collect();
    for code in [
        "learning.checkin",
        "learning.article",
        "learning.quiz",
        "steps.daily",
        "exercise.session",
        "sleep.healthy",
        "diet.record",
        "smoke_free.milestone",
        "family_doctor.contract",
        "referral",
        "vaccination",
        "elderly.health_check",
        "chronic.follow_up",
        "screening",
        "prenatal.check",
        "student.check",
        "tcm.preventive_care",
        "health_station.self_test",
        "self_management.group",
        "community.lecture",
        "blood.donation",
        "volunteering",
        "pest_control",
        "patriotic_health.campaign",
    ] {
        assert!(codes.contains(&code), "missing {code}");
    }
    for category in [
        Category::Learning,
        Category::Lifestyle,
        Category::PublicHealthService,
        Category::PublicWelfare,
    ] {
        assert!(catalogue.rules().iter().any(|r| r.category == category));
    }
    assert!(catalogue.rules().iter().any(|r| r.level == Level::District));
    // Steps: 10 points at 5,000, at most 30 a day.
    let steps = catalogue
        .rule_for("steps.daily", None, at("2026-11-22T12:00:00Z"))
        .unwrap();
    assert_eq!(steps.award.points(5_000), Some(10));
    assert_eq!(steps.award.points(4_999), None);
    assert_eq!(steps.caps.per_day, Some(30));
}

#[test]
fn a_bad_catalogue_is_refused_naming_the_rule_and_field() {
    let text = Catalogue::default_catalogue_text().replace(
        "code = \"vaccination\"\ncategory = \"public_health_service\"\ntitle = \"Vaccination\"",
        "code = \"vaccination\"\ncategory = \"public_health_service\"\ntitle = \"\"",
    );
    let err = Catalogue::parse(&text).unwrap_err();
    assert!(err.contains("rule vaccination: title"), "{err}");
    let err = Catalogue::parse("[[rule]]\ncode = 1").unwrap_err();
    assert!(err.contains("code"), "{err}");
}

#[test]
fn the_day_cap_resets_at_local_midnight() {
    let daily = rule(
        "t.day",
        10,
        Caps {
            per_day: Some(10),
            ..Caps::default()
        },
    );
    let capped = Verdict::Capped(Cut {
        cap: "per_day",
        points_cut: 10,
    });
    // 23:59:59 and 00:00:00 in Shanghai are different days (15:59:59Z / 16:00:00Z).
    assert_eq!(
        second_event(
            &daily,
            "2026-11-22T08:00:00+08:00",
            "2026-11-22T23:59:59+08:00"
        ),
        capped
    );
    assert_eq!(
        second_event(
            &daily,
            "2026-11-22T23:59:59+08:00",
            "2026-11-23T00:00:00+08:00"
        ),
        Verdict::Award {
            points: 10,
            cut: None
        }
    );
    // The same UTC day, but two Shanghai days.
    assert_eq!(
        second_event(&daily, "2026-11-22T15:59:59Z", "2026-11-22T16:00:00Z"),
        Verdict::Award {
            points: 10,
            cut: None
        }
    );
}

#[test]
fn week_month_and_year_caps_reset_at_their_local_boundaries() {
    let weekly = rule(
        "t.week",
        10,
        Caps {
            per_week: Some(10),
            ..Caps::default()
        },
    );
    // Sunday 23:59:59 → Monday 00:00:00 local: a new ISO week.
    assert_eq!(
        second_event(
            &weekly,
            "2026-11-16T09:00:00+08:00",
            "2026-11-22T23:59:59+08:00"
        ),
        Verdict::Capped(Cut {
            cap: "per_week",
            points_cut: 10
        })
    );
    assert_eq!(
        second_event(
            &weekly,
            "2026-11-22T23:59:59+08:00",
            "2026-11-23T00:00:00+08:00"
        ),
        Verdict::Award {
            points: 10,
            cut: None
        }
    );
    let monthly = rule(
        "t.month",
        10,
        Caps {
            per_month: Some(10),
            ..Caps::default()
        },
    );
    assert_eq!(
        second_event(
            &monthly,
            "2026-11-01T00:00:00+08:00",
            "2026-11-30T23:59:59+08:00"
        ),
        Verdict::Capped(Cut {
            cap: "per_month",
            points_cut: 10
        })
    );
    assert_eq!(
        second_event(
            &monthly,
            "2026-11-30T23:59:59+08:00",
            "2026-12-01T00:00:00+08:00"
        ),
        Verdict::Award {
            points: 10,
            cut: None
        }
    );
    let yearly = rule(
        "t.year",
        10,
        Caps {
            per_year: Some(10),
            ..Caps::default()
        },
    );
    assert_eq!(
        second_event(
            &yearly,
            "2026-01-01T00:00:00+08:00",
            "2026-12-31T23:59:59+08:00"
        ),
        Verdict::Capped(Cut {
            cap: "per_year",
            points_cut: 10
        })
    );
    assert_eq!(
        second_event(
            &yearly,
            "2026-12-31T23:59:59+08:00",
            "2027-01-01T00:00:00+08:00"
        ),
        Verdict::Award {
            points: 10,
            cut: None
        }
    );
    let once = rule(
        "t.life",
        10,
        Caps {
            per_lifetime: Some(10),
            ..Caps::default()
        },
    );
    assert_eq!(
        second_event(
            &once,
            "2026-01-01T00:00:00+08:00",
            "2031-06-01T00:00:00+08:00"
        ),
        Verdict::Capped(Cut {
            cap: "per_lifetime",
            points_cut: 10
        })
    );
}

#[test]
fn a_cap_cuts_an_award_to_what_is_left_under_the_tightest_limit() {
    let r = rule(
        "t.partial",
        30,
        Caps {
            per_day: Some(50),
            per_week: Some(40),
            ..Caps::default()
        },
    );
    // First 30 of the week's 40; the next 30 is cut to 10 by the week, not the day.
    assert_eq!(
        second_event(&r, "2026-11-23T08:00:00+08:00", "2026-11-24T08:00:00+08:00"),
        Verdict::Award {
            points: 10,
            cut: Some(Cut {
                cap: "per_week",
                points_cut: 20
            })
        }
    );
}

#[test]
fn the_minimum_interval_holds_in_both_directions_of_time() {
    let r = rule(
        "t.gap",
        100,
        Caps {
            min_interval_seconds: Some(14 * 86_400),
            ..Caps::default()
        },
    );
    let cut = Verdict::Capped(Cut {
        cap: "min_interval",
        points_cut: 100,
    });
    assert_eq!(
        second_event(&r, "2026-11-01T08:00:00+08:00", "2026-11-14T08:00:00+08:00"),
        cut
    );
    // A late report of an earlier event is measured against the award after it.
    assert_eq!(
        second_event(&r, "2026-11-14T08:00:00+08:00", "2026-11-01T08:00:00+08:00"),
        cut
    );
    assert_eq!(
        second_event(&r, "2026-11-01T08:00:00+08:00", "2026-11-15T08:00:00+08:00"),
        Verdict::Award {
            points: 100,
            cut: None
        }
    );
}

#[test]
fn steps_count_once_a_day_the_maximum_across_sources_topping_up_the_difference() {
    let catalogue = Catalogue::default_catalogue();
    let steps = catalogue
        .rule_for("steps.daily", None, at("2026-11-22T12:00:00Z"))
        .unwrap();
    let none = HashMap::new();
    let mut tally = Tally::default();
    let mut send = |source: &str, when: &str, n: u64| {
        tally.judge_and_record("r1", steps, report(source, when, n, &none))
    };
    // A watch reports 6,000 (10 points), the phone 8,500 (20: tops up 10), the watch again
    // 7,000 (no more), the phone 12,000 (30: tops up 10). Total 30, not 10+20+…
    assert_eq!(
        send("wearables", "2026-11-22T12:00:00+08:00", 6_000),
        Verdict::Award {
            points: 10,
            cut: None
        }
    );
    assert_eq!(
        send("sports", "2026-11-22T18:00:00+08:00", 8_500),
        Verdict::Award {
            points: 10,
            cut: None
        }
    );
    assert_eq!(
        send("wearables", "2026-11-22T20:00:00+08:00", 7_000),
        Verdict::Capped(Cut {
            cap: "day_best",
            points_cut: 10
        })
    );
    assert_eq!(
        send("sports", "2026-11-22T23:59:59+08:00", 12_000),
        Verdict::Award {
            points: 10,
            cut: None
        }
    );
    // Next local day starts afresh.
    assert_eq!(
        send("sports", "2026-11-23T00:00:00+08:00", 5_000),
        Verdict::Award {
            points: 10,
            cut: None
        }
    );
    // Implausible and below-threshold reports earn nothing.
    assert_eq!(
        send("sports", "2026-11-24T08:00:00+08:00", 150_000),
        Verdict::Refused(Refusal::ImplausibleQuantity)
    );
    assert_eq!(
        send("sports", "2026-11-24T08:00:00+08:00", 4_999),
        Verdict::Refused(Refusal::BelowThreshold)
    );
}

#[test]
fn sources_and_evidence_are_checked() {
    let catalogue = Catalogue::default_catalogue();
    let vaccination = catalogue
        .rule_for("vaccination", None, at("2026-11-22T12:00:00Z"))
        .unwrap();
    let mut tally = Tally::default();
    let none = HashMap::new();
    let evidence = HashMap::from([("vaccine_code".to_owned(), "CVX-141".to_owned())]);
    assert_eq!(
        tally.judge_and_record(
            "r1",
            vaccination,
            report("sports", "2026-11-22T09:00:00+08:00", 1, &evidence)
        ),
        Verdict::Refused(Refusal::SourceNotAllowed)
    );
    assert_eq!(
        tally.judge_and_record(
            "r1",
            vaccination,
            report("health-commission", "2026-11-22T09:00:00+08:00", 1, &none)
        ),
        Verdict::Refused(Refusal::MissingEvidence)
    );
    assert_eq!(
        tally.judge_and_record(
            "r1",
            vaccination,
            report(
                "health-commission",
                "2026-11-22T09:00:00+08:00",
                1,
                &evidence
            )
        ),
        Verdict::Award {
            points: 200,
            cut: None
        }
    );
}

#[test]
fn an_event_is_judged_by_the_version_in_force_when_it_occurred() {
    let mut v1 = rule("t.versioned", 10, Caps::default());
    let switch = at("2026-11-23T00:00:00+08:00");
    v1.effective_until = Some(switch);
    let mut v2 = rule("t.versioned", 20, Caps::default());
    v2.version = 2;
    v2.effective_from = switch;
    let catalogue = Catalogue::new(vec![v1, v2]);
    let before = catalogue
        .rule_for("t.versioned", None, at("2026-11-22T23:59:59+08:00"))
        .unwrap();
    let after = catalogue.rule_for("t.versioned", None, switch).unwrap();
    assert_eq!((before.version, after.version), (1, 2));
    assert!(
        catalogue
            .rule_for("t.versioned", None, at("2025-12-31T23:59:59+08:00"))
            .is_none()
    );
}

#[test]
fn a_district_may_tighten_a_city_rule_but_never_loosen_it() {
    let qingpu = DistrictCode::parse("310118").unwrap();
    let yangpu = DistrictCode::parse("310110").unwrap();
    let city = rule(
        "t.tight",
        20,
        Caps {
            per_day: Some(20),
            ..Caps::default()
        },
    );
    let mut tighter = city.clone();
    tighter.district = Some(qingpu);
    tighter.award = Award::Fixed(10);
    tighter.caps.per_day = Some(10);
    tighter.sources = vec!["app".into()];
    assert_eq!(tighter.tightens(&city), Ok(()));

    let mut looser = tighter.clone();
    looser.award = Award::Fixed(30);
    looser.caps = Caps::default();
    looser.sources.push("elsewhere".into());
    let fields: Vec<String> = looser
        .tightens(&city)
        .unwrap_err()
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["award", "caps.per_day", "sources"]);

    let catalogue = Catalogue::new(vec![city, tighter]);
    let when = at("2026-11-22T12:00:00Z");
    assert_eq!(
        catalogue
            .rule_for("t.tight", Some(qingpu), when)
            .unwrap()
            .award,
        Award::Fixed(10)
    );
    assert_eq!(
        catalogue
            .rule_for("t.tight", Some(yangpu), when)
            .unwrap()
            .award,
        Award::Fixed(20)
    );
    assert_eq!(catalogue.in_force(when, Some(qingpu)).len(), 1);
}

#[test]
fn late_reports_never_push_an_earlier_period_past_its_cap() {
    let r = rule(
        "t.late",
        10,
        Caps {
            per_day: Some(20),
            ..Caps::default()
        },
    );
    let none = HashMap::new();
    let mut tally = Tally::default();
    let day = at("2026-11-20T10:00:00+08:00");
    for i in 0..3 {
        let when = (day + Duration::minutes(i)).to_rfc3339();
        tally.judge_and_record("r1", &r, report("self", &when, 1, &none));
    }
    let prior = tally.prior("r1", "t.late", day);
    assert_eq!(prior.totals.values().max(), Some(&20));
}
