//! Personal data in logs (STYLE.md §9): wrap caller numbers, IINs, names in [`Pii`], whose
//! `Display` and `Debug` show only what identifies nothing (the last four characters of a
//! number) unless redaction is switched off (`[log] redact_pii = false`, never in production).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static REDACT: AtomicBool = AtomicBool::new(true);

/// Set once at start-up from the config.
pub fn set_redaction(on: bool) {
    REDACT.store(on, Ordering::Relaxed);
}

pub struct Pii<T>(pub T);

impl<T: AsRef<str>> Pii<T> {
    pub fn expose(&self) -> &str {
        self.0.as_ref()
    }
}

fn masked(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    if digits >= 6 {
        // A number: keep the last four.
        let keep = chars.len().saturating_sub(4);
        chars
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < keep && c.is_ascii_alphanumeric() {
                    '*'
                } else {
                    *c
                }
            })
            .collect()
    } else {
        // A name or anything else: its first letter.
        match chars.first() {
            Some(c) => format!("{c}***"),
            None => String::new(),
        }
    }
}

impl<T: AsRef<str>> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if REDACT.load(Ordering::Relaxed) {
            f.write_str(&masked(self.0.as_ref()))
        } else {
            f.write_str(self.0.as_ref())
        }
    }
}

impl<T: AsRef<str>> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pii({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_last_four_and_names_their_initial() {
        assert_eq!(Pii("900101300123").to_string(), "********0123");
        assert_eq!(Pii("+77011234567").to_string(), "+*******4567");
        assert_eq!(Pii("Айгерім").to_string(), "А***");
        assert_eq!(format!("{:?}", Pii("900101300123")), "Pii(********0123)");
        assert_eq!(Pii("900101300123").expose(), "900101300123");
    }
}
