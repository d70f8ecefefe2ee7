//! Validated personal values. Each `parse` names what is wrong without echoing the value, so
//! errors and logs never carry an ID or phone number.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use healthpoints_types::{
    id_number::check_char as id_check_char,
    text::{Lines, free_text, halfwidth},
};

/// An 18-character PRC resident ID number with a valid birth date and check digit.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber {
    value: String,
    birth_date: NaiveDate,
}

impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

impl IdNumber {
    /// Parses and validates; a lowercase `x` check character is accepted, and full-width
    /// digits and `Ｘ` (as Chinese input methods type them) are read as ASCII. `today` bounds
    /// the birth date.
    pub fn parse(raw: &str, today: NaiveDate) -> Result<Self, &'static str> {
        let value = halfwidth(raw).trim().to_ascii_uppercase();
        if value.chars().count() != 18 {
            return Err("must be 18 characters");
        }
        if !value.chars().take(17).all(|c| c.is_ascii_digit()) {
            return Err("the first 17 characters must be digits");
        }
        // The first 17 bytes are ASCII digits, so 17 is a character boundary; once the last
        // character is checked the whole value is ASCII and byte offsets are characters.
        let (first17, last) = value.split_at(17);
        if !last.chars().all(|c| c.is_ascii_digit() || c == 'X') {
            return Err("the last character must be a digit or X");
        }
        if !(b'1'..=b'8').contains(&first17.as_bytes()[0]) {
            return Err("does not start with a valid region code");
        }
        let birth_date = NaiveDate::parse_from_str(&first17[6..14], "%Y%m%d")
            .map_err(|_| "does not contain a valid birth date")?;
        if birth_date.year() < 1900 || birth_date > today {
            return Err("does not contain a plausible birth date");
        }
        if id_check_char(first17) != last.chars().next() {
            return Err("check digit does not match");
        }
        Ok(Self { value, birth_date })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// `3101**********1234`: region prefix and last four only.
    pub fn masked(&self) -> String {
        format!(
            "{}{}{}",
            &self.value[..4],
            "*".repeat(10),
            &self.value[14..]
        )
    }
}

/// A mainland mobile number: 11 digits starting 13–19.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Phone {
    /// Parses; spaces, dashes and a leading +86 are ignored, full-width digits read as ASCII.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let digits: String = halfwidth(raw)
            .trim()
            .trim_start_matches("+86")
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        let ok = digits.len() == 11
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.starts_with('1')
            && (b'3'..=b'9').contains(&digits.as_bytes()[1]);
        if ok {
            Ok(Self(digits))
        } else {
            Err("must be an 11-digit mainland mobile number")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****5678`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

/// Checks a new password: 8 to 128 characters with at least one letter and one digit.
pub fn check_password(password: &str) -> Result<(), &'static str> {
    let len = password.chars().count();
    if len < 8 {
        return Err("must be at least 8 characters");
    }
    if len > 128 {
        return Err("must be at most 128 characters");
    }
    if !password.chars().any(char::is_alphabetic) || !password.chars().any(|c| c.is_ascii_digit()) {
        return Err("must contain at least one letter and one digit");
    }
    Ok(())
}

/// Checks a real name: 1 to 50 characters, no control characters. Returns it trimmed.
pub fn check_name(name: &str) -> Result<String, String> {
    free_text(name, 50, true, Lines::One).map_err(|e| e.0)
}

/// A name as others may see it: the first and last characters kept, the rest masked
/// (`张*明`, `张*`, `欧**明`); a one-character name shows as `*`.
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.as_slice() {
        [] | [_] => "*".to_owned(),
        [first, _] => format!("{first}*"),
        [first, middle @ .., last] => format!("{first}{}{last}", "*".repeat(middle.len())),
    }
}

/// Checks a staff username: 3 to 32 characters of `a-z 0-9 . _ -`, starting with a letter.
/// Usernames never look like phone numbers, so one login field serves both.
pub fn check_username(username: &str) -> Result<String, &'static str> {
    let u = username.trim().to_ascii_lowercase();
    let ok = (3..=32).contains(&u.len())
        && u.as_bytes()[0].is_ascii_lowercase()
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(u)
    } else {
        Err("must be 3 to 32 characters of a-z, 0-9, '.', '_' or '-', starting with a letter")
    }
}

/// Calendar "today" in Asia/Shanghai (UTC+8 all year, no daylight saving), which bounds the
/// dates people type.
pub fn shanghai_today(now: DateTime<Utc>) -> NaiveDate {
    healthpoints_types::calendar::local_date(now)
}

/// Parses a calendar date written `YYYY-MM-DD`.
pub fn parse_date(raw: &str) -> Result<NaiveDate, &'static str> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| "must be a date YYYY-MM-DD")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    /// A valid ID number for the given birth date and sequence.
    pub(crate) fn valid_id(birth: &str, seq: u32) -> String {
        let first17 = format!("310118{birth}{seq:03}");
        format!("{first17}{}", id_check_char(&first17).unwrap())
    }

    #[test]
    fn accepts_a_valid_id_number_and_derives_the_birth_date() {
        // A published sample number with check character X.
        let id = IdNumber::parse("11010519491231002x", today()).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        let id = IdNumber::parse(&valid_id("19900307", 123), today()).unwrap();
        assert_eq!(id.masked(), format!("3101**********{}", &id.as_str()[14..]));
    }

    #[test]
    fn rejects_a_wrong_check_digit() {
        let good = valid_id("19900307", 123);
        let wrong = if good.ends_with('0') { '1' } else { '0' };
        let bad = format!("{}{wrong}", &good[..17]);
        assert_eq!(
            IdNumber::parse(&bad, today()).unwrap_err(),
            "check digit does not match"
        );
    }

    #[test]
    fn rejects_malformed_id_numbers() {
        assert_eq!(
            IdNumber::parse("12345", today()).unwrap_err(),
            "must be 18 characters"
        );
        assert!(
            IdNumber::parse("31011819900230123X", today()).is_err(),
            "30 February"
        );
        assert!(
            IdNumber::parse(&valid_id("20301231", 1), today()).is_err(),
            "born in the future"
        );
        assert!(IdNumber::parse("3101181990030712A3", today()).is_err());
        assert!(IdNumber::parse("01011819900307123X", today()).is_err());
    }

    #[test]
    fn full_width_id_numbers_and_phones_read_as_what_the_person_meant() {
        // As a Chinese input method types them: full-width digits and Ｘ.
        let wide: String = valid_id("19900307", 123)
            .chars()
            .map(|c| char::from_u32(u32::from(c) + 0xFEE0).unwrap())
            .collect();
        let id = IdNumber::parse(&wide, today()).unwrap();
        assert_eq!(id.as_str(), valid_id("19900307", 123));
        let id = IdNumber::parse("１１０１０５１９４９１２３１００２ｘ", today()).unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(
            IdNumber::parse("３１０１１８１９９００３０７１２３中", today()).unwrap_err(),
            "the last character must be a digit or X"
        );
        assert_eq!(
            Phone::parse("１３８１２３４５６７８").unwrap().as_str(),
            "13812345678"
        );
    }

    proptest::proptest! {
        #[test]
        fn personal_values_parse_any_text_without_panicking(s in proptest::prelude::any::<String>()) {
            proptest::prop_assert!(IdNumber::parse(&s, today()).err().is_none_or(|e| !e.is_empty()));
            proptest::prop_assert!(Phone::parse(&s).err().is_none_or(|e| !e.is_empty()));
            proptest::prop_assert!(check_name(&s).err().is_none_or(|e| !e.is_empty()));
            proptest::prop_assert!(check_username(&s).err().is_none_or(|e| !e.is_empty()));
            proptest::prop_assert!(check_password(&s).err().is_none_or(|e| !e.is_empty()));
            proptest::prop_assert!(parse_date(&s).err().is_none_or(|e| !e.is_empty()));
            let _ = mask_name(&s);
        }

        #[test]
        fn id_numbers_of_any_digits_parse_without_panicking(s in "[0-9０-９xXｘＸ]{0,20}") {
            proptest::prop_assert!(IdNumber::parse(&s, today()).err().is_none_or(|e| !e.is_empty()));
        }
    }

    #[test]
    fn names_keep_only_their_first_and_last_characters() {
        assert_eq!(mask_name("张小明"), "张*明");
        assert_eq!(mask_name("欧阳小明"), "欧**明");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("李"), "*");
    }

    #[test]
    fn phones_are_normalised_and_masked() {
        let p = Phone::parse("+86 138-1234-5678").unwrap();
        assert_eq!(p.as_str(), "13812345678");
        assert_eq!(p.masked(), "138****5678");
        assert!(Phone::parse("12812345678").is_err());
        assert!(Phone::parse("1381234567").is_err());
        assert!(!format!("{p:?}").contains("1234"));
    }

    #[test]
    fn password_policy() {
        assert!(check_password("short1").is_err());
        assert!(check_password("lettersonly").is_err());
        assert!(check_password("12345678").is_err());
        assert!(check_password("good-pass-1").is_ok());
    }

    #[test]
    fn usernames_cannot_look_like_phones() {
        assert!(check_username("13812345678").is_err());
        assert_eq!(check_username("Admin.Qingpu").unwrap(), "admin.qingpu");
    }
}
