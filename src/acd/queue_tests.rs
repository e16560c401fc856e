#![allow(clippy::disallowed_methods)]

use super::*;

fn levels(pairs: &[(&str, u8)]) -> BTreeMap<String, u8> {
    pairs.iter().map(|(s, l)| (s.to_string(), *l)).collect()
}

#[test]
fn the_default_queue_config_is_valid_once_named() {
    let c = QueueConfig {
        name: "sales".into(),
        ..QueueConfig::default()
    };
    assert_eq!(c.validate(), []);
    assert_eq!(c.strategy, Strategy::LongestIdle);
}

#[test]
fn validate_reports_every_problem_naming_its_field() {
    let c = QueueConfig {
        name: " ".into(),
        skills: levels(&[("kk", 0), ("ru", 11), ("en", 3)]),
        ring_timeout: Duration::from_millis(500),
        max_wait: Some(Duration::ZERO),
        max_len: Some(0),
        ..QueueConfig::default()
    };
    let issues: Vec<String> = c.validate().iter().map(|i| i.to_string()).collect();
    assert_eq!(
        issues,
        [
            "name must not be empty",
            "skills.kk = 0: a minimum skill level is 1 to 10",
            "skills.ru = 11: a minimum skill level is 1 to 10",
            "ring_timeout = 500ms: must be at least 1 s",
            "max_wait = 0 s: must be more than 0 (leave it out for no limit)",
            "max_len = 0: must be at least 1 (leave it out for no limit)",
        ]
    );
    assert_eq!(c.validate()[1].field, "skills.kk");
}

#[test]
fn skills_fit_when_every_wanted_skill_is_at_or_above_its_minimum() {
    let c = QueueConfig {
        skills: levels(&[("kk", 5), ("billing", 2)]),
        ..QueueConfig::default()
    };
    assert!(c.fits(&levels(&[("kk", 5), ("billing", 2), ("en", 1)])));
    assert!(!c.fits(&levels(&[("kk", 4), ("billing", 9)])), "one below");
    assert!(!c.fits(&levels(&[("kk", 9)])), "one missing");
    assert!(
        QueueConfig::default().fits(&levels(&[])),
        "a queue wanting no skill fits all"
    );
    assert_eq!(
        c.skill_score(&levels(&[("kk", 7), ("billing", 3), ("en", 10)])),
        10
    );
}

#[test]
fn strategy_names_round_trip() {
    for s in Strategy::ALL {
        assert_eq!(Strategy::from_name(s.name()), Some(s));
    }
    assert_eq!(Strategy::from_name("random"), None);
}

#[test]
fn entries_order_by_priority_then_entering_time_then_number() {
    let t0 = Instant::now();
    let e = |id, priority, secs| Entry {
        id: EntryId(id),
        queue: QueueId(0),
        priority,
        entered: t0 + Duration::from_secs(secs),
        kind: EntryKind::Caller,
    };
    let mut keys = [e(1, 0, 0), e(2, 0, 5), e(3, 9, 9), e(4, 0, 5), e(5, 9, 1)];
    keys.sort_by_key(Entry::key);
    let ids: Vec<u64> = keys.iter().map(|x| x.id.0).collect();
    assert_eq!(ids, [5, 3, 1, 2, 4]);
}
