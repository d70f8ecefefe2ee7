//! The officials' dashboard: for a district official their district, for the city's programme
//! office the whole city or one district — participants, points issued and redeemed, what is
//! outstanding in ¥, the budget left, and charts: points by month, points by category,
//! participants by age band and residence type (the fairness view) and redemptions by mall.
//! The gateway decides the scope: a district official asking for another district is refused
//! there, and the page says so.

use std::collections::BTreeMap;

use askama::Template;
use axum::{extract::Query, http::Method, response::Response};
use chrono::Months;
use serde::Deserialize;

use crate::{
    api::{ApiError, segment, with_query},
    chart::{Bar, Chart},
    ctx::{Chrome, Ctx, PageError, render},
    i18n::{district_name, grouped, mall_name, today},
    session::Role,
};

#[derive(Debug, Deserialize)]
struct BookStats {
    issued: u64,
    redeemed: u64,
    outstanding: u64,
    #[serde(default)]
    budget_left: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Cell {
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    age_band: Option<String>,
    #[serde(default)]
    residence_type: Option<String>,
    #[serde(default)]
    participants: Option<u64>,
    #[serde(default)]
    points_issued: Option<u64>,
    book: String,
}

#[derive(Debug, Deserialize)]
struct Statistics {
    cells: Vec<Cell>,
}

#[derive(Debug, Deserialize)]
struct MallStatus {
    mall: String,
}

#[derive(Debug, Deserialize)]
struct Malls {
    malls: Vec<MallStatus>,
}

#[derive(Debug, Deserialize)]
struct MallStats {
    points_redeemed: u64,
}

/// A chart and the same figures as a table.
struct Figure {
    title: &'static str,
    svg: String,
    rows: Vec<(String, String, String)>,
    two: bool,
}

#[derive(Template)]
#[template(path = "office.html")]
struct OfficePage {
    c: Chrome,
    scope: String,
    month: String,
    participants: String,
    tiles: Vec<(&'static str, String)>,
    figures: Vec<Figure>,
    districts: Vec<(String, String, bool)>,
    city_admin: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OfficeQuery {
    #[serde(default)]
    district: String,
}

/// Sums a figure over cells by a key, keeping "withheld" when every cell of a key is withheld.
fn sum_by(
    cells: &[&Cell],
    key: impl Fn(&Cell) -> Option<String>,
    figure: impl Fn(&Cell) -> Option<u64>,
) -> BTreeMap<String, Option<u64>> {
    let mut out: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for cell in cells {
        let Some(k) = key(cell) else { continue };
        let slot = out.entry(k).or_insert(None);
        if let Some(v) = figure(cell) {
            *slot = Some(slot.unwrap_or(0) + v);
        }
    }
    out
}

/// `GET /office?district=`.
pub(crate) async fn dashboard(
    ctx: Ctx,
    Query(q): Query<OfficeQuery>,
) -> Result<Response, PageError> {
    let user = ctx.require(&[Role::DistrictAdmin, Role::CityAdmin])?;
    let t = ctx.t();
    let district = match (q.district.trim(), &user.district) {
        ("", Some(own)) => own.clone(),
        (chosen, _) => chosen.to_owned(),
    };
    let book = if district.is_empty() {
        "city".to_owned()
    } else {
        format!("district:{district}")
    };
    let book_path = format!("/v1/admin/books/{}/stats", segment(&book));
    let this_month = today().format("%Y-%m").to_string();
    let months: Vec<String> = (0..6)
        .rev()
        .filter_map(|back| today().checked_sub_months(Months::new(back)))
        .map(|d| d.format("%Y-%m").to_string())
        .collect();

    // The whole book first: the gateway refuses another district's here.
    let total: BookStats = ctx.get(&book_path).await?;
    let statistics_path = with_query(
        "/v1/admin/statistics",
        &[("district", &district), ("month", &this_month)],
    );
    let month_paths: Vec<String> = months
        .iter()
        .map(|m| with_query(&book_path, &[("month", m)]))
        .collect();
    let (statistics, malls, monthly) = tokio::join!(
        ctx.get::<Statistics>(&statistics_path),
        ctx.public::<Malls>(Method::GET, "/v1/malls", None),
        futures::future::join_all(month_paths.iter().map(|p| ctx.get::<BookStats>(p))),
    );
    let statistics = statistics?;
    let monthly: Vec<BookStats> = monthly.into_iter().collect::<Result<_, _>>()?;

    let cohorts: Vec<&Cell> = statistics
        .cells
        .iter()
        .filter(|c| c.category.is_some() && c.book == book)
        .collect();
    let participants = statistics
        .cells
        .iter()
        .find(|c| c.category.is_none() && c.book == book)
        .and_then(|c| c.participants);

    // Redemptions by mall: the malls this official runs (the gateway says which), asked
    // together.
    let shown: Vec<String> = malls
        .map(|m| m.malls)
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.mall)
        .filter(|mall| district.is_empty() || *mall == district)
        .collect();
    let paths: Vec<String> = shown
        .iter()
        .map(|mall| format!("/v1/admin/malls/{}/stats", segment(mall)))
        .collect();
    let stats = futures::future::join_all(paths.iter().map(|p| ctx.get::<MallStats>(p))).await;
    let mut by_mall = vec![];
    for (mall, answer) in shown.iter().zip(stats) {
        match answer {
            Ok(s) => by_mall.push(Bar {
                label: mall_name(t, mall),
                a: Some(s.points_redeemed),
                b: None,
            }),
            Err(ApiError::Problem(p)) if matches!(p.status, 403 | 404 | 503) => {}
            Err(e) => return Err(e.into()),
        }
    }

    let month_bars: Vec<Bar> = months
        .iter()
        .zip(&monthly)
        .map(|(m, s)| Bar {
            label: m.clone(),
            a: Some(s.issued),
            b: Some(s.redeemed),
        })
        .collect();
    let category_bars: Vec<Bar> = sum_by(&cohorts, |c| c.category.clone(), |c| c.points_issued)
        .into_iter()
        .map(|(k, v)| Bar {
            label: t.category(&k),
            a: v,
            b: None,
        })
        .collect();
    let age_bars: Vec<Bar> = sum_by(&cohorts, |c| c.age_band.clone(), |c| c.participants)
        .into_iter()
        .map(|(k, v)| Bar {
            label: k,
            a: v,
            b: None,
        })
        .collect();
    let residence_bars: Vec<Bar> =
        sum_by(&cohorts, |c| c.residence_type.clone(), |c| c.participants)
            .into_iter()
            .map(|(k, v)| Bar {
                label: match k.as_str() {
                    "registered" => t.registered_type.to_owned(),
                    "permanent_migrant" => t.migrant_type.to_owned(),
                    _ => k,
                },
                a: v,
                b: None,
            })
            .collect();
    let figure = |title: &'static str, bars: Vec<Bar>, two: bool| Figure {
        title,
        svg: Chart {
            title,
            bars: &bars,
            two_series: two,
            hidden: t.hidden,
        }
        .svg(),
        rows: bars
            .iter()
            .map(|b| {
                let show = |v: Option<u64>| v.map(grouped).unwrap_or_else(|| t.hidden.into());
                (b.label.clone(), show(b.a), show(b.b))
            })
            .collect(),
        two,
    };
    let figures = vec![
        figure(t.chart_by_month, month_bars, true),
        figure(t.chart_by_category, category_bars, false),
        figure(t.chart_by_age, age_bars, false),
        figure(t.chart_by_residence, residence_bars, false),
        figure(t.chart_by_mall, by_mall, false),
    ];
    let city_admin = user.role == Role::CityAdmin;
    Ok(render(&OfficePage {
        c: ctx.chrome(t.office, "/office"),
        scope: if district.is_empty() {
            t.whole_city.to_owned()
        } else {
            district_name(t, &district)
        },
        month: this_month,
        participants: participants
            .map(grouped)
            .unwrap_or_else(|| t.hidden.to_owned()),
        tiles: vec![
            (t.issued, t.points_yuan(total.issued)),
            (t.redeemed, t.points_yuan(total.redeemed)),
            (t.liability, t.points_yuan(total.outstanding)),
            (
                t.budget_left,
                total
                    .budget_left
                    .map(|b| t.points_yuan(b))
                    .unwrap_or_else(|| t.no_budget.to_owned()),
            ),
        ],
        figures,
        districts: if city_admin {
            std::iter::once((String::new(), t.whole_city.to_owned(), district.is_empty()))
                .chain(
                    crate::i18n::district_codes()
                        .map(|code| (code.to_owned(), district_name(t, code), code == district)),
                )
                .collect()
        } else {
            vec![]
        },
        city_admin,
    }))
}
