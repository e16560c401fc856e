//! What a caller waiting in a queue hears (MISSION §1.1): their position, the estimated wait
//! and whether waiting is free, in Kazakh, Russian or English, as a list of prompt names that
//! resolve to `sounds/<lang>/<name>.wav`. Pure.
//!
//! Numbers 1..=999 are said from fragments (units, teens, tens, hundreds), never one WAV per
//! number. The names are the same in every language and every name has a WAV in every
//! language, so the prompt library check needs no per-language list: where a language does not
//! make a distinction the Russian grammar needs, two names say the same words (`num_1_f` is
//! "one" in English and "бір" in Kazakh, as is `num_1`; `minute_few` and `minute_many` are both
//! "minutes" in English, and all three `minute_*` are "минут" in Kazakh).
//!
//! The words of every prompt are in `phrases.tsv`, read here by [`text`] and by
//! `scripts/make-number-prompts.sh`, which speaks them into the WAVs.

use std::collections::BTreeSet;
use std::time::Duration;

/// A caller's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    Kk,
    Ru,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Kk, Lang::Ru, Lang::En];

    /// The call's prompt language (`kk`, `ru`, `en`; anything else is English).
    pub fn from_code(code: &str) -> Lang {
        match code {
            "kk" => Lang::Kk,
            "ru" => Lang::Ru,
            _ => Lang::En,
        }
    }

    /// The directory under `sounds/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Kk => "kk",
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }
}

/// The grammatical gender a numeral agrees with. Only Russian 1 and 2 (and 21, 22, 101, …)
/// change: "одна минута", "две минуты", but "номер … двадцать один".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Masculine,
    Feminine,
}

/// The form a noun takes after a number (the CLDR plural categories "one", "few", "many").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    One,
    Few,
    Many,
}

/// The largest number said; positions and waits above it are said as this number.
pub const MAX_NUMBER: u32 = 999;

/// "Your number in the queue is …"
pub const POSITION_IS: &str = "queue_position_is";
/// "You are next in the queue."
pub const NEXT: &str = "queue_next";
/// "The estimated waiting time is …"
pub const WAIT_IS: &str = "queue_wait_is";
/// "… less than a minute."
pub const WAIT_UNDER_MINUTE: &str = "queue_wait_under_minute";
/// "Waiting for an operator is free of charge."
pub const FREE: &str = "queue_free";
/// "Waiting for an operator is charged at your carrier's rate."
pub const PAID: &str = "queue_paid";
/// The noun "minute" in the form for [`Form::One`], [`Form::Few`], [`Form::Many`].
pub const MINUTE: [&str; 3] = ["minute_one", "minute_few", "minute_many"];

/// 1..=19 (index = number; 0 is unused).
const UNITS_AND_TEENS: [&str; 20] = [
    "", "num_1", "num_2", "num_3", "num_4", "num_5", "num_6", "num_7", "num_8", "num_9", "num_10",
    "num_11", "num_12", "num_13", "num_14", "num_15", "num_16", "num_17", "num_18", "num_19",
];
/// The feminine 1 and 2 (Russian "одна", "две").
const ONE_F: &str = "num_1_f";
const TWO_F: &str = "num_2_f";
/// 20, 30, …, 90 (index = tens digit; 0 and 1 are unused).
const TENS: [&str; 10] = [
    "", "", "num_20", "num_30", "num_40", "num_50", "num_60", "num_70", "num_80", "num_90",
];
/// 100, 200, …, 900 (index = hundreds digit; 0 is unused).
const HUNDREDS: [&str; 10] = [
    "", "num_100", "num_200", "num_300", "num_400", "num_500", "num_600", "num_700", "num_800",
    "num_900",
];

/// The whole announcement in the order it is played: position, estimated wait, charge.
/// `ewt_seconds` is the estimated waiting time; see [`wait`] for how it is rounded.
pub fn announcement(lang: Lang, position: u32, ewt_seconds: f64, paid: bool) -> Vec<&'static str> {
    announcement_told(lang, position, Some(ewt_seconds), paid)
}

/// What a waiting caller is told: [`announcement`] when there is an estimate; without one
/// (nobody serves the queue) the position and the charge only.
pub fn announcement_told(
    lang: Lang,
    position: u32,
    ewt_seconds: Option<f64>,
    paid: bool,
) -> Vec<&'static str> {
    let mut names = self::position(position);
    if let Some(s) = ewt_seconds {
        names.extend(wait(lang, s));
    }
    names.extend(free_of_charge(paid));
    names
}

/// "Your number in the queue is N", or "You are next in the queue" for position 1 (and for
/// 0, which a queue should not produce). Positions count from 1 and are capped at
/// [`MAX_NUMBER`]. No language needs an ordinal: the number is said in its counting form
/// (Russian masculine, "двадцать один") after "your number in the queue is", and one order of
/// names serves every language.
pub fn position(n: u32) -> Vec<&'static str> {
    if n <= 1 {
        return vec![NEXT];
    }
    let mut names = vec![POSITION_IS];
    names.extend(number(n.min(MAX_NUMBER), Gender::Masculine));
    names
}

/// "The estimated waiting time is M minutes", or "… less than a minute".
pub fn wait(lang: Lang, seconds: f64) -> Vec<&'static str> {
    let mut names = vec![WAIT_IS];
    match whole_minutes(seconds) {
        0 => names.push(WAIT_UNDER_MINUTE),
        m => names.extend(minutes(lang, m)),
    }
    names
}

/// The estimated wait in the whole minutes said: 0 ("less than a minute") under 60 s, else
/// rounded to the nearest minute (90 s is 2), at most [`MAX_NUMBER`]. A wait that is not a
/// number or is negative is said as under a minute; an infinite one as the cap.
pub fn whole_minutes(seconds: f64) -> u32 {
    if seconds.is_nan() || seconds < 60.0 {
        return 0;
    }
    // `as` saturates, so infinity lands on the cap.
    ((seconds / 60.0).round() as u32).min(MAX_NUMBER)
}

/// "M minutes" with the numeral and the noun agreeing: Russian "двадцать одна минута",
/// "двадцать две минуты", "одиннадцать минут"; Kazakh "жиырма бір минут" (the noun stays
/// singular); English "twenty one minutes". `m` is capped at [`MAX_NUMBER`]; 0 says nothing.
pub fn minutes(lang: Lang, m: u32) -> Vec<&'static str> {
    if m == 0 {
        return Vec::new();
    }
    let m = m.min(MAX_NUMBER);
    // "минута" is feminine.
    let mut names = number(m, Gender::Feminine);
    names.push(MINUTE[form(lang, m) as usize]);
    names
}

/// "Waiting for an operator is free of charge", or that it is charged at the carrier's rate.
pub fn free_of_charge(paid: bool) -> Vec<&'static str> {
    vec![if paid { PAID } else { FREE }]
}

/// The fragments that say `n` (1..=999; 0 says nothing, larger is capped): hundreds, then a
/// teen or tens and a unit. "101" is "сто один", "жүз бір", "one hundred one": English says no
/// "and", so every language uses the same fragments in the same order.
pub fn number(n: u32, gender: Gender) -> Vec<&'static str> {
    let n = n.min(MAX_NUMBER) as usize;
    let mut names = Vec::with_capacity(3);
    if n >= 100 {
        names.push(HUNDREDS[n / 100]);
    }
    let rest = n % 100;
    if rest >= 20 {
        names.push(TENS[rest / 10]);
    }
    let last = if rest < 20 { rest } else { rest % 10 };
    match (last, gender) {
        (0, _) => {}
        (1, Gender::Feminine) => names.push(ONE_F),
        (2, Gender::Feminine) => names.push(TWO_F),
        _ => names.push(UNITS_AND_TEENS[last]),
    }
    names
}

/// The form of a noun after `n` in `lang`. Russian: 1, 21, 101 … take "one" ("минута"),
/// 2–4, 22–24 … "few" ("минуты"), the rest and 11–14 "many" ("минут"). English: 1 is "one",
/// the rest "many" ("minutes"). Kazakh keeps the noun singular after any numeral, so its
/// three forms are the same word; it is given the English choice.
pub fn form(lang: Lang, n: u32) -> Form {
    match lang {
        Lang::Ru => match (n % 10, n % 100) {
            (_, 11..=14) => Form::Many,
            (1, _) => Form::One,
            (2..=4, _) => Form::Few,
            _ => Form::Many,
        },
        Lang::Kk | Lang::En => {
            if n == 1 {
                Form::One
            } else {
                Form::Many
            }
        }
    }
}

/// Every name a phrase can produce, in any language; each needs `sounds/<lang>/<name>.wav`
/// for every language.
pub fn all_prompt_names() -> BTreeSet<&'static str> {
    let mut names: BTreeSet<&'static str> = [
        POSITION_IS,
        NEXT,
        WAIT_IS,
        WAIT_UNDER_MINUTE,
        FREE,
        PAID,
        ONE_F,
        TWO_F,
    ]
    .into();
    names.extend(MINUTE);
    names.extend(
        UNITS_AND_TEENS
            .iter()
            .chain(&TENS)
            .chain(&HUNDREDS)
            .filter(|n| !n.is_empty()),
    );
    names
}

/// The longest announcement in `lang` given each prompt's length (from the prompt library),
/// and its names; for [`crate::acd::announce::check_length`] at start-up. The three parts are
/// independent, so the longest of each is taken.
pub fn longest_announcement(
    lang: Lang,
    length: impl Fn(&'static str) -> Duration,
) -> (Duration, Vec<&'static str>) {
    let total = |names: &[&'static str]| names.iter().map(|&n| length(n)).sum::<Duration>();
    let longest = |phrases: Vec<Vec<&'static str>>| {
        phrases
            .into_iter()
            .max_by_key(|p| total(p))
            .unwrap_or_default()
    };
    let mut names = longest((1..=MAX_NUMBER).map(position).collect());
    names.extend(longest(
        (0..=MAX_NUMBER)
            .map(|m| wait(lang, f64::from(m) * 60.0))
            .collect(),
    ));
    names.extend(longest(vec![free_of_charge(false), free_of_charge(true)]));
    (total(&names), names)
}

/// The words the prompts say in `lang`, joined by spaces; an unknown name shows as `<name>`.
/// For tests and logs.
pub fn text(lang: Lang, names: &[&str]) -> String {
    let words: Vec<String> = names
        .iter()
        .map(|&name| match words(lang, name) {
            Some(w) => w.replace('+', ""),
            None => format!("<{name}>"),
        })
        .collect();
    words.join(" ")
}

/// The table the WAVs are spoken from: name, silence before the words in ms, kk, ru, en.
pub(crate) const TABLE: &str = include_str!("phrases.tsv");

/// One row of [`TABLE`]; `None` for a comment, a blank line or a malformed row (which the
/// tests refuse).
pub(crate) fn row(line: &'static str) -> Option<(&'static str, [&'static str; 3])> {
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    match line.split('\t').collect::<Vec<_>>()[..] {
        [name, _pause, kk, ru, en] => Some((name, [kk, ru, en])),
        _ => None,
    }
}

/// The words `name` says in `lang`, as written in [`TABLE`] (with espeak-ng's stress marks).
pub(crate) fn words(lang: Lang, name: &str) -> Option<&'static str> {
    let column = match lang {
        Lang::Kk => 0,
        Lang::Ru => 1,
        Lang::En => 2,
    };
    TABLE
        .lines()
        .filter_map(row)
        .find(|(n, _)| *n == name)
        .map(|(_, words)| words[column])
}

#[cfg(test)]
#[path = "phrases_tests.rs"]
mod tests;
