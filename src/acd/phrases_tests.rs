use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::*;

/// Every name the table must hold: the announcement's and the callback offer's
/// (`crate::call::callback_offer`), which shares the table and the number fragments.
fn every_prompt_name() -> BTreeSet<&'static str> {
    let mut names = all_prompt_names();
    names.extend(crate::call::callback_offer::all_prompt_names());
    names
}

fn said_minutes(lang: Lang, m: u32) -> String {
    text(lang, &minutes(lang, m))
}

fn said_position(lang: Lang, n: u32) -> String {
    text(lang, &position(n))
}

#[test]
fn russian_minutes_agree_in_gender_and_the_noun_takes_the_form_for_the_number() {
    for (m, said) in [
        (1, "одна минута."),
        (2, "две минуты."),
        (3, "три минуты."),
        (4, "четыре минуты."),
        (5, "пять минут."),
        (10, "десять минут."),
        (11, "одиннадцать минут."),
        (12, "двенадцать минут."),
        (14, "четырнадцать минут."),
        (20, "двадцать минут."),
        (21, "двадцать одна минута."),
        (22, "двадцать две минуты."),
        (25, "двадцать пять минут."),
        (100, "сто минут."),
        (101, "сто одна минута."),
        (102, "сто две минуты."),
        (111, "сто одиннадцать минут."),
        (112, "сто двенадцать минут."),
        (121, "сто двадцать одна минута."),
        (999, "девятьсот девяносто девять минут."),
    ] {
        assert_eq!(said_minutes(Lang::Ru, m), said, "{m} minutes");
    }
}

#[test]
fn kazakh_minutes_keep_the_noun_singular() {
    for (m, said) in [
        (1, "бір минут."),
        (2, "екі минут."),
        (3, "үш минут."),
        (5, "бес минут."),
        (11, "он бір минут."),
        (21, "жиырма бір минут."),
        (22, "жиырма екі минут."),
        (101, "жүз бір минут."),
        (999, "тоғыз жүз тоқсан тоғыз минут."),
    ] {
        assert_eq!(said_minutes(Lang::Kk, m), said, "{m} minutes");
    }
}

#[test]
fn english_minutes_are_plural_but_for_one_and_say_no_and_after_hundred() {
    for (m, said) in [
        (1, "one minute."),
        (2, "two minutes."),
        (5, "five minutes."),
        (11, "eleven minutes."),
        (21, "twenty one minutes."),
        (22, "twenty two minutes."),
        (101, "one hundred one minutes."),
        (115, "one hundred fifteen minutes."),
        (999, "nine hundred ninety nine minutes."),
    ] {
        assert_eq!(said_minutes(Lang::En, m), said, "{m} minutes");
    }
}

#[test]
fn a_position_is_said_with_the_counting_numeral_and_one_is_next() {
    let ru = |n| said_position(Lang::Ru, n);
    assert_eq!(ru(1), "Ваш звонок следующий в очереди.");
    assert_eq!(ru(2), "Ваш номер в очереди: два");
    assert_eq!(ru(5), "Ваш номер в очереди: пять");
    assert_eq!(ru(11), "Ваш номер в очереди: одиннадцать");
    assert_eq!(ru(21), "Ваш номер в очереди: двадцать один");
    assert_eq!(ru(22), "Ваш номер в очереди: двадцать два");
    assert_eq!(ru(101), "Ваш номер в очереди: сто один");
    let kk = |n| said_position(Lang::Kk, n);
    assert_eq!(kk(1), "Сіздің кезегіңіз келесі.");
    assert_eq!(kk(2), "Сіздің кезектегі нөміріңіз: екі");
    assert_eq!(kk(21), "Сіздің кезектегі нөміріңіз: жиырма бір");
    assert_eq!(kk(101), "Сіздің кезектегі нөміріңіз: жүз бір");
    let en = |n| said_position(Lang::En, n);
    assert_eq!(en(1), "You are next in the queue.");
    assert_eq!(en(2), "Your number in the queue is two");
    assert_eq!(en(11), "Your number in the queue is eleven");
    assert_eq!(en(22), "Your number in the queue is twenty two");
    assert_eq!(en(101), "Your number in the queue is one hundred one");
}

#[test]
fn position_zero_is_next_and_positions_past_999_are_capped() {
    assert_eq!(position(0), position(1));
    assert_eq!(position(1000), position(999));
    assert_eq!(position(u32::MAX), position(999));
}

#[test]
fn the_wait_is_rounded_to_whole_minutes_and_under_a_minute_is_said_so() {
    for (seconds, m) in [
        (0.0, 0),
        (59.9, 0),
        (60.0, 1),
        (89.9, 1),
        (90.0, 2),
        (149.0, 2),
        (1260.0, 21),
        (59_940.0, 999),
        (1e9, 999),
        (f64::INFINITY, 999),
        (-5.0, 0),
        (f64::NAN, 0),
    ] {
        assert_eq!(whole_minutes(seconds), m, "{seconds} s");
    }
    assert_eq!(
        text(Lang::Ru, &wait(Lang::Ru, 30.0)),
        "Ориентировочное время ожидания: менее минуты."
    );
    assert_eq!(
        text(Lang::Kk, &wait(Lang::Kk, 30.0)),
        "Болжамды күту уақыты: бір минуттан аз."
    );
    assert_eq!(
        text(Lang::En, &wait(Lang::En, 30.0)),
        "The estimated waiting time is less than a minute."
    );
    assert_eq!(
        text(Lang::Ru, &wait(Lang::Ru, 22.0 * 60.0)),
        "Ориентировочное время ожидания: двадцать две минуты."
    );
}

#[test]
fn the_whole_announcement_is_position_then_wait_then_charge() {
    assert_eq!(
        text(Lang::Ru, &announcement(Lang::Ru, 21, 21.0 * 60.0, false)),
        "Ваш номер в очереди: двадцать один Ориентировочное время ожидания: двадцать одна минута. \
         Ожидание ответа оператора бесплатное."
    );
    assert_eq!(
        text(Lang::En, &announcement(Lang::En, 1, 10.0, true)),
        "You are next in the queue. The estimated waiting time is less than a minute. \
         Waiting for an operator is charged at your carrier's rate."
    );
    assert_eq!(
        announcement(Lang::Kk, 3, 300.0, false),
        [
            "queue_position_is",
            "num_3",
            "queue_wait_is",
            "num_5",
            "minute_many",
            "queue_free"
        ]
    );
}

#[test]
fn every_number_from_1_to_999_is_said_with_one_to_three_fragments() {
    for n in 1..=MAX_NUMBER {
        for gender in [Gender::Masculine, Gender::Feminine] {
            let names = number(n, gender);
            assert!((1..=3).contains(&names.len()), "{n}: {names:?}");
        }
    }
    assert!(number(0, Gender::Masculine).is_empty());
    assert_eq!(
        text(Lang::Ru, &number(110, Gender::Masculine)),
        "сто десять"
    );
    assert_eq!(
        text(Lang::Ru, &number(340, Gender::Feminine)),
        "триста сорок"
    );
    assert_eq!(
        text(Lang::Kk, &number(117, Gender::Masculine)),
        "жүз он жеті"
    );
    assert_eq!(
        text(Lang::En, &number(702, Gender::Feminine)),
        "seven hundred two"
    );
}

#[test]
fn every_phrase_uses_only_listed_names() {
    let all = all_prompt_names();
    let mut used = BTreeSet::new();
    for lang in Lang::ALL {
        for n in 0..=MAX_NUMBER + 1 {
            for paid in [false, true] {
                used.extend(announcement(lang, n, f64::from(n) * 60.0, paid));
            }
        }
    }
    assert!(
        used.is_subset(&all),
        "not listed: {:?}",
        used.difference(&all)
    );
    assert_eq!(used, all, "listed but never said");
}

#[test]
fn the_table_has_words_for_every_name_in_every_language_and_nothing_else() {
    let mut names = Vec::new();
    for line in TABLE.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 5, "not name, pause, kk, ru, en: {line:?}");
        assert!(
            fields[1].parse::<u32>().is_ok(),
            "pause is not ms: {line:?}"
        );
        for words in &fields[2..] {
            assert!(
                !words.trim().is_empty() && words.trim() == *words,
                "{line:?}"
            );
        }
        let name = fields[0];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "a prompt name must be letters, digits, '_' or '-': {name:?}"
        );
        names.push(name);
    }
    let listed: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(listed.len(), names.len(), "a name is in the table twice");
    assert_eq!(listed, every_prompt_name());
    for lang in Lang::ALL {
        for name in every_prompt_name() {
            assert!(
                !text(lang, &[name]).contains('<'),
                "{name} in {}",
                lang.as_str()
            );
        }
    }
    assert_eq!(text(Lang::En, &["nope"]), "<nope>");
}

#[test]
fn the_longest_announcement_is_at_least_as_long_as_any_other() {
    // One unit of length per character said.
    let lengths: std::collections::HashMap<&str, Duration> = all_prompt_names()
        .into_iter()
        .map(|n| (n, Duration::from_millis(text(Lang::Ru, &[n]).len() as u64)))
        .collect();
    let length = |name: &'static str| lengths[name];
    let total = |names: &[&'static str]| names.iter().map(|&n| length(n)).sum::<Duration>();
    let (longest, names) = longest_announcement(Lang::Ru, length);
    assert_eq!(longest, total(&names));
    for n in (1..=MAX_NUMBER).step_by(7) {
        for m in (0..=MAX_NUMBER).step_by(11) {
            for paid in [false, true] {
                let other = announcement(Lang::Ru, n, f64::from(m) * 60.0, paid);
                assert!(total(&other) <= longest, "{}", text(Lang::Ru, &other));
            }
        }
    }
    let said = text(Lang::Ru, &names);
    assert!(
        said.ends_with("по тарифу вашего оператора связи."),
        "{said}"
    );
}

/// The generated WAVs: every name in every language (the main crate's preflight does this
/// for the announcement against the configured sounds directory).
#[test]
fn every_prompt_name_has_a_wav_in_every_language() {
    let sounds = Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds");
    let mut missing = Vec::new();
    for lang in Lang::ALL {
        for name in every_prompt_name() {
            let wav = sounds.join(lang.as_str()).join(format!("{name}.wav"));
            if !wav.is_file() {
                missing.push(wav.display().to_string());
            }
        }
    }
    assert!(missing.is_empty(), "missing: {missing:?}");
}
