//! The outbound SIP trunk's pure parts (no sockets): the number plan that turns what a caller
//! keyed or what a caller ID says into E.164 and writes it the way the carrier wants it, and
//! the count of simultaneous calls the carrier allows. The trunk's settings are
//! [`crate::config::TrunkConfig`] (`[trunks.<name>]`).
//!
//! E.164 here is `+` and 5 to 15 digits: a country code (1 to 3 digits) and a national
//! significant number (NSN) of 4 to 14 digits. A contact's phone is stored as typed (see
//! [`crate::contacts::store::check_phone`]); every phone it accepts that is a dialable number
//! reads to the same E.164 through [`NumberPlan::canonical`], so a do-not-contact check
//! compares `canonical(contact.phone)` with the number about to be dialled.

use std::fmt;

/// Digits in an E.164 number, country code included (ITU-T E.164 §6).
pub const E164_MAX_DIGITS: usize = 15;
/// Digits of a national significant number: 4 (the shortest in use) to 14 (15 less a
/// one-digit country code).
pub const NSN_DIGITS: std::ops::RangeInclusive<usize> = 4..=14;
/// What may separate the digits of a number, as [`crate::contacts::store::check_phone`]
/// allows them (besides one leading `+`).
pub const SEPARATORS: &[char] = &[' ', '-', '(', ')'];

/// How the carrier wants numbers in the Request-URI and To of our INVITE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DialFormat {
    /// `+77011234567`
    #[default]
    E164,
    /// `87011234567`: the national prefix and the NSN; numbers abroad stay E.164.
    National,
}

impl DialFormat {
    pub const ALL: [DialFormat; 2] = [DialFormat::E164, DialFormat::National];

    pub fn name(self) -> &'static str {
        match self {
            DialFormat::E164 => "e164",
            DialFormat::National => "national",
        }
    }

    pub fn from_name(name: &str) -> Option<DialFormat> {
        DialFormat::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Why a number cannot be read as E.164.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NumberError {
    /// Nothing but spaces and separators.
    Empty,
    /// A letter or other character that is neither a digit nor a separator (or a `+` that
    /// does not come first).
    NotADigit(char),
    /// Fewer digits than a national significant number needs.
    TooShort,
    /// More than E.164 allows.
    TooLong,
    /// A country code cannot start with 0.
    BadCountryCode,
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberError::Empty => write!(f, "no number: it is empty"),
            NumberError::NotADigit(c) => write!(
                f,
                "{c:?} is not a digit: a number is digits, a leading +, spaces, dashes and brackets"
            ),
            NumberError::TooShort => write!(
                f,
                "too short: a national number is {} to {} digits after the country code or prefix",
                NSN_DIGITS.start(),
                NSN_DIGITS.end()
            ),
            NumberError::TooLong => write!(
                f,
                "too long: an international number is at most {E164_MAX_DIGITS} digits"
            ),
            NumberError::BadCountryCode => write!(f, "a country code does not start with 0"),
        }
    }
}

impl std::error::Error for NumberError {}

/// The country a trunk dials from: its code and the national (trunk) prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberPlan {
    /// Digits without `+`: `"7"` for Kazakhstan.
    pub country_code: String,
    /// What precedes a national number dialled within the country: `"8"` in Kazakhstan;
    /// may be empty (no national prefix).
    pub national_prefix: String,
}

impl Default for NumberPlan {
    fn default() -> Self {
        NumberPlan {
            country_code: "7".into(),
            national_prefix: "8".into(),
        }
    }
}

impl NumberPlan {
    /// A number as keyed or as a caller ID says it, in E.164: `"8 (701) 123-45-67"`,
    /// `"87011234567"`, `"77011234567"` and `"+77011234567"` all give `"+77011234567"`.
    ///
    /// Read in this order: `+` then the country code and NSN; the national prefix then the
    /// NSN; digits alone as the country code and NSN (so with `country_code = "7"`,
    /// `"7011234567"` is `+7011234567`: key the prefix or `+` to be sure).
    pub fn canonical(&self, dialled: &str) -> Result<String, NumberError> {
        let text = dialled.trim();
        let (plus, rest) = match text.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
            } else if !SEPARATORS.contains(&c) {
                return Err(NumberError::NotADigit(c));
            }
        }
        if digits.is_empty() {
            return Err(NumberError::Empty);
        }
        let national =
            !plus && !self.national_prefix.is_empty() && digits.starts_with(&self.national_prefix);
        let international = if national {
            let nsn = &digits[self.national_prefix.len()..];
            check_nsn(nsn)?;
            format!("{}{nsn}", self.country_code)
        } else {
            if digits.starts_with('0') {
                return Err(NumberError::BadCountryCode);
            }
            // Our own country's NSN is measured exactly; elsewhere the country code is 1
            // to 3 digits, so anything up to 15 with room for a 4-digit NSN after one digit.
            match digits.strip_prefix(self.country_code.as_str()) {
                Some(nsn) => check_nsn(nsn)?,
                None if digits.len() < 1 + NSN_DIGITS.start() => return Err(NumberError::TooShort),
                None => {}
            }
            digits
        };
        if international.len() > E164_MAX_DIGITS {
            return Err(NumberError::TooLong);
        }
        Ok(format!("+{international}"))
    }

    /// An E.164 number (from [`canonical`](Self::canonical)) as the trunk wants it:
    /// `"+77011234567"` is `"87011234567"` in the national format; a number in another
    /// country stays E.164 in either format.
    pub fn for_trunk(&self, e164: &str, format: DialFormat) -> String {
        match format {
            DialFormat::E164 => e164.to_string(),
            DialFormat::National => match e164
                .strip_prefix('+')
                .and_then(|d| d.strip_prefix(self.country_code.as_str()))
            {
                Some(nsn) => format!("{}{nsn}", self.national_prefix),
                None => e164.to_string(),
            },
        }
    }
}

fn check_nsn(nsn: &str) -> Result<(), NumberError> {
    if nsn.len() < *NSN_DIGITS.start() {
        Err(NumberError::TooShort)
    } else if nsn.len() > *NSN_DIGITS.end() {
        Err(NumberError::TooLong)
    } else {
        Ok(())
    }
}

/// The carrier's limit on simultaneous calls through the trunk, counted without I/O: a call
/// takes a [`CallPermit`] before its INVITE goes out and gives it back when it ends.
#[derive(Debug)]
pub struct CallLimit {
    max: u32,
    in_use: u32,
}

/// One call's place under a [`CallLimit`]; not `Clone`, so it is given back once.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a permit not released keeps its place taken"]
pub struct CallPermit(());

impl CallLimit {
    pub fn new(max: u32) -> CallLimit {
        CallLimit { max, in_use: 0 }
    }

    /// A place for one more call, or `None` while `max` calls are up.
    pub fn try_acquire(&mut self) -> Option<CallPermit> {
        (self.in_use < self.max).then(|| {
            self.in_use += 1;
            CallPermit(())
        })
    }

    /// The call ended (or never got through): its place is free again.
    pub fn release(&mut self, permit: CallPermit) {
        let CallPermit(()) = permit;
        self.in_use = self.in_use.saturating_sub(1);
    }

    pub fn in_use(&self) -> u32 {
        self.in_use
    }

    pub fn max(&self) -> u32 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::store::check_phone;

    fn kz() -> NumberPlan {
        NumberPlan::default()
    }

    #[test]
    fn every_way_of_writing_a_kazakh_number_reads_as_e164() {
        for dialled in [
            "87011234567",
            "+77011234567",
            "77011234567",
            "8 (701) 123-45-67",
            "+7 (701) 123-45-67",
            "+7 701 123 45 67",
            "  8-701-123-45-67 ",
            "7 (701) 1234567",
        ] {
            assert_eq!(
                kz().canonical(dialled).as_deref(),
                Ok("+77011234567"),
                "{dialled:?}"
            );
        }
        assert_eq!(kz().canonical("87172000000").as_deref(), Ok("+77172000000"));
    }

    #[test]
    fn numbers_abroad_keep_their_country_code() {
        assert_eq!(
            kz().canonical("+44 20 7946 0958").as_deref(),
            Ok("+442079460958")
        );
        assert_eq!(
            kz().canonical("+1 (202) 555-0123").as_deref(),
            Ok("+12025550123")
        );
        // Without + and not starting with 7 or 8: digits are read as country code first.
        assert_eq!(
            kz().canonical("442079460958").as_deref(),
            Ok("+442079460958")
        );
    }

    #[test]
    fn an_nsn_is_4_to_14_digits_and_e164_at_most_15() {
        assert_eq!(kz().canonical("81234").as_deref(), Ok("+71234"));
        assert_eq!(kz().canonical("8123"), Err(NumberError::TooShort));
        assert_eq!(kz().canonical("+7123"), Err(NumberError::TooShort));
        assert_eq!(kz().canonical("7123"), Err(NumberError::TooShort));
        assert_eq!(kz().canonical("+4412"), Err(NumberError::TooShort));
        assert_eq!(kz().canonical("+44123").as_deref(), Ok("+44123"));
        // 14-digit NSN behind a one-digit country code: 15 digits, the most.
        assert_eq!(
            kz().canonical("812345678901234").as_deref(),
            Ok("+712345678901234")
        );
        assert_eq!(
            kz().canonical("8123456789012345"),
            Err(NumberError::TooLong)
        );
        assert_eq!(
            kz().canonical("+7123456789012345"),
            Err(NumberError::TooLong)
        );
        assert_eq!(
            kz().canonical("+4412345678901234"),
            Err(NumberError::TooLong)
        );
        // A 14-digit NSN fits the rule for NSNs but not E.164 behind a 3-digit code.
        let uz = NumberPlan {
            country_code: "998".into(),
            national_prefix: "8".into(),
        };
        assert_eq!(uz.canonical("812345678901234"), Err(NumberError::TooLong));
        assert_eq!(uz.canonical("8901234567").as_deref(), Ok("+998901234567"));
    }

    #[test]
    fn letters_empty_and_stray_plus_are_refused_clearly() {
        assert_eq!(kz().canonical(""), Err(NumberError::Empty));
        assert_eq!(kz().canonical("   "), Err(NumberError::Empty));
        assert_eq!(kz().canonical("+"), Err(NumberError::Empty));
        assert_eq!(kz().canonical("( ) -"), Err(NumberError::Empty));
        assert_eq!(
            kz().canonical("8701CALLNOW"),
            Err(NumberError::NotADigit('C'))
        );
        assert_eq!(
            kz().canonical("8701.123.45.67"),
            Err(NumberError::NotADigit('.'))
        );
        assert_eq!(
            kz().canonical("++77011234567"),
            Err(NumberError::NotADigit('+'))
        );
        assert_eq!(
            kz().canonical("7701+1234567"),
            Err(NumberError::NotADigit('+'))
        );
        assert_eq!(
            kz().canonical("87011234567;ext=1"),
            Err(NumberError::NotADigit(';'))
        );
        assert_eq!(
            kz().canonical("+0701234567"),
            Err(NumberError::BadCountryCode)
        );
        assert_eq!(
            kz().canonical("0701234567"),
            Err(NumberError::BadCountryCode)
        );
        assert_eq!(
            NumberError::NotADigit('C').to_string(),
            "'C' is not a digit: a number is digits, a leading +, spaces, dashes and brackets"
        );
        assert_eq!(
            NumberError::TooShort.to_string(),
            "too short: a national number is 4 to 14 digits after the country code or prefix"
        );
        assert_eq!(
            NumberError::TooLong.to_string(),
            "too long: an international number is at most 15 digits"
        );
        assert_eq!(NumberError::Empty.to_string(), "no number: it is empty");
    }

    #[test]
    fn a_plan_without_a_national_prefix_reads_digits_as_international() {
        let dk = NumberPlan {
            country_code: "45".into(),
            national_prefix: String::new(),
        };
        assert_eq!(dk.canonical("4532123456").as_deref(), Ok("+4532123456"));
        assert_eq!(
            dk.canonical("+45 32 12 34 56").as_deref(),
            Ok("+4532123456")
        );
        assert_eq!(
            dk.for_trunk("+4532123456", DialFormat::National),
            "32123456"
        );
    }

    #[test]
    fn canonical_is_idempotent() {
        for dialled in ["8 (701) 123-45-67", "+44 20 7946 0958", "81234"] {
            let once = kz().canonical(dialled).unwrap();
            assert_eq!(kz().canonical(&once), Ok(once.clone()));
        }
    }

    #[test]
    fn numbers_are_written_for_the_trunk_both_ways() {
        let plan = kz();
        assert_eq!(
            plan.for_trunk("+77011234567", DialFormat::National),
            "87011234567"
        );
        assert_eq!(
            plan.for_trunk("+77011234567", DialFormat::E164),
            "+77011234567"
        );
        // Abroad there is no national form: E.164 either way.
        assert_eq!(
            plan.for_trunk("+442079460958", DialFormat::National),
            "+442079460958"
        );
        // And back: what the trunk is sent reads as the same number.
        for e164 in ["+77011234567", "+77172000000", "+442079460958"] {
            for format in DialFormat::ALL {
                let sent = plan.for_trunk(e164, format);
                assert_eq!(plan.canonical(&sent).as_deref(), Ok(e164), "{sent}");
            }
        }
    }

    #[test]
    fn dial_formats_have_names() {
        assert_eq!(DialFormat::default(), DialFormat::E164);
        for f in DialFormat::ALL {
            assert_eq!(DialFormat::from_name(f.name()), Some(f));
        }
        assert_eq!(DialFormat::from_name("E164"), None);
    }

    /// A contact's phone is kept as typed (`check_phone`), so a do-not-contact match is
    /// `canonical(contact.phone) == canonical(dialled)`: whatever a contact's phone may be,
    /// its stored form reads to the same number as the form typed, every number we would
    /// dial is a phone a contact may have, and one number written any way matches itself.
    #[test]
    fn canonical_numbers_agree_with_contacts_phones() {
        let plan = kz();
        let typed = [
            "87011234567",
            "+77011234567",
            "77011234567",
            "8 (701) 123-45-67",
            " +7 (701) 123 45 67 ",
            "+44 20 7946 0958",
        ];
        for phone in typed {
            let stored = check_phone("phone", phone).expect("a contact may have it");
            assert_eq!(plan.canonical(&stored), plan.canonical(phone), "{phone:?}");
            assert!(plan.canonical(&stored).is_ok(), "{phone:?}");
            let e164 = plan.canonical(phone).unwrap();
            // The canonical form is itself a contact's phone, and reads as itself.
            assert_eq!(
                check_phone("phone", &e164).ok().as_deref(),
                Some(e164.as_str())
            );
        }
        let one: std::collections::BTreeSet<String> = typed[..5]
            .iter()
            .map(|p| plan.canonical(p).unwrap())
            .collect();
        assert_eq!(one.len(), 1, "{one:?}");
    }

    proptest::proptest! {
        /// Every number `canonical` reads from text a contact's phone could be (up to 32
        /// characters), `check_phone` accepts, stored as a form that reads the same.
        #[test]
        fn whatever_canonical_reads_check_phone_accepts(text in "\\+?[0-9 ()-]{0,31}") {
            if let Ok(e164) = kz().canonical(&text) {
                let stored = check_phone("phone", &text);
                proptest::prop_assert!(stored.is_ok(), "{text:?} read as {e164}");
                proptest::prop_assert_eq!(kz().canonical(&stored.unwrap()), Ok(e164));
            }
        }

        /// And the way round: a phone `check_phone` accepts either reads, or is refused for
        /// its length or a leading 0 (E.164 is narrower than a contact's 3-20 digits).
        #[test]
        fn a_contacts_phone_canonical_refuses_is_refused_for_length_or_country_code(
            text in "\\+?[0-9 ()-]{0,31}"
        ) {
            if check_phone("phone", &text).is_ok() {
                if let Err(e) = kz().canonical(&text) {
                    proptest::prop_assert!(
                        matches!(e, NumberError::TooShort | NumberError::TooLong | NumberError::BadCountryCode),
                        "{:?}: {:?}", text, e
                    );
                }
            }
        }
    }

    #[test]
    fn the_call_limit_counts_calls_up_to_its_maximum() {
        let mut limit = CallLimit::new(2);
        assert_eq!((limit.in_use(), limit.max()), (0, 2));
        let a = limit.try_acquire().expect("room for the first");
        let b = limit.try_acquire().expect("room for the second");
        assert_eq!(limit.in_use(), 2);
        assert_eq!(limit.try_acquire(), None);
        assert_eq!(limit.in_use(), 2, "a refusal takes no place");
        limit.release(a);
        assert_eq!(limit.in_use(), 1);
        let c = limit.try_acquire().expect("a released place is free again");
        assert_eq!(limit.try_acquire(), None);
        limit.release(b);
        limit.release(c);
        assert_eq!(limit.in_use(), 0);
        let mut none = CallLimit::new(0);
        assert_eq!(none.try_acquire(), None);
    }
}
