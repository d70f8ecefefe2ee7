//! Text as people and partner systems type it. Chinese input methods write digits and Latin
//! letters in their full-width forms (`３１０１１８…`, `Ｘ`); [`halfwidth`] folds them to the
//! ASCII the person meant before any parser looks at the text. [`free_text`] is the one check of
//! a free-text field (a name, a title, a reason): trimmed, bounded, and without control
//! characters, which would otherwise travel into statements, CSV downloads and logs.

use std::borrow::Cow;

use crate::ParseError;

/// Folds full-width ASCII forms (U+FF01–U+FF5E) and the ideographic space (U+3000) to their
/// ASCII equivalents; other characters are kept as they are.
pub fn halfwidth(s: &str) -> Cow<'_, str> {
    let wide = |c: char| ('\u{FF01}'..='\u{FF5E}').contains(&c) || c == '\u{3000}';
    if !s.chars().any(wide) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\u{3000}' => ' ',
                c if wide(c) => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
                c => c,
            })
            .collect(),
    )
}

/// Whether a free-text field may span lines (a description) or not (a name, a title).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// Checks a free-text field: trimmed, 1 to `max` characters (`min_one`) or 0 to `max`, and no
/// control characters — except line breaks and tabs where `lines` is [`Lines::Many`]. Answers
/// the trimmed text; the error never repeats the text.
pub fn free_text(
    value: &str,
    max: usize,
    min_one: bool,
    lines: Lines,
) -> Result<String, ParseError> {
    let v = value.trim();
    if min_one && v.is_empty() {
        return Err(ParseError("must not be empty".into()));
    }
    if v.chars().count() > max {
        return Err(ParseError(format!("must be at most {max} characters")));
    }
    let allowed = |c: char| lines == Lines::Many && matches!(c, '\n' | '\r' | '\t');
    if v.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(ParseError(match lines {
            Lines::One => "must not contain control characters or line breaks".into(),
            Lines::Many => "must not contain control characters (line breaks are fine)".into(),
        }));
    }
    Ok(v.to_owned())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn full_width_digits_and_letters_become_ascii() {
        assert_eq!(
            halfwidth("３１０１１８１９９００３０７１２３Ｘ"),
            "31011819900307123X"
        );
        assert_eq!(halfwidth("１３８　１２３４"), "138 1234");
        assert!(matches!(halfwidth("310118"), Cow::Borrowed(_)));
        assert_eq!(halfwidth("张伟"), "张伟");
    }

    #[test]
    fn free_text_refuses_control_characters_but_lets_descriptions_break_lines() {
        assert_eq!(
            free_text("  Flu shot ", 80, true, Lines::One).unwrap(),
            "Flu shot"
        );
        assert!(free_text("Flu\0shot", 80, true, Lines::One).is_err());
        assert!(free_text("Flu\nshot", 80, true, Lines::One).is_err());
        assert!(free_text("Line one\nLine two", 2000, false, Lines::Many).is_ok());
        assert!(free_text("bell\u{7}", 2000, false, Lines::Many).is_err());
        assert!(free_text("   ", 80, true, Lines::One).is_err());
        assert!(free_text("", 80, false, Lines::One).is_ok());
        assert!(free_text("一二三", 2, true, Lines::One).is_err());
    }

    proptest! {
        #[test]
        fn halfwidth_never_panics_and_keeps_the_length_in_characters(s in any::<String>()) {
            prop_assert_eq!(halfwidth(&s).chars().count(), s.chars().count());
        }

        #[test]
        fn free_text_never_panics_and_never_answers_a_control_character(s in any::<String>()) {
            if let Ok(v) = free_text(&s, 100, true, Lines::One) {
                prop_assert!(!v.chars().any(char::is_control));
                prop_assert!(!v.is_empty() && v.chars().count() <= 100);
            }
        }
    }
}
