//! IIN (individual) and BIN (organisation) numbers of the Republic of Kazakhstan: 12 digits,
//! the last a check digit. Check digit: Σ dᵢ·wᵢ mod 11 with weights 1…11; if that gives 10,
//! again with weights 3…11, 1, 2; if 10 again, no valid number has those first 11 digits.
//! IIN: YYMMDD, then the century-and-sex digit (1–6), a serial, the check digit.
//! BIN: YYMM of registration, then the entity type (4 resident legal entity, 5 non-resident,
//! 6 individual entrepreneur in joint form), the unit (0 head office, 1 branch,
//! 2 representative office, 3 peasant farm), a serial, the check digit.

use std::fmt;

use crate::pii::Pii;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("must be exactly 12 digits")]
    Format,
    #[error("check digit does not match")]
    CheckDigit,
    #[error("birth date {0} is not a date")]
    BirthDate(String),
    #[error("7th digit {0} must be 1-6 (century and sex)")]
    Century(u8),
    #[error("5th digit {0} must be 4, 5 or 6 (type of entity)")]
    EntityType(u8),
    #[error("6th digit {0} must be 0-3 (head office, branch, representative, farm)")]
    Unit(u8),
}

fn digits(s: &str) -> Result<[u8; 12], IdentError> {
    let b = s.as_bytes();
    if b.len() != 12 || !b.iter().all(u8::is_ascii_digit) {
        return Err(IdentError::Format);
    }
    Ok(std::array::from_fn(|i| b[i] - b'0'))
}

/// The check digit for the first 11 digits, or `None` when no valid number exists.
pub fn check_digit(d: &[u8; 12]) -> Option<u8> {
    let first: u32 = (0..11)
        .map(|i| u32::from(d[i]) * (i as u32 + 1))
        .sum::<u32>()
        % 11;
    if first != 10 {
        return Some(first as u8);
    }
    const W2: [u32; 11] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];
    let second: u32 = (0..11).map(|i| u32::from(d[i]) * W2[i]).sum::<u32>() % 11;
    (second != 10).then_some(second as u8)
}

fn verify(d: &[u8; 12]) -> Result<(), IdentError> {
    match check_digit(d) {
        Some(c) if c == d[11] => Ok(()),
        _ => Err(IdentError::CheckDigit),
    }
}

/// An individual's identification number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Iin(String);

impl Iin {
    pub fn parse(s: &str) -> Result<Iin, IdentError> {
        let d = digits(s.trim())?;
        let century = d[6];
        if !(1..=6).contains(&century) {
            return Err(IdentError::Century(century));
        }
        // 1, 2: born in the 1800s; 3, 4: the 1900s; 5, 6: the 2000s (odd digits male).
        let year = 1800 + 100 * i16::from((century - 1) / 2) + i16::from(d[0] * 10 + d[1]);
        let (month, day) = ((d[2] * 10 + d[3]) as i8, (d[4] * 10 + d[5]) as i8);
        if jiff::civil::Date::new(year, month, day).is_err() {
            return Err(IdentError::BirthDate(format!("{year}-{month:02}-{day:02}")));
        }
        verify(&d)?;
        Ok(Iin(s.trim().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organisation's business identification number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bin(String);

impl Bin {
    pub fn parse(s: &str) -> Result<Bin, IdentError> {
        let d = digits(s.trim())?;
        if !(4..=6).contains(&d[4]) {
            return Err(IdentError::EntityType(d[4]));
        }
        if d[5] > 3 {
            return Err(IdentError::Unit(d[5]));
        }
        verify(&d)?;
        Ok(Bin(s.trim().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Never print the number itself: logs and debug output get the masked form.
impl fmt::Debug for Iin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iin({})", Pii(&self.0))
    }
}

impl fmt::Display for Iin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Pii(&self.0))
    }
}

impl fmt::Debug for Bin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bin({})", Pii(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Complete 11 digits with their check digit (for building test numbers).
    fn with_check(first11: &str) -> Option<String> {
        let mut d = [0u8; 12];
        for (i, b) in first11.bytes().enumerate() {
            d[i] = b - b'0';
        }
        check_digit(&d).map(|c| format!("{first11}{c}"))
    }

    #[test]
    fn known_valid_numbers() {
        // 9·1 + 1·4 + 1·6 + 3·7 + 1·10 + 2·11 = 72 ≡ 6 (mod 11).
        let iin = with_check("90010130012").unwrap();
        assert_eq!(iin, "900101300126");
        assert!(Iin::parse(&iin).is_ok());
        let bin = with_check("99034000123").unwrap();
        assert!(Bin::parse(&bin).is_ok());
    }

    #[test]
    fn the_second_weighting_is_used_when_the_first_gives_ten() {
        // 00000000010x: first weighting 1·10th digit… find a prefix whose first sum is 10.
        let mut d = [0u8; 12];
        d[9] = 1; // weight 10 -> sum 10
        assert_eq!(check_digit(&d), Some(1)); // second weighting: weight 1 for the 10th digit
    }

    #[test]
    fn wrong_numbers_say_why() {
        assert_eq!(Iin::parse("90010130012"), Err(IdentError::Format));
        assert_eq!(Iin::parse("9001013001A5"), Err(IdentError::Format));
        assert_eq!(Iin::parse("900101300125"), Err(IdentError::CheckDigit));
        assert_eq!(
            Iin::parse("901301300125"),
            Err(IdentError::BirthDate("1990-13-01".into()))
        );
        assert_eq!(Iin::parse("900101900125"), Err(IdentError::Century(9)));
        assert_eq!(Bin::parse("990390001234"), Err(IdentError::EntityType(9)));
        assert_eq!(Bin::parse("990348001234"), Err(IdentError::Unit(8)));
    }

    #[test]
    fn an_iin_never_prints_itself() {
        let iin = Iin::parse("900101300126").unwrap();
        assert_eq!(format!("{iin:?}"), "Iin(********0126)");
        assert_eq!(iin.to_string(), "********0126");
    }

    fn first_sum(s: &str) -> u32 {
        s.bytes()
            .take(11)
            .enumerate()
            .map(|(i, b)| u32::from(b - b'0') * (i as u32 + 1))
            .sum::<u32>()
            % 11
    }

    #[test]
    fn the_second_weighting_can_hide_a_changed_digit() {
        // A property of the national algorithm, not of this code: 900101300126 with its 5th
        // digit raised by 3 has a first sum of 10, and the second weighting gives 6 again.
        assert_eq!(first_sum("900131300126"), 10);
        assert!(Iin::parse("900131300126").is_ok());
    }

    #[test]
    fn the_eleventh_digit_is_invisible_to_the_first_weighting() {
        // Its weight is 11 ≡ 0 (mod 11): 900101300126 and 900101300136 both check.
        assert!(Iin::parse("900101300136").is_ok());
    }

    proptest! {
        /// Whenever the first weighting decides both numbers, one changed digit among the
        /// first ten is caught.
        #[test]
        fn changing_one_digit_breaks_the_check(pos in 0usize..10, delta in 1u8..10) {
            let good = "900101300126";
            let mut b = good.as_bytes().to_vec();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let bad = String::from_utf8(b).unwrap();
            prop_assume!(first_sum(&bad) != 10);
            prop_assert!(Iin::parse(&bad).is_err(), "{bad}");
        }
    }
}
