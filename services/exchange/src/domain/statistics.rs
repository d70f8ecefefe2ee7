//! De-identified statistics: who took part and how many points moved, by district, behaviour
//! category, month, age band and residence type, with small cells hidden.
//!
//! Two sources, each asked once per book or month: intake counts awards by book and cohort
//! (residence district, category, age band, residence type — fixed when the award was
//! decided); the ledger gives each book's issued and redeemed points of the month and what its
//! residents hold now. Cohort cells carry participants and points issued; one total per book
//! carries participants, issued, redeemed and liability. Redemptions and liability have no
//! category or age: points are fungible, and the programme keeps no profile of wallets.
//!
//! **Suppression**: a figure about fewer than [`MIN_CELL`] people is hidden. A cohort cell
//! with fewer participants is hidden whole; so is, in the same book and district, the next
//! smallest cell when exactly one was hidden, so that a total minus the visible cells cannot
//! give it back. A book total hides its participants and issued points under [`MIN_CELL`]
//! participants, and its redeemed points and liability when fewer than [`MIN_CELL`] residents
//! hold points in the book.

use super::error::Result;
use healthpoints_types::{Book, DistrictCode};
use std::{collections::BTreeMap, future::Future};

/// The fewest people a published figure may be about.
pub const MIN_CELL: u64 = 10;

/// The four kinds of behaviour of the rule catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BehaviourCategory {
    Learning,
    Lifestyle,
    PublicHealthService,
    PublicWelfare,
}

/// Awards of one cohort in one book over a month, as intake counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortAwards {
    pub book: Book,
    /// The residents' residence district when the awards were decided.
    pub district: Option<DistrictCode>,
    pub category: BehaviourCategory,
    pub age_band: String,
    pub residence_type: String,
    pub residents: u64,
    pub points: u64,
}

/// Distinct residents awarded points in one book over a month, and the points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookAwards {
    pub book: Book,
    pub residents: u64,
    pub points: u64,
}

/// Intake's `GetAwardStatistics`: cohorts of the residents of `district` (all if `None`), and
/// every book's totals.
pub trait AwardFigures: Send + Sync {
    fn award_figures(
        &self,
        month: &str,
        district: Option<DistrictCode>,
    ) -> impl Future<Output = Result<(Vec<CohortAwards>, Vec<BookAwards>)>> + Send;
}

/// A book's movements of a month and its residents' holdings now, from the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BookMovements {
    pub issued: u64,
    pub redeemed: u64,
    /// Points residents hold now.
    pub outstanding: u64,
    /// Residents with an account in the book.
    pub holders: u64,
}

/// The ledger's `GetBookStatistics` for one month.
pub trait LedgerFigures: Send + Sync {
    fn book_movements(
        &self,
        book: Book,
        month: &str,
    ) -> impl Future<Output = Result<BookMovements>> + Send;
}

/// One published cell. A cohort cell has a category; a book total has none (and no age band or
/// residence type). Hidden figures are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub district: Option<DistrictCode>,
    pub book: Book,
    pub category: Option<BehaviourCategory>,
    pub month: String,
    pub age_band: String,
    pub residence_type: String,
    pub participants: Option<u64>,
    pub points_issued: Option<u64>,
    pub points_redeemed: Option<u64>,
    /// In points; the adapter shows yuan.
    pub liability: Option<u64>,
    pub suppressed: bool,
}

/// Cohort cells with small ones hidden, and in each book and district one more when exactly
/// one was hidden.
pub(crate) fn cohort_cells(month: &str, cohorts: Vec<CohortAwards>) -> Vec<Cell> {
    let mut groups: BTreeMap<(String, Option<DistrictCode>), Vec<CohortAwards>> = BTreeMap::new();
    for c in cohorts {
        groups
            .entry((c.book.to_string(), c.district))
            .or_default()
            .push(c);
    }
    let mut cells = Vec::new();
    for (_, mut group) in groups {
        group.sort_by(|a, b| {
            (a.category, &a.age_band, &a.residence_type).cmp(&(
                b.category,
                &b.age_band,
                &b.residence_type,
            ))
        });
        let mut hidden: Vec<bool> = group.iter().map(|c| c.residents < MIN_CELL).collect();
        if hidden.iter().filter(|h| **h).count() == 1 {
            // The smallest visible cell goes too, or the group's total would give the hidden one away.
            if let Some((i, _)) = group
                .iter()
                .enumerate()
                .filter(|(i, _)| !hidden[*i])
                .min_by_key(|(_, c)| (c.residents, c.points))
            {
                hidden[i] = true;
            }
        }
        for (c, hide) in group.into_iter().zip(hidden) {
            cells.push(Cell {
                district: c.district,
                book: c.book,
                category: Some(c.category),
                month: month.to_owned(),
                age_band: c.age_band,
                residence_type: c.residence_type,
                participants: (!hide).then_some(c.residents),
                points_issued: (!hide).then_some(c.points),
                points_redeemed: None,
                liability: None,
                suppressed: hide,
            });
        }
    }
    cells
}

/// A book's total: participants and issued points hidden under [`MIN_CELL`] participants,
/// redeemed points and liability under [`MIN_CELL`] holders.
pub(crate) fn book_total(
    month: &str,
    book: Book,
    awards: BookAwards,
    movements: BookMovements,
) -> Cell {
    let few_participants = awards.residents < MIN_CELL;
    let few_holders = movements.holders < MIN_CELL;
    Cell {
        district: match book {
            Book::District(d) => Some(d),
            Book::City => None,
        },
        book,
        category: None,
        month: month.to_owned(),
        age_band: String::new(),
        residence_type: String::new(),
        participants: (!few_participants).then_some(awards.residents),
        points_issued: (!few_participants).then_some(movements.issued),
        points_redeemed: (!few_holders).then_some(movements.redeemed),
        liability: (!few_holders).then_some(movements.outstanding),
        suppressed: few_participants || few_holders,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cohort(band: &str, residents: u64, points: u64) -> CohortAwards {
        CohortAwards {
            book: Book::City,
            district: DistrictCode::parse("310118").ok(),
            category: BehaviourCategory::Lifestyle,
            age_band: band.to_owned(),
            residence_type: "registered".to_owned(),
            residents,
            points,
        }
    }

    fn shown(cells: &[Cell]) -> Vec<(String, Option<u64>)> {
        cells
            .iter()
            .map(|c| (c.age_band.clone(), c.participants))
            .collect()
    }

    #[test]
    fn cells_under_ten_people_are_hidden() {
        let cells = cohort_cells(
            "2026-11",
            vec![
                cohort("18-39", 10, 900),
                cohort("40-59", 9, 800),
                cohort("60+", 3, 100),
            ],
        );
        assert_eq!(
            shown(&cells),
            [
                ("18-39".into(), Some(10)),
                ("40-59".into(), None),
                ("60+".into(), None)
            ]
        );
        assert!(cells[1].suppressed && cells[1].points_issued.is_none());
        assert!(!cells[0].suppressed && cells[0].points_issued == Some(900));
    }

    #[test]
    fn a_lone_hidden_cell_takes_the_next_smallest_with_it() {
        let cells = cohort_cells(
            "2026-11",
            vec![
                cohort("18-39", 40, 9000),
                cohort("40-59", 12, 800),
                cohort("60+", 3, 100),
            ],
        );
        assert_eq!(
            shown(&cells),
            [
                ("18-39".into(), Some(40)),
                ("40-59".into(), None),
                ("60+".into(), None)
            ]
        );
    }

    #[test]
    fn book_totals_hide_what_too_few_people_make() {
        let movements = BookMovements {
            issued: 500,
            redeemed: 100,
            outstanding: 4000,
            holders: 30,
        };
        let few = BookAwards {
            book: Book::City,
            residents: 4,
            points: 500,
        };
        let cell = book_total("2026-11", Book::City, few, movements);
        assert_eq!(
            (
                cell.participants,
                cell.points_issued,
                cell.points_redeemed,
                cell.liability
            ),
            (None, None, Some(100), Some(4000))
        );
        assert!(cell.suppressed);
        let many = BookAwards {
            residents: 12,
            ..few
        };
        let cell = book_total("2026-11", Book::City, many, movements);
        assert_eq!(
            (cell.participants, cell.points_issued, cell.suppressed),
            (Some(12), Some(500), false)
        );
    }
}
