//! `[acd]` and `[queues.<name>]`: the raw (serde) form with its defaults, and its validation
//! into [`AcdConfig`]. Every problem is reported with the line of its key; a queue's own rules
//! come from [`QueueConfig::validate`], whose relative field (`skills.kk`) is mapped back to
//! the key it came from. What needs the disk (the announcement prompts and their length)
//! is checked in `crate::preflight`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{spanned, KeyAt, Validator};
use crate::acd::announce::{check_interval, MIN_INTERVAL};
use crate::acd::{QueueConfig, Strategy};
use crate::call::routing::transfer_target;
use crate::media::prompt::DEFAULT_MOH_CLASS;
use crate::units::parse_duration;

/// Queues and operators (issue #10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcdConfig {
    /// Announcements to a waiting caller every this long, start to start (≥ 60 s: under is
    /// refused naming the rule; over is accepted with a warning logged at start).
    pub announce_every: Duration,
    /// Waiting is charged (the paid wording) instead of free of charge.
    pub paid: bool,
    /// Offers missed in a row that pause an agent (0 = never).
    pub missed_offers_to_pause: u32,
    /// Agents' skills by extension: skill → level 1–10.
    pub skills: BTreeMap<String, BTreeMap<String, u8>>,
    /// In the order of the file.
    pub queues: Vec<QueueDef>,
}

/// One `[queues.<name>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDef {
    /// `name` is the table key.
    pub config: QueueConfig,
    /// A dialled number that reaches this queue directly (e.g. "600"), if any.
    pub number: Option<String>,
    /// Member extensions (agents who serve this queue).
    pub members: Vec<String>,
    /// The music-on-hold class a caller waiting here hears: `sounds/moh/<class>/*.wav`, or
    /// the files directly in `sounds/moh/` for `default`. Whether it exists is checked on
    /// disk by the preflight, which reports it at `music_on_hold_at`.
    pub music_on_hold: String,
    pub music_on_hold_at: KeyAt,
    /// Callbacks offered to this queue's callers (`callback_key` set), issue #11.
    pub callback: Option<QueueCallbackDef>,
}

/// A queue's callback offer: the key a waiting caller presses, when the offer is announced,
/// and the trunk callbacks are placed through (checked against `[trunks]` in config.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCallbackDef {
    pub key: char,
    pub offer_after: Duration,
    pub trunk: String,
    pub trunk_at: KeyAt,
}

/// What a music-on-hold class name may be: it names a directory under `sounds/moh/`.
pub const MOH_CLASS_RULE: &str =
    "a music-on-hold class is 1 to 64 letters, digits, - and _ (the directory sounds/moh/<class>/; \"default\" is the files directly in sounds/moh/)";

/// The limits of values the rules below do not already bound.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
const EXTENSION_RULE: &str = "must be an extension number (1 to 15 digits)";

impl Validator<'_> {
    pub(super) fn acd(
        &mut self,
        raw: &RawAcd,
        queues: &BTreeMap<String, Spanned<RawQueue>>,
        ivr_numbers: &BTreeMap<String, String>,
    ) -> AcdConfig {
        let announce_every = self.announce_every(&raw.announce_every);
        let missed_offers_to_pause = self.range(
            "acd.missed_offers_to_pause",
            &raw.missed_offers_to_pause,
            0..=100,
        ) as u32;
        let mut skills = BTreeMap::new();
        for (extension, levels) in &raw.skills {
            if transfer_target(extension).is_none() {
                self.error(
                    levels,
                    format!("acd.skills.{}: {EXTENSION_RULE}", key_part(extension)),
                );
            }
            let mut agent = BTreeMap::new();
            for (skill, level) in levels.get_ref() {
                match u8::try_from(*level.get_ref()) {
                    Ok(l) if (1..=10).contains(&l) => {
                        agent.insert(skill.clone(), l);
                    }
                    _ => self.error(
                        level,
                        format!(
                            "acd.skills.{}.{} = {}: a skill level is 1 to 10",
                            key_part(extension),
                            key_part(skill),
                            level.get_ref()
                        ),
                    ),
                }
            }
            skills.insert(extension.clone(), agent);
        }
        // File order, so a clash is reported on the later of the two.
        let mut in_order: Vec<(&String, &Spanned<RawQueue>)> = queues.iter().collect();
        in_order.sort_by_key(|(_, q)| q.span().start);
        let mut numbers: BTreeMap<&str, &str> = BTreeMap::new();
        let mut defs = Vec::with_capacity(in_order.len());
        for (name, raw) in in_order {
            let def = self.queue(name, raw);
            if let (Some(number), Some(raw_number)) = (&def.number, &raw.get_ref().number) {
                let key = format!("queues.{}.number = \"{number}\"", key_part(name));
                let line = self.key_line(raw_number, raw);
                if let Some(flow) = ivr_numbers.get(number) {
                    self.error_at(
                        line,
                        format!("{key}: also in [ivr.numbers] (flow \"{flow}\"); a number reaches one place"),
                    );
                } else if let Some(other) = numbers.get(number.as_str()) {
                    self.error_at(
                        line,
                        format!("{key}: already the number of queue \"{other}\""),
                    );
                } else {
                    numbers.insert(raw_number.get_ref(), name);
                }
            }
            defs.push(def);
        }
        AcdConfig {
            announce_every,
            paid: raw.paid,
            missed_offers_to_pause,
            skills,
            queues: defs,
        }
    }

    /// The line of a key, or of its table when the key was left out (its default has an
    /// empty span); 0 for a table that is itself a default (`queues.support` with no
    /// `[queues]` in the file).
    fn key_line<T, U>(&self, key: &Spanned<T>, table: &Spanned<U>) -> usize {
        match [key.span(), table.span()]
            .into_iter()
            .find(|s| !s.is_empty())
        {
            Some(span) if !self.text.is_empty() => super::line_of(self.text, span.start),
            _ => 0,
        }
    }

    fn at(&self, line: usize, message: String) -> super::ConfigError {
        super::ConfigError {
            file: self.file.to_path_buf(),
            line,
            message,
        }
    }

    /// At least [`MIN_INTERVAL`] (the regulation); longer is allowed with a warning.
    fn announce_every(&mut self, raw: &Spanned<String>) -> Duration {
        let key = "acd.announce_every";
        let text = raw.get_ref();
        let Some(interval) = parse_duration(text) else {
            self.error(
                raw,
                format!(
                    "{key} = \"{text}\": must be a duration of at least 60s (e.g. \"60s\", \"2m\")"
                ),
            );
            return MIN_INTERVAL;
        };
        match check_interval(interval) {
            Ok(None) => interval,
            Ok(Some(warning)) => {
                self.warning(raw, format!("{key} = \"{text}\": {warning}"));
                interval
            }
            Err(rule) => {
                self.error(raw, format!("{key} = \"{text}\": {rule}"));
                MIN_INTERVAL
            }
        }
    }

    fn queue(&mut self, name: &str, raw: &Spanned<RawQueue>) -> QueueDef {
        let table = raw;
        let raw = raw.get_ref();
        let table_key = format!("queues.{}", key_part(name));
        let key = |field: &str| format!("{table_key}.{field}");
        let strategy = Strategy::from_name(raw.strategy.get_ref()).unwrap_or_else(|| {
            let valid: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
            self.error(
                &raw.strategy,
                format!(
                    "{} = \"{}\": must be one of {}",
                    key("strategy"),
                    raw.strategy.get_ref(),
                    valid.join(", ")
                ),
            );
            Strategy::default()
        });
        let mut skills = BTreeMap::new();
        for (skill, level) in raw.skills.get_ref() {
            match u8::try_from(*level.get_ref()) {
                Ok(l) => {
                    skills.insert(skill.clone(), l);
                }
                // Beyond a u8: the same rule validate() states for 0 and 11..=255.
                Err(_) => self.error(
                    level,
                    format!(
                        "{} = {}: a minimum skill level is 1 to 10",
                        key(&format!("skills.{}", key_part(skill))),
                        level.get_ref()
                    ),
                ),
            }
        }
        let ring_timeout = self.duration(
            &key("ring_timeout"),
            &raw.ring_timeout,
            Duration::from_secs(1)..=Duration::from_secs(600),
        );
        let retry_delay = self.duration(
            &key("retry_delay"),
            &raw.retry_delay,
            Duration::ZERO..=Duration::from_secs(3600),
        );
        let wrap_up = self.duration(
            &key("wrap_up"),
            &raw.wrap_up,
            Duration::ZERO..=Duration::from_secs(3600),
        );
        let max_wait = self.duration(
            &key("max_wait"),
            &raw.max_wait,
            Duration::ZERO..=MAX_DURATION,
        );
        let max_len = self.range(&key("max_len"), &raw.max_len, 0..=100_000) as u32;
        let config = QueueConfig {
            name: name.to_string(),
            skills,
            strategy,
            ring_timeout,
            retry_delay,
            wrap_up,
            // 0 in the file is "no limit".
            max_wait: (!max_wait.is_zero()).then_some(max_wait),
            max_len: (max_len != 0).then_some(max_len),
            join_when_empty: raw.join_when_empty,
            leave_when_empty: raw.leave_when_empty,
        };
        for issue in config.validate() {
            let message = format!("{table_key}.{issue}");
            match issue.field.as_str() {
                "skills" => self.error(&raw.skills, message),
                "ring_timeout" => self.error(&raw.ring_timeout, message),
                "max_wait" => self.error(&raw.max_wait, message),
                "max_len" => self.error(&raw.max_len, message),
                field => match field
                    .strip_prefix("skills.")
                    .and_then(|skill| raw.skills.get_ref().get(skill))
                {
                    Some(level) => self.error(level, message),
                    None => {
                        let line = self.key_line(table, table);
                        self.error_at(line, message);
                    }
                },
            }
        }
        let number = raw.number.as_ref().map(|n| n.get_ref().clone());
        if number.as_deref().is_some_and(|n| n.trim().is_empty()) {
            self.error(
                raw.number.as_ref().expect("number is set"),
                format!(
                    "{} = \"\": must not be empty (leave it out for no number)",
                    key("number")
                ),
            );
        }
        let mut members: Vec<String> = Vec::with_capacity(raw.members.get_ref().len());
        for (i, member) in raw.members.get_ref().iter().enumerate() {
            let text = member.get_ref();
            let at = format!("{}[{i}] = \"{text}\"", key("members"));
            if transfer_target(text).is_none() {
                self.error(member, format!("{at}: {EXTENSION_RULE}"));
            } else if members.contains(text) {
                self.error(member, format!("{at}: listed twice"));
            } else {
                members.push(text.clone());
            }
        }
        if raw.members.get_ref().is_empty() {
            let line = self.key_line(&raw.members, table);
            self.warnings.push(self.at(
                line,
                format!(
                    "{} = []: the queue has no members, so no call it takes is answered",
                    key("members")
                ),
            ));
        }
        let music_on_hold = raw.music_on_hold.get_ref().clone();
        if !is_moh_class(&music_on_hold) {
            self.error(
                &raw.music_on_hold,
                format!(
                    "{} = \"{music_on_hold}\": {MOH_CLASS_RULE}",
                    key("music_on_hold")
                ),
            );
        }
        let music_on_hold_at = KeyAt {
            file: self.file.to_path_buf(),
            line: self.key_line(&raw.music_on_hold, table),
        };
        let callback = self.queue_callback(&key, raw, table);
        QueueDef {
            config,
            number,
            members,
            music_on_hold,
            music_on_hold_at,
            callback,
        }
    }

    fn queue_callback(
        &mut self,
        key: &dyn Fn(&str) -> String,
        raw: &RawQueue,
        table: &Spanned<RawQueue>,
    ) -> Option<QueueCallbackDef> {
        let offer_after = self.duration(
            &key("callback_offer_after"),
            &raw.callback_offer_after,
            Duration::ZERO..=MAX_DURATION,
        );
        let Some(k) = &raw.callback_key else {
            if let Some(t) = &raw.callback_trunk {
                self.error(
                    t,
                    format!(
                        "{} = \"{}\": callbacks are offered only with callback_key set",
                        key("callback_trunk"),
                        t.get_ref()
                    ),
                );
            }
            return None;
        };
        let text = k.get_ref();
        let digit = match text.chars().collect::<Vec<_>>()[..] {
            [c] if c.is_ascii_digit() => c,
            _ => {
                self.error(
                    k,
                    format!(
                        "{} = \"{text}\": must be one digit, 0 to 9 (the key a waiting caller presses)",
                        key("callback_key")
                    ),
                );
                '0'
            }
        };
        let Some(trunk) = &raw.callback_trunk else {
            self.error(
                k,
                format!(
                    "{} = \"{text}\": callbacks need callback_trunk, the trunk they are placed through",
                    key("callback_key")
                ),
            );
            return None;
        };
        Some(QueueCallbackDef {
            key: digit,
            offer_after,
            trunk: trunk.get_ref().clone(),
            trunk_at: KeyAt {
                file: self.file.to_path_buf(),
                line: self.key_line(trunk, table),
            },
        })
    }
}

fn is_moh_class(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A table key as written in TOML: bare when it can be, else quoted (`queues."sales desk"`).
pub(crate) fn key_part(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

// ---- raw (serde) form, with the defaults ----

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAcd {
    announce_every: Spanned<String>,
    paid: bool,
    missed_offers_to_pause: Spanned<i64>,
    /// Extension → skill → level.
    skills: BTreeMap<String, Spanned<BTreeMap<String, Spanned<i64>>>>,
}

impl Default for RawAcd {
    fn default() -> Self {
        RawAcd {
            announce_every: spanned("60s".into()),
            paid: false,
            missed_offers_to_pause: spanned(3),
            skills: BTreeMap::new(),
        }
    }
}

/// One `[queues.<name>]`; a table left out takes [`QueueConfig::default`]'s values.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawQueue {
    number: Option<Spanned<String>>,
    members: Spanned<Vec<Spanned<String>>>,
    strategy: Spanned<String>,
    /// Skill → minimum level.
    skills: Spanned<BTreeMap<String, Spanned<i64>>>,
    ring_timeout: Spanned<String>,
    retry_delay: Spanned<String>,
    wrap_up: Spanned<String>,
    max_wait: Spanned<String>,
    max_len: Spanned<i64>,
    join_when_empty: bool,
    leave_when_empty: bool,
    music_on_hold: Spanned<String>,
    callback_key: Option<Spanned<String>>,
    callback_offer_after: Spanned<String>,
    callback_trunk: Option<Spanned<String>>,
}

impl Default for RawQueue {
    fn default() -> Self {
        RawQueue {
            number: None,
            members: spanned(Vec::new()),
            strategy: spanned(Strategy::default().name().into()),
            skills: spanned(BTreeMap::new()),
            ring_timeout: spanned("15s".into()),
            retry_delay: spanned("5s".into()),
            wrap_up: spanned("10s".into()),
            max_wait: spanned("0s".into()),
            max_len: spanned(0),
            join_when_empty: true,
            leave_when_empty: false,
            music_on_hold: spanned(DEFAULT_MOH_CLASS.into()),
            callback_key: None,
            callback_offer_after: spanned("2m".into()),
            callback_trunk: None,
        }
    }
}

/// With no `[queues]` in the file: the support queue the bundled file shows, on 600 with
/// extensions 2001 and 2002 (`queues = {}` for none).
pub(super) fn default_queues() -> BTreeMap<String, Spanned<RawQueue>> {
    let support = RawQueue {
        number: Some(spanned("600".into())),
        members: spanned(vec![spanned("2001".into()), spanned("2002".into())]),
        ..RawQueue::default()
    };
    BTreeMap::from([("support".to_string(), spanned(support))])
}

#[cfg(test)]
#[path = "acd_tests.rs"]
mod tests;
