use std::path::Path;

use super::*;
use crate::config::{Config, ConfigErrors, DEFAULT_PATH};

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse(Path::new("config/qonyrau.toml"), text)
}

fn lines(err: ConfigErrors) -> Vec<String> {
    err.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn the_bundled_file_has_the_support_queue_on_600_with_2001_and_2002() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PATH);
    let c = Config::load(&path).unwrap();
    assert_eq!(c.acd.announce_every, Duration::from_secs(60));
    assert!(!c.acd.paid);
    assert_eq!(c.acd.missed_offers_to_pause, 3);
    assert!(c.acd.skills.is_empty());
    assert_eq!(
        c.acd.queues,
        [QueueDef {
            config: QueueConfig {
                name: "support".into(),
                ..QueueConfig::default()
            },
            number: Some("600".into()),
            members: vec!["2001".into(), "2002".into()],
            music_on_hold: "default".into(),
            music_on_hold_at: KeyAt {
                file: path.clone(),
                line: line_of_key(&path, "music_on_hold = "),
            },
            callback: None,
        }]
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // No file at all gives the same, but for where the class was set (nowhere: line 0).
    let mut defaults = Config::default().acd;
    assert_eq!(
        defaults.queues[0].music_on_hold_at,
        KeyAt {
            file: "<defaults>".into(),
            line: 0
        }
    );
    defaults.queues[0].music_on_hold_at = c.acd.queues[0].music_on_hold_at.clone();
    assert_eq!(defaults, c.acd);
}

/// The line of the first line of `path` that starts with `start`.
fn line_of_key(path: &Path, start: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    1 + text.lines().position(|l| l.starts_with(start)).unwrap()
}

#[test]
fn a_queue_table_left_empty_takes_the_core_defaults() {
    let c = parse("[queues.sales]\nmembers = [\"3001\"]\n").unwrap();
    assert_eq!(
        c.acd.queues,
        [QueueDef {
            config: QueueConfig {
                name: "sales".into(),
                ..QueueConfig::default()
            },
            number: None,
            members: vec!["3001".into()],
            music_on_hold: "default".into(),
            // Left out: the line of its table.
            music_on_hold_at: KeyAt {
                file: "config/qonyrau.toml".into(),
                line: 1
            },
            callback: None,
        }]
    );
    assert!(parse("queues = {}\n").unwrap().acd.queues.is_empty());
}

#[test]
fn every_queue_key_is_read() {
    let text = "[acd]\nannounce_every = \"2m\"\npaid = true\nmissed_offers_to_pause = 0\n[acd.skills]\n\"2001\" = { ru = 7, kk = 5 }\n\n[queues.billing]\nnumber = \"601\"\nmembers = [\"2001\"]\nstrategy = \"skills-weighted\"\nskills = { kk = 3 }\nring_timeout = \"20s\"\nretry_delay = \"0s\"\nwrap_up = \"30s\"\nmax_wait = \"5m\"\nmax_len = 50\njoin_when_empty = false\nleave_when_empty = true\n";
    let acd = parse(text).unwrap().acd;
    assert_eq!(acd.announce_every, Duration::from_secs(120));
    assert!(acd.paid);
    assert_eq!(acd.missed_offers_to_pause, 0);
    assert_eq!(
        acd.skills["2001"],
        BTreeMap::from([("kk".to_string(), 5), ("ru".to_string(), 7)])
    );
    let q = &acd.queues[0];
    assert_eq!(q.number.as_deref(), Some("601"));
    assert_eq!(
        q.config,
        QueueConfig {
            name: "billing".into(),
            skills: BTreeMap::from([("kk".to_string(), 3)]),
            strategy: Strategy::SkillsWeighted,
            ring_timeout: Duration::from_secs(20),
            retry_delay: Duration::ZERO,
            wrap_up: Duration::from_secs(30),
            max_wait: Some(Duration::from_secs(300)),
            max_len: Some(50),
            join_when_empty: false,
            leave_when_empty: true,
        }
    );
}

#[test]
fn an_announcement_interval_of_59_s_is_refused_naming_the_regulation() {
    let err = parse("[acd]\nannounce_every = \"59s\"\n").unwrap_err();
    assert_eq!(
        lines(err),
        ["config/qonyrau.toml:2: acd.announce_every = \"59s\": announcement interval of 59 s is refused: the regulation requires an announcement interval of at least one minute"]
    );
}

#[test]
fn an_announcement_interval_of_90_s_is_accepted_with_a_warning() {
    let c = parse("[acd]\n\nannounce_every = \"90s\"\n").unwrap();
    assert_eq!(c.acd.announce_every, Duration::from_secs(90));
    let warnings: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["config/qonyrau.toml:3: acd.announce_every = \"90s\": announcement interval of 90 s is longer than one minute: allowed by the regulation, but callers are told their wait less often than every minute"]
    );
}

#[test]
fn every_queue_problem_is_named_with_its_line_in_one_run() {
    let text = "\
[ivr.numbers]
\"1414\" = \"main\"

[acd]
announce_every = \"soon\"
missed_offers_to_pause = -1

[acd.skills]
\"2001\" = { ru = 11 }
alice = { kk = 5 }

[queues.a]
number = \"1414\"
members = [\"2001\", \"bob\", \"2001\"]
strategy = \"fifo\"
skills = { kk = 0, ru = 300 }
ring_timeout = \"0s\"
max_wait = \"ever\"
max_len = -5

[queues.b]
number = \"600\"
members = [\"2002\"]

[queues.c]
number = \"600\"
members = [\"2003\"]
";
    assert_eq!(
        lines(parse(text).unwrap_err()),
        [
            "config/qonyrau.toml:5: acd.announce_every = \"soon\": must be a duration of at least 60s (e.g. \"60s\", \"2m\")",
            "config/qonyrau.toml:6: acd.missed_offers_to_pause = -1: must be from 0 to 100",
            "config/qonyrau.toml:9: acd.skills.2001.ru = 11: a skill level is 1 to 10",
            "config/qonyrau.toml:10: acd.skills.alice: must be an extension number (1 to 15 digits)",
            "config/qonyrau.toml:15: queues.a.strategy = \"fifo\": must be one of longest-idle, round-robin, ring-all, fewest-calls, skills-weighted",
            "config/qonyrau.toml:16: queues.a.skills.ru = 300: a minimum skill level is 1 to 10",
            "config/qonyrau.toml:17: queues.a.ring_timeout = \"0s\": must be a duration from 1s to 600s (e.g. \"5s\", \"500ms\")",
            "config/qonyrau.toml:18: queues.a.max_wait = \"ever\": must be a duration from 0s to 86400s (e.g. \"5s\", \"500ms\")",
            "config/qonyrau.toml:19: queues.a.max_len = -5: must be from 0 to 100000",
            "config/qonyrau.toml:16: queues.a.skills.kk = 0: a minimum skill level is 1 to 10",
            "config/qonyrau.toml:14: queues.a.members[1] = \"bob\": must be an extension number (1 to 15 digits)",
            "config/qonyrau.toml:14: queues.a.members[2] = \"2001\": listed twice",
            "config/qonyrau.toml:13: queues.a.number = \"1414\": also in [ivr.numbers] (flow \"main\"); a number reaches one place",
            "config/qonyrau.toml:26: queues.c.number = \"600\": already the number of queue \"b\"",
        ]
    );
}

#[test]
fn a_queue_rule_of_the_core_is_reported_on_its_key() {
    // max_len and max_wait of 0 mean "no limit" in the file, so the core's own rules show
    // through skills here (one level per line, to see each line).
    let text = "[queues.a]\nmembers = [\"2001\"]\n[queues.a.skills]\nkk = 3\nru = 12\n";
    assert_eq!(
        lines(parse(text).unwrap_err()),
        ["config/qonyrau.toml:5: queues.a.skills.ru = 12: a minimum skill level is 1 to 10"]
    );
}

#[test]
fn a_queue_with_an_empty_name_is_refused_on_its_table_line() {
    let err = parse("[acd]\n[queues.\"\"]\nmembers = [\"2001\"]\n").unwrap_err();
    assert_eq!(
        lines(err),
        ["config/qonyrau.toml:2: queues.\"\".name must not be empty"]
    );
}

#[test]
fn a_queue_without_members_is_accepted_with_a_warning_on_its_line() {
    let c = parse("[queues.a]\nnumber = \"601\"\n\n[queues.b]\nmembers = []\n").unwrap();
    assert_eq!(c.acd.queues.len(), 2);
    let warnings: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "config/qonyrau.toml:1: queues.a.members = []: the queue has no members, so no call it takes is answered",
            "config/qonyrau.toml:5: queues.b.members = []: the queue has no members, so no call it takes is answered",
        ]
    );
}

#[test]
fn the_default_queue_number_clashing_with_an_ivr_number_is_refused() {
    let err = parse("[ivr.numbers]\n\"600\" = \"main\"\n").unwrap_err();
    assert_eq!(
        lines(err),
        ["config/qonyrau.toml:0: queues.support.number = \"600\": also in [ivr.numbers] (flow \"main\"); a number reaches one place"]
    );
}

#[test]
fn an_empty_queue_number_is_refused() {
    let err = parse("[queues.a]\nmembers = [\"2001\"]\nnumber = \"\"\n").unwrap_err();
    assert_eq!(
        lines(err),
        ["config/qonyrau.toml:3: queues.a.number = \"\": must not be empty (leave it out for no number)"]
    );
}

#[test]
fn unknown_keys_in_acd_and_queues_are_refused_with_their_line() {
    let err = parse("[acd]\nannounce = \"60s\"\n").unwrap_err();
    assert_eq!(err.errors[0].line, 2, "{err}");
    assert!(
        err.to_string().contains("unknown field `announce`"),
        "{err}"
    );
    let err = parse("[queues.a]\nmembers = []\n\nstrategie = \"ring-all\"\n").unwrap_err();
    assert_eq!(err.errors[0].line, 4, "{err}");
    assert!(
        err.to_string().contains("unknown field `strategie`"),
        "{err}"
    );
}

#[test]
fn a_queues_music_on_hold_class_is_read_with_the_line_of_its_key() {
    let c = parse("[queues.complaints]\nmembers = [\"2001\"]\n\nmusic_on_hold = \"calm\"\n\n[queues.sales]\nmembers = [\"2002\"]\nmusic_on_hold = \"sales-jingle_2\"\n").unwrap();
    let classes: Vec<(&str, &str, usize)> = c
        .acd
        .queues
        .iter()
        .map(|q| {
            (
                q.config.name.as_str(),
                q.music_on_hold.as_str(),
                q.music_on_hold_at.line,
            )
        })
        .collect();
    assert_eq!(
        classes,
        [("complaints", "calm", 4), ("sales", "sales-jingle_2", 8)]
    );
    assert_eq!(
        c.acd.queues[0].music_on_hold_at.file,
        Path::new("config/qonyrau.toml")
    );
}

#[test]
fn a_music_on_hold_class_that_is_not_a_directory_name_is_refused_on_its_line() {
    let text = "[queues.a]\nmembers = [\"2001\"]\nmusic_on_hold = \"../calm\"\n[queues.b]\nmembers = [\"2002\"]\nmusic_on_hold = \"\"\n";
    let rule = MOH_CLASS_RULE;
    assert_eq!(
        lines(parse(text).unwrap_err()),
        [
            format!("config/qonyrau.toml:3: queues.a.music_on_hold = \"../calm\": {rule}"),
            format!("config/qonyrau.toml:6: queues.b.music_on_hold = \"\": {rule}"),
        ]
    );
    let long = "x".repeat(65);
    let err = parse(&format!(
        "[queues.a]\nmembers = [\"2001\"]\nmusic_on_hold = \"{long}\"\n"
    ));
    assert_eq!(err.unwrap_err().errors[0].line, 3);
}

#[test]
fn a_queue_offers_callbacks_with_a_key_and_a_configured_trunk() {
    let trunk = "[trunks.carrier]\nproxy = \"sip:127.0.0.1:5080\"\ncaller_id = \"+77172000000\"\n";
    let text = format!(
        "[queues.support]\nnumber = \"600\"\nmembers = [\"2001\"]\ncallback_key = \"5\"\ncallback_offer_after = \"3m\"\ncallback_trunk = \"carrier\"\n{trunk}"
    );
    let c = Config::parse(Path::new("config/qonyrau.toml"), &text).unwrap();
    let cb = c.acd.queues[0].callback.clone().expect("callbacks offered");
    assert_eq!(
        (cb.key, cb.offer_after, cb.trunk.as_str()),
        ('5', Duration::from_secs(180), "carrier")
    );
    assert_eq!(c.callbacks.max_attempts, 3);
    assert!(c.callbacks.working_hours_only);
}

#[test]
fn callback_keys_are_checked_with_their_lines() {
    let lines = |text: &str| -> Vec<String> {
        Config::parse(Path::new("config/qonyrau.toml"), text)
            .unwrap_err()
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        lines("[queues.support]\nmembers = [\"2001\"]\ncallback_key = \"#\"\ncallback_trunk = \"carrier\"\n"),
        [
            "config/qonyrau.toml:3: queues.support.callback_key = \"#\": must be one digit, 0 to 9 (the key a waiting caller presses)",
            "config/qonyrau.toml:4: queues.support.callback_trunk = \"carrier\": no such trunk ([trunks.carrier] in the config)",
        ]
    );
    assert_eq!(
        lines("[queues.support]\nmembers = [\"2001\"]\ncallback_key = \"5\"\n"),
        ["config/qonyrau.toml:3: queues.support.callback_key = \"5\": callbacks need callback_trunk, the trunk they are placed through"]
    );
    assert_eq!(
        lines("[callbacks]\nhours = \"night\"\nmax_attempts = 0\n"),
        [
            "config/qonyrau.toml:3: callbacks.max_attempts = 0: must be from 1 to 10",
            "config/qonyrau.toml:2: callbacks.hours = \"night\": must be working (the desk's calendar, as the regulation asks) or always",
        ]
    );
}
