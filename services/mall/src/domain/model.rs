//! Mall records and the small rules that need no storage: voucher codes, settlement periods on
//! the Asia/Shanghai calendar, ages. Points are `u64`; 100 points = ¥1.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use uuid::Uuid;

pub use healthpoints_types::calendar::{age_on, local_date as local_day, shanghai};

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

named_enum!(
    /// Only active merchants sell.
    MerchantStatus { Pending => "pending", Active => "active", Suspended => "suspended" }
);

named_enum!(
    ProductCategory { HealthService => "health_service", HealthProduct => "health_product" }
);

named_enum!(
    ProductStatus { Active => "active", Inactive => "inactive" }
);

named_enum!(
    /// The period a per-resident limit counts in (Asia/Shanghai calendar).
    LimitPeriod { Day => "day", Week => "week", Month => "month", Year => "year" }
);

named_enum!(
    /// Where an order is. The `-ing` states are intents: recorded before the ledger is called
    /// and driven to their end by whoever comes next (a retry, or the sweeper after a restart).
    OrderStatus {
        Reserving => "reserving",
        Reserved => "reserved",
        WritingOff => "writing_off",
        WrittenOff => "written_off",
        Cancelling => "cancelling",
        Cancelled => "cancelled",
        Expiring => "expiring",
        Expired => "expired",
        Refunding => "refunding",
        Refunded => "refunded",
    }
);

named_enum!(
    /// Which merchant account a refund is paid from: the payable while the order's period is
    /// open, the settled account (a claw-back) once it has closed.
    RefundSource { Payable => "payable", Settled => "settled" }
);

named_enum!(
    /// How long a settlement period is.
    PeriodKind { Month => "month", Week => "week" }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub merchant_id: Uuid,
    pub name: String,
    pub licence_no: String,
    pub contact: String,
    pub status: MerchantStatus,
    pub admitted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub product_id: Uuid,
    pub merchant_id: Uuid,
    pub title: String,
    pub description: String,
    pub category: ProductCategory,
    pub price_points: u64,
    /// `None`: unlimited (services).
    pub stock: Option<u64>,
    pub per_resident_limit: Option<u32>,
    pub limit_period: LimitPeriod,
    pub available_from: Option<DateTime<Utc>>,
    pub available_until: Option<DateTime<Utc>>,
    pub min_age: Option<u32>,
    pub status: ProductStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_id: Uuid,
    pub idempotency_key: String,
    pub resident_id: Uuid,
    pub merchant_id: Uuid,
    pub product_id: Uuid,
    pub product_title: String,
    pub quantity: u32,
    /// Price at the time of ordering × quantity; later price changes do not touch it.
    pub points: u64,
    pub status: OrderStatus,
    pub voucher_code: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The post or void of the pending transfer (the pending transfer's id is the order id).
    pub resolve_transfer_id: Option<Uuid>,
    pub refund_transfer_id: Option<Uuid>,
    pub refund_reason: Option<String>,
    pub refund_source: Option<RefundSource>,
    /// The settlement period the write-off counts in.
    pub settle_period: Option<String>,
    /// The key of the write-off that took the voucher: the merchant's `Idempotency-Key`, or
    /// one made up for a call without it. The call holding it is the one that wrote it off.
    pub write_off_key: Option<String>,
    /// When it was written off.
    pub written_off_at: Option<DateTime<Utc>>,
}

impl OrderStatus {
    /// The status as clients see it: an intent shows as the state it leaves (`reserved`)
    /// until it lands.
    pub fn public(self) -> &'static str {
        match self {
            Self::Reserving
            | Self::Reserved
            | Self::WritingOff
            | Self::Cancelling
            | Self::Expiring => "reserved",
            Self::WrittenOff | Self::Refunding => "written_off",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
        }
    }
}

impl Order {
    /// The pending ledger transfer that reserves the points.
    pub fn transfer_id(&self) -> Uuid {
        self.order_id
    }
}

/// A merchant's settlement statement for one period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statement {
    pub merchant_id: Uuid,
    pub period: String,
    pub closed: bool,
    pub written_off: u32,
    pub refunded: u32,
    pub redeemed_points: u64,
    pub refunded_points: u64,
    pub clawed_back: u32,
    pub clawed_back_points: u64,
    pub transfer_id: Option<Uuid>,
    pub closed_at: Option<DateTime<Utc>>,
    pub lines: Vec<StatementLine>,
}

impl Statement {
    /// What the programme owes the merchant for the period.
    pub fn net_points(&self) -> u64 {
        self.redeemed_points.saturating_sub(self.refunded_points)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub order_id: Uuid,
    pub product_title: String,
    pub quantity: u32,
    pub points: u64,
    pub written_off_at: Option<DateTime<Utc>>,
    pub refunded_at: Option<DateTime<Utc>>,
    pub transfer_id: Option<Uuid>,
}

/// Figures of one mall.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MallStatistics {
    pub merchants_active: u64,
    pub products_active: u64,
    pub orders_reserved: u64,
    pub orders_written_off: u64,
    pub points_redeemed: u64,
}

// === voucher codes ===

/// Crockford's base 32: no I, L, O or U, so a code read aloud or typed is unambiguous.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CODE_CHARS: usize = 20;

/// A fresh voucher code: 100 bits from the OS generator, as `XXXX-XXXX-XXXX-XXXX-XXXX`. Two
/// v4 UUIDs, one shifted, so that the fixed version and variant bits of each land on random
/// bits of the other.
pub fn new_voucher_code() -> String {
    let mut bits = u128::from_le_bytes(*Uuid::new_v4().as_bytes())
        ^ (u128::from_le_bytes(*Uuid::new_v4().as_bytes()) << 6);
    let mut out = String::with_capacity(CODE_CHARS + 4);
    for i in 0..CODE_CHARS {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[(bits & 31) as usize]));
        bits >>= 5;
    }
    out
}

/// The code as typed or scanned, in its stored form; `None` if it cannot be a code.
pub fn normalize_code(input: &str) -> Option<String> {
    let input = healthpoints_types::text::halfwidth(input);
    let input = input.trim();
    // A scanned payload: `HPV1:<mall>:<code>`.
    let raw = match input.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("hpv1:") => input.rsplit(':').next().unwrap_or(""),
        _ => input,
    };
    let mut chars = String::with_capacity(CODE_CHARS);
    for c in raw.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !ALPHABET.contains(&(c as u8)) || !c.is_ascii() {
            return None;
        }
        chars.push(c);
    }
    if chars.len() != CODE_CHARS {
        return None;
    }
    let mut out = String::with_capacity(CODE_CHARS + 4);
    for (i, c) in chars.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    Some(out)
}

/// What a merchant's scanner reads.
pub fn scan_payload(mall: &str, code: &str) -> String {
    format!("HPV1:{mall}:{code}")
}

// === calendar ===

fn local_midnight(day: NaiveDate) -> DateTime<Utc> {
    shanghai()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// The first day of the period of `kind` that holds `day`.
fn period_start(kind: LimitPeriod, day: NaiveDate) -> NaiveDate {
    match kind {
        LimitPeriod::Day => day,
        LimitPeriod::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
        LimitPeriod::Month => day.with_day(1).unwrap_or(day),
        LimitPeriod::Year => NaiveDate::from_ymd_opt(day.year(), 1, 1).unwrap_or(day),
    }
}

/// The instant a per-resident limit period that holds `t` began.
pub fn limit_window_start(kind: LimitPeriod, t: DateTime<Utc>) -> DateTime<Utc> {
    local_midnight(period_start(kind, local_day(t)))
}

impl PeriodKind {
    /// The settlement period that holds `t`: `2026-11` or `2026-W47`.
    pub fn period_of(self, t: DateTime<Utc>) -> String {
        let day = local_day(t);
        match self {
            Self::Month => format!("{:04}-{:02}", day.year(), day.month()),
            Self::Week => {
                let w = day.iso_week();
                format!("{:04}-W{:02}", w.year(), w.week())
            }
        }
    }

    /// The first instant of a period named in this kind's form; `None` if it is not one.
    pub fn start_of(self, period: &str) -> Option<DateTime<Utc>> {
        let day = match self {
            Self::Month => {
                let (y, m) = period.split_once('-')?;
                if y.len() != 4 || m.len() != 2 {
                    return None;
                }
                NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?
            }
            Self::Week => {
                let (y, w) = period.split_once("-W")?;
                if y.len() != 4 || w.len() != 2 {
                    return None;
                }
                NaiveDate::from_isoywd_opt(y.parse().ok()?, w.parse().ok()?, chrono::Weekday::Mon)?
            }
        };
        Some(local_midnight(day))
    }

    /// The period after `period` (which must be valid).
    pub fn next(self, period: &str) -> Option<String> {
        let start = self.start_of(period)?;
        let later = match self {
            Self::Month => start + Duration::days(32),
            Self::Week => start + Duration::days(7),
        };
        Some(self.period_of(later))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_twenty_unambiguous_characters_and_survive_typing_and_scanning() {
        let code = new_voucher_code();
        assert_eq!(code.len(), 24, "{code}");
        assert_eq!(normalize_code(&code).as_deref(), Some(code.as_str()));
        let typed = code.replace('-', " ").to_lowercase().replace('0', "o");
        assert_eq!(normalize_code(&typed).as_deref(), Some(code.as_str()));
        let scanned = scan_payload("310118", &code);
        assert_eq!(normalize_code(&scanned).as_deref(), Some(code.as_str()));
        assert_eq!(normalize_code("ABCD"), None);
        assert_eq!(normalize_code("ABCD-EFGH-JKMN-PQRS-TVWU"), None);
        assert_ne!(new_voucher_code(), new_voucher_code());
    }

    #[test]
    fn full_width_codes_are_read() {
        let code = new_voucher_code();
        let wide: String = code
            .chars()
            .map(|c| char::from_u32(u32::from(c) + 0xFEE0).unwrap())
            .collect();
        assert_eq!(normalize_code(&wide).as_deref(), Some(code.as_str()));
    }

    proptest::proptest! {
        #[test]
        fn codes_payloads_and_periods_parse_any_text_without_panicking(s in proptest::prelude::any::<String>()) {
            let _ = normalize_code(&s);
            let _ = normalize_code(&format!("HPV1:{s}"));
            let _ = PeriodKind::Month.start_of(&s);
            let _ = PeriodKind::Week.start_of(&s);
            let _ = LimitPeriod::parse(&s);
        }
    }

    #[test]
    fn periods_follow_the_shanghai_calendar() {
        // 2026-11-30 17:00 UTC is 2026-12-01 01:00 in Shanghai.
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 17, 0, 0).unwrap();
        assert_eq!(PeriodKind::Month.period_of(t), "2026-12");
        assert_eq!(PeriodKind::Month.next("2026-12").unwrap(), "2027-01");
        assert_eq!(PeriodKind::Week.period_of(t), "2026-W49");
        assert_eq!(PeriodKind::Week.next("2026-W53").unwrap(), "2027-W01");
        assert!(PeriodKind::Week.start_of("2025-W53").is_none());
        assert!(PeriodKind::Month.start_of("2026-13").is_none());
        assert!(PeriodKind::Month.start_of("26-11").is_none());
        let start = limit_window_start(LimitPeriod::Week, t);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 11, 29, 16, 0, 0).unwrap());
    }
}
