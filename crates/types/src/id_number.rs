//! The check character of a PRC resident ID number (GB 11643-1999): the one rule about ID
//! numbers that more than one service needs — identity checks numbers with it, and the demo and
//! tests make valid ones.

/// Weights of the ISO 7064 MOD 11-2 check digit of a PRC resident ID number (GB 11643-1999).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The check character for the first 17 digits.
pub fn check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(CHECK_CHARS[(sum % 11) as usize])
}

/// The 18-character ID number that the first 17 digits begin, with its check character.
pub fn complete(first17: &str) -> Option<String> {
    check_char(first17).map(|c| format!("{first17}{c}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_character_follows_iso_7064_mod_11_2() {
        // The standard's example, and one whose check character is X.
        assert_eq!(check_char("11010519491231002"), Some('X'));
        assert_eq!(check_char("31011819900307123"), Some('8'));
        assert_eq!(check_char("3101181990030712"), None);
        assert_eq!(check_char("3101181990030712a"), None);
        assert_eq!(
            complete("11010519491231002").as_deref(),
            Some("11010519491231002X")
        );
    }
}
