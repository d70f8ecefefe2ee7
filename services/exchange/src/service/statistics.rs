//! The de-identified statistics of a district and month, small cells suppressed (the cells and
//! ports: [`crate::domain::statistics`]).

use healthpoints_auth::Principal;
use healthpoints_types::{
    Book, DISTRICTS, DistrictCode,
    calendar::{month_bounds, month_key},
};

use super::Exchange;
use crate::domain::error::{ExchangeError, Result};
use crate::domain::statistics::{
    AwardFigures, BookAwards, BookMovements, Cell, LedgerFigures, book_total, cohort_cells,
};

impl<I, N: AwardFigures, L: LedgerFigures> Exchange<I, N, L> {
    /// The statistics of `month` (`2026-11`; empty: the current month, Asia/Shanghai) for
    /// `district` (empty: every district and book). Partners need scope `statistics:read`; city
    /// admins see everything; a district admin sees their own district only. The read is in the
    /// access log (no resident is touched).
    pub async fn statistics(
        &self,
        caller: &Principal,
        district: &str,
        month: &str,
    ) -> Result<Vec<Cell>> {
        let district = match district.trim() {
            "" => None,
            d => Some(DistrictCode::parse(d).map_err(|e| ExchangeError::invalid("district", e.0))?),
        };
        let district = match caller {
            Principal::Partner { .. } => {
                self.acting_partner(caller, "statistics:read").await?;
                district
            }
            Principal::CityAdmin { .. } => district,
            Principal::DistrictAdmin { district: own, .. } => match district {
                None => Some(*own),
                Some(d) if d == *own => Some(d),
                Some(_) => {
                    return Err(ExchangeError::Forbidden(
                        "district admins see their own district's statistics only".into(),
                    ));
                }
            },
            _ => {
                return Err(ExchangeError::Forbidden(
                    "statistics are for admins and for partners with scope statistics:read".into(),
                ));
            }
        };
        let month = match month.trim() {
            "" => month_key(self.now()),
            m if month_bounds(m).is_some() => m.to_owned(),
            _ => return Err(ExchangeError::invalid("month", "must be a month YYYY-MM")),
        };

        let (cohorts, book_awards) = self.intake.award_figures(&month, district).await?;
        let books: Vec<Book> = match district {
            Some(d) => vec![Book::District(d)],
            None => std::iter::once(Book::City)
                .chain(
                    DISTRICTS
                        .iter()
                        .filter_map(|(code, _)| DistrictCode::parse(code).ok())
                        .map(Book::District),
                )
                .collect(),
        };
        let mut cells = cohort_cells(&month, cohorts);
        for book in books {
            let movements = self.ledger.book_movements(book, &month).await?;
            let awards = book_awards
                .iter()
                .find(|a| a.book == book)
                .copied()
                .unwrap_or(BookAwards {
                    book,
                    residents: 0,
                    points: 0,
                });
            if awards.residents == 0 && movements == BookMovements::default() {
                continue;
            }
            cells.push(book_total(&month, book, awards, movements));
        }
        self.store
            .append(&self.access_entries(
                caller,
                "read_statistics",
                &format!(
                "de-identified statistics of {month}, {}",
                district.map_or_else(|| "every district".to_owned(), |d| format!("district {d}"))
            ),
                &[],
            ))
            .await?;
        Ok(cells)
    }
}
