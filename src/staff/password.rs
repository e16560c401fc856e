//! Password policy (MISSION §6): 8–20 characters with a lower-case letter, an upper-case
//! letter and a digit. Every broken rule is reported, each with a message in kk, ru and en.
//! Temporary passwords (issued on reset, changed at first login) satisfy the policy.

use rand::Rng;

use crate::staff::Language;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRule {
    TooShort,
    TooLong,
    NoLowercase,
    NoUppercase,
    NoDigit,
}

impl PasswordRule {
    pub fn code(self) -> &'static str {
        match self {
            PasswordRule::TooShort => "password_too_short",
            PasswordRule::TooLong => "password_too_long",
            PasswordRule::NoLowercase => "password_no_lowercase",
            PasswordRule::NoUppercase => "password_no_uppercase",
            PasswordRule::NoDigit => "password_no_digit",
        }
    }

    pub fn message(self, lang: Language) -> &'static str {
        use Language::*;
        use PasswordRule::*;
        match (self, lang) {
            (TooShort, En) => "The password must have at least 8 characters.",
            (TooShort, Ru) => "Пароль должен содержать не менее 8 символов.",
            (TooShort, Kk) => "Құпиясөз кемінде 8 таңбадан тұруы керек.",
            (TooLong, En) => "The password must have at most 20 characters.",
            (TooLong, Ru) => "Пароль должен содержать не более 20 символов.",
            (TooLong, Kk) => "Құпиясөз 20 таңбадан аспауы керек.",
            (NoLowercase, En) => "The password needs a lower-case letter.",
            (NoLowercase, Ru) => "Пароль должен содержать строчную букву.",
            (NoLowercase, Kk) => "Құпиясөзде кіші әріп болуы керек.",
            (NoUppercase, En) => "The password needs an upper-case letter.",
            (NoUppercase, Ru) => "Пароль должен содержать заглавную букву.",
            (NoUppercase, Kk) => "Құпиясөзде бас әріп болуы керек.",
            (NoDigit, En) => "The password needs a digit.",
            (NoDigit, Ru) => "Пароль должен содержать цифру.",
            (NoDigit, Kk) => "Құпиясөзде сан болуы керек.",
        }
    }
}

/// Every rule the password breaks (empty = acceptable). Letters of any script count.
pub fn check(password: &str) -> Vec<PasswordRule> {
    let mut broken = Vec::new();
    let len = password.chars().count();
    if len < 8 {
        broken.push(PasswordRule::TooShort);
    }
    if len > 20 {
        broken.push(PasswordRule::TooLong);
    }
    if !password.chars().any(char::is_lowercase) {
        broken.push(PasswordRule::NoLowercase);
    }
    if !password.chars().any(char::is_uppercase) {
        broken.push(PasswordRule::NoUppercase);
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        broken.push(PasswordRule::NoDigit);
    }
    broken
}

/// A 12-character temporary password that meets the policy (no look-alike characters).
pub fn temporary(rng: &mut impl Rng) -> String {
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    let all: Vec<u8> = [LOWER, UPPER, DIGIT].concat();
    let mut out: Vec<u8> = vec![
        LOWER[rng.random_range(0..LOWER.len())],
        UPPER[rng.random_range(0..UPPER.len())],
        DIGIT[rng.random_range(0..DIGIT.len())],
    ];
    while out.len() < 12 {
        out.push(all[rng.random_range(0..all.len())]);
    }
    // Shuffle so the required classes are not always first.
    for i in (1..out.len()).rev() {
        out.swap(i, rng.random_range(0..=i));
    }
    String::from_utf8(out).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn each_rule() {
        assert!(check("Qonyrau2026").is_empty());
        assert_eq!(check("Qa1"), [PasswordRule::TooShort]);
        assert_eq!(check("Qonyrau2026Qonyrau2026"), [PasswordRule::TooLong]);
        assert_eq!(check("qonyrau2026"), [PasswordRule::NoUppercase]);
        assert_eq!(check("QONYRAU2026"), [PasswordRule::NoLowercase]);
        assert_eq!(check("Qonyrauuu"), [PasswordRule::NoDigit]);
        assert_eq!(
            check(""),
            [
                PasswordRule::TooShort,
                PasswordRule::NoLowercase,
                PasswordRule::NoUppercase,
                PasswordRule::NoDigit
            ]
        );
        assert!(check("Қоңырау2026").is_empty(), "Kazakh letters count");
        assert_eq!(
            check("abcdefgh12345678901"),
            [PasswordRule::NoUppercase],
            "19 chars fine"
        );
    }

    #[test]
    fn messages_exist_in_three_languages() {
        assert_eq!(
            PasswordRule::NoDigit.message(Language::Ru),
            "Пароль должен содержать цифру."
        );
        assert_eq!(PasswordRule::TooShort.code(), "password_too_short");
    }

    #[test]
    fn temporary_passwords_meet_the_policy() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..500 {
            let p = temporary(&mut rng);
            assert!(check(&p).is_empty(), "{p}");
        }
    }
}
