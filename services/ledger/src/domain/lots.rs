//! Points by expiry. A resident account's points that are neither spent nor reserved sit in
//! **lots**, one per day they expire on (or never); every award adds to the lot of the day it
//! carries, and spending takes from the lots in order of expiry, oldest first. What a transfer
//! took from or gave to the lots is kept with it as its [`Shares`], so a void, a partial post
//! or a refund puts points back where they came from, with their original expiry.
//!
//! Why one lot per day rather than per award: a policy such as "the end of the second calendar
//! year after the year earned" gives a whole year's awards one day, so a resident holds a few
//! lots, not thousands, and the lots travel in the account's row. Spending oldest first among
//! awards of the same day would take the same points either way.
//!
//! The invariant, checked by the engine and by the property tests: the points of an account's
//! lots add up to what it can spend (`credits_posted - debits_posted - debits_pending`). Each lot
//! also counts the points that expired from it, which makes every expiry's id unique
//! ([`Lot::expired`]).

use chrono::NaiveDate;

/// The day points expire on: the end of that day, Asia/Shanghai. `None`: never.
pub type ExpiresOn = Option<NaiveDate>;

/// The points of one account that expire on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    pub expires_on: ExpiresOn,
    /// Neither spent, reserved nor expired.
    pub points: u64,
    /// Expired from this lot so far.
    pub expired: u64,
}

/// Lot order: by day, `never` last.
fn order(day: ExpiresOn) -> (bool, NaiveDate) {
    (day.is_none(), day.unwrap_or(NaiveDate::MIN))
}

/// Why lots refuse a change (the engine maps them to transfer results).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LotError {
    /// Fewer points in the lots than asked.
    Short,
    /// An expiry named a lot that does not exist, or one that never expires.
    NoSuchLot,
    /// An expiry named a lot whose day has not ended.
    NotYetDue,
    /// Beyond `u64`.
    Overflow,
}

/// The lots of one account, in lot order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lots(Vec<Lot>);

impl Lots {
    pub fn iter(&self) -> impl Iterator<Item = &Lot> {
        self.0.iter()
    }

    /// The points of every lot.
    pub fn total(&self) -> u128 {
        self.0.iter().map(|l| u128::from(l.points)).sum()
    }

    fn lot_mut(&mut self, day: ExpiresOn) -> &mut Lot {
        let at = self.0.partition_point(|l| order(l.expires_on) < order(day));
        if self.0.get(at).is_none_or(|l| l.expires_on != day) {
            self.0.insert(
                at,
                Lot {
                    expires_on: day,
                    points: 0,
                    expired: 0,
                },
            );
        }
        &mut self.0[at]
    }

    /// Adds `shares` to their lots.
    pub fn give(&mut self, shares: &Shares) -> Result<(), LotError> {
        let mut next = self.clone();
        for &(day, points) in &shares.0 {
            let lot = next.lot_mut(day);
            lot.points = lot.points.checked_add(points).ok_or(LotError::Overflow)?;
        }
        *self = next;
        Ok(())
    }

    /// Takes `points` from the lots that expire first, and says from which.
    pub fn take_oldest(&mut self, points: u64) -> Result<Shares, LotError> {
        if self.total() < u128::from(points) {
            return Err(LotError::Short);
        }
        let mut left = points;
        let mut shares = Vec::new();
        for lot in &mut self.0 {
            if left == 0 {
                break;
            }
            let took = lot.points.min(left);
            if took > 0 {
                lot.points -= took;
                left -= took;
                shares.push((lot.expires_on, took));
            }
        }
        self.tidy();
        Ok(Shares(shares))
    }

    /// Expires `points` of the lot of `day`, which must have ended before `today`.
    pub fn expire(
        &mut self,
        day: NaiveDate,
        points: u64,
        today: NaiveDate,
    ) -> Result<(), LotError> {
        if day >= today {
            return Err(LotError::NotYetDue);
        }
        let lot = self
            .0
            .iter_mut()
            .find(|l| l.expires_on == Some(day))
            .ok_or(LotError::NoSuchLot)?;
        if lot.points < points {
            return Err(LotError::Short);
        }
        lot.points -= points;
        lot.expired = lot.expired.checked_add(points).ok_or(LotError::Overflow)?;
        Ok(())
    }

    /// The lots with points that expire on a day, in order: what a resident is told.
    pub fn expiring(&self) -> impl Iterator<Item = (NaiveDate, u64)> + '_ {
        self.0
            .iter()
            .filter(|l| l.points > 0)
            .filter_map(|l| l.expires_on.map(|d| (d, l.points)))
    }

    /// The first day on which points of these lots expire: where the sweeper looks.
    pub fn next_expiry(&self) -> Option<NaiveDate> {
        self.expiring().map(|(d, _)| d).next()
    }

    /// Drops lots that hold nothing and never expired anything. A lot that expired points stays:
    /// its count keeps the ids of later expiries from it distinct.
    fn tidy(&mut self) {
        self.0.retain(|l| l.points > 0 || l.expired > 0);
    }

    /// The stored form: `day:points:expired` per lot, comma-separated, the day as `YYYYMMDD` or
    /// `0` for never. It has no minus sign, which the database checks.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!(
                "{}:{}:{}",
                day_key(l.expires_on),
                l.points,
                l.expired
            ));
        }
        out
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut lots = Vec::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let mut fields = part.split(':');
            let day = parse_day_key(fields.next()?)?;
            let points = fields.next()?.parse().ok()?;
            let expired = fields.next()?.parse().ok()?;
            if fields.next().is_some() {
                return None;
            }
            lots.push(Lot {
                expires_on: day,
                points,
                expired,
            });
        }
        lots.sort_by_key(|l| order(l.expires_on));
        Some(Self(lots))
    }
}

/// What one transfer took from (a debit) or gave to (a credit) a resident's lots, in lot order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shares(pub Vec<(ExpiresOn, u64)>);

impl Shares {
    pub fn one(day: ExpiresOn, points: u64) -> Self {
        Self(vec![(day, points)])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn total(&self) -> u128 {
        self.0.iter().map(|(_, p)| u128::from(*p)).sum()
    }

    /// These shares made to cover `points`: what they lack is counted as never expiring (a
    /// transfer from before lots existed carries none).
    pub fn covering(&self, points: u64) -> Self {
        let mut out = self.clone();
        let have = self.total();
        if have < u128::from(points) {
            let lack = u64::try_from(u128::from(points) - have).unwrap_or(u64::MAX);
            out.0.push((None, lack));
            out.0.sort_by_key(|(d, _)| order(*d));
        }
        out
    }

    /// These shares less `other`'s, day by day, never below zero (what a debit took less what
    /// earlier refunds of it returned).
    pub fn minus(&self, other: &Self) -> Self {
        let mut out = Vec::with_capacity(self.0.len());
        for (day, points) in &self.0 {
            let gone: u64 = other
                .0
                .iter()
                .filter(|(d, _)| d == day)
                .map(|(_, p)| *p)
                .sum();
            if *points > gone {
                out.push((*day, points - gone));
            }
        }
        Self(out)
    }

    /// Splits off `points` from the lots that expire last and returns them; the rest stays.
    /// What goes back to a resident from a reservation posted in part, or refunded in part,
    /// goes to the latest lots: the points spent are the oldest.
    pub fn split_latest(&mut self, points: u64) -> Self {
        let mut left = points;
        let mut back = Vec::new();
        while left > 0 {
            let Some(last) = self.0.last_mut() else {
                break;
            };
            let took = last.1.min(left);
            last.1 -= took;
            left -= took;
            back.push((last.0, took));
            if last.1 == 0 {
                self.0.pop();
            }
        }
        back.reverse();
        Self(back)
    }

    /// The stored form: `day:points` per share, as in [`Lots::encode`].
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (day, points)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("{}:{points}", day_key(*day)));
        }
        out
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut shares = Vec::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (day, points) = part.split_once(':')?;
            shares.push((parse_day_key(day)?, points.parse().ok()?));
        }
        Some(Self(shares))
    }
}

/// A day as the number `YYYYMMDD` (0: never): how lots and transfers store it, and the sweeper
/// compares it.
pub fn day_number(day: ExpiresOn) -> i64 {
    day.map_or(0, |d| {
        use chrono::Datelike;
        i64::from(d.year()) * 10_000 + i64::from(d.month()) * 100 + i64::from(d.day())
    })
}

/// The inverse of [`day_number`]; `None` when it is no day.
pub fn from_day_number(n: i64) -> Option<ExpiresOn> {
    if n == 0 {
        return Some(None);
    }
    let year = i32::try_from(n / 10_000).ok()?;
    let month = u32::try_from(n / 100 % 100).ok()?;
    let day = u32::try_from(n % 100).ok()?;
    NaiveDate::from_ymd_opt(year, month, day).map(Some)
}

fn day_key(day: ExpiresOn) -> String {
    day_number(day).to_string()
}

fn parse_day_key(s: &str) -> Option<ExpiresOn> {
    from_day_number(s.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_minus_takes_day_by_day_and_never_below_zero() {
        let d = |n| NaiveDate::from_ymd_opt(2027, 1, n);
        let took = Shares(vec![(d(1), 5), (d(2), 3), (None, 4)]);
        let returned = Shares(vec![(d(2), 1), (None, 2), (None, 9), (d(3), 7)]);
        assert_eq!(took.minus(&returned), Shares(vec![(d(1), 5), (d(2), 2)]));
        assert_eq!(took.minus(&Shares::default()), took);
    }

    fn d(y: i32, m: u32, day: u32) -> ExpiresOn {
        NaiveDate::from_ymd_opt(y, m, day)
    }

    #[test]
    fn spending_takes_the_oldest_points_first_and_never_expiring_ones_last() {
        let mut lots = Lots::default();
        lots.give(&Shares::one(None, 50)).unwrap();
        lots.give(&Shares::one(d(2028, 12, 31), 300)).unwrap();
        lots.give(&Shares::one(d(2027, 12, 31), 100)).unwrap();
        let took = lots.take_oldest(200).unwrap();
        assert_eq!(took.0, vec![(d(2027, 12, 31), 100), (d(2028, 12, 31), 100)]);
        assert_eq!(lots.total(), 250);
        assert_eq!(lots.next_expiry(), d(2028, 12, 31));
        assert_eq!(lots.take_oldest(251), Err(LotError::Short));
        assert_eq!(lots.total(), 250, "a refused take changes nothing");
        lots.give(&took).unwrap();
        assert_eq!(
            lots.expiring().collect::<Vec<_>>(),
            vec![
                (d(2027, 12, 31).unwrap(), 100),
                (d(2028, 12, 31).unwrap(), 300)
            ]
        );
    }

    #[test]
    fn expiry_takes_only_a_lot_whose_day_ended_and_counts_it() {
        let mut lots = Lots::default();
        lots.give(&Shares::one(d(2026, 12, 31), 120)).unwrap();
        let day = d(2026, 12, 31).unwrap();
        assert_eq!(
            lots.expire(day, 120, day),
            Err(LotError::NotYetDue),
            "the last day is still a day to spend them"
        );
        let next = d(2027, 1, 1).unwrap();
        assert_eq!(lots.expire(day, 121, next), Err(LotError::Short));
        lots.expire(day, 120, next).unwrap();
        assert_eq!(lots.total(), 0);
        assert_eq!(lots.iter().next().map(|l| l.expired), Some(120));
        assert_eq!(
            lots.expire(d(2025, 1, 1).unwrap(), 1, next),
            Err(LotError::NoSuchLot)
        );
        assert_eq!(lots.next_expiry(), None);
    }

    #[test]
    fn a_partial_post_keeps_the_oldest_shares_and_returns_the_latest() {
        let mut shares = Shares(vec![(d(2027, 12, 31), 100), (None, 80)]);
        let back = shares.split_latest(120);
        assert_eq!(back.0, vec![(d(2027, 12, 31), 40), (None, 80)]);
        assert_eq!(shares.0, vec![(d(2027, 12, 31), 60)]);
        assert_eq!(Shares::default().covering(30).0, vec![(None, 30)]);
    }

    #[test]
    fn lots_and_shares_round_trip_their_stored_form_without_a_minus_sign() {
        let mut lots = Lots::default();
        lots.give(&Shares(vec![(d(2027, 12, 31), 5), (None, 7)]))
            .unwrap();
        lots.expire(d(2027, 12, 31).unwrap(), 2, d(2028, 1, 1).unwrap())
            .unwrap();
        let s = lots.encode();
        assert_eq!(s, "20271231:3:2,0:7:0");
        assert!(!s.contains('-'));
        assert_eq!(Lots::decode(&s), Some(lots));
        assert_eq!(Lots::decode(""), Some(Lots::default()));
        assert_eq!(Lots::decode("20271232:1:0"), None);
        assert_eq!(Lots::decode("20271231:-1:0"), None);
        let shares = Shares(vec![(d(2027, 12, 31), 3), (None, 1)]);
        assert_eq!(Shares::decode(&shares.encode()), Some(shares));
    }
}
