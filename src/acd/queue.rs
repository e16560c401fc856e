//! Queues and the entries waiting in them, sans-IO: a queue's configuration (skills wanted,
//! routing strategy, ring time-out, retry delay, wrap-up, overflow limits) with a `validate()`
//! that lists every problem, and the ordered set of entries: higher priority first, then first
//! come first served.
//!
//! An entry is a live caller or a callback. A callback holds a virtual place: it is ordered
//! exactly like a caller who entered at the same instant, so it never jumps ahead of earlier
//! entries and later ones never overtake it; when it reaches an agent the router reserves the
//! agent instead of ringing them with a caller waiting ([`crate::router`]).
//!
//! What is deliberately not here: who is offered what (the router), agents' states
//! ([`crate::agent`]), parsing TOML (the main crate's `config.rs` builds a [`QueueConfig`] and
//! maps each [`ConfigIssue::field`] to its file and line).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use super::agent::AgentId;

/// A queue, numbered by the ACD core in the order queues were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u32);

/// A waiting entry, numbered by the ACD core; numbers only grow, so they also order entries
/// that entered at the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A live call waiting on the line.
    Caller,
    /// Not a live call: a place kept for calling the customer back.
    Callback,
}

/// One entry waiting in a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub id: EntryId,
    pub queue: QueueId,
    /// Higher first.
    pub priority: u8,
    pub entered: Instant,
    pub kind: EntryKind,
}

impl Entry {
    pub(crate) fn key(&self) -> OrderKey {
        OrderKey {
            priority: Reverse(self.priority),
            entered: self.entered,
            id: self.id,
        }
    }
}

/// The routing order of entries, within a queue and across queues: priority (higher first),
/// then the time of entering, then the entry number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct OrderKey {
    priority: Reverse<u8>,
    entered: Instant,
    pub(crate) id: EntryId,
}

/// Which fitting available agent a queue's entry is offered to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// The agent idle longest (since log-in, resume or the end of wrap-up).
    #[default]
    LongestIdle,
    /// The next agent after the one chosen last, in agent order, wrapping around.
    RoundRobin,
    /// Every fitting available agent at once; the first answer wins, the others are
    /// cancelled. A callback reserves one agent (the idle longest) instead.
    RingAll,
    /// The agent with the fewest answered calls since log-in; ties go to the idle longest.
    FewestCalls,
    /// The agent with the highest summed level over the queue's skills; ties go to the idle
    /// longest.
    SkillsWeighted,
}

impl Strategy {
    pub const ALL: [Strategy; 5] = [
        Strategy::LongestIdle,
        Strategy::RoundRobin,
        Strategy::RingAll,
        Strategy::FewestCalls,
        Strategy::SkillsWeighted,
    ];

    /// The name used in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::LongestIdle => "longest-idle",
            Strategy::RoundRobin => "round-robin",
            Strategy::RingAll => "ring-all",
            Strategy::FewestCalls => "fewest-calls",
            Strategy::SkillsWeighted => "skills-weighted",
        }
    }

    pub fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A queue's configuration. The main crate parses it from TOML, then calls
/// [`QueueConfig::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    pub name: String,
    /// Skill name → the minimum level (1–10) an agent needs.
    pub skills: BTreeMap<String, u8>,
    pub strategy: Strategy,
    /// How long an offer rings before the core cancels it (as no answer).
    pub ring_timeout: Duration,
    /// After a failed offer, the agent is not offered again for this long.
    pub retry_delay: Duration,
    /// After a call from this queue, the agent wraps up for this long.
    pub wrap_up: Duration,
    /// A caller waiting this long overflows (`None`: no limit). Callbacks never do.
    pub max_wait: Option<Duration>,
    /// Entries beyond this many are refused (`None`: no limit). Callbacks count.
    pub max_len: Option<u32>,
    /// Accept entries while no member is logged in (paused members count as logged in).
    pub join_when_empty: bool,
    /// When the last member logs out, the waiting entries overflow.
    pub leave_when_empty: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            name: String::new(),
            skills: BTreeMap::new(),
            strategy: Strategy::LongestIdle,
            ring_timeout: Duration::from_secs(15),
            retry_delay: Duration::from_secs(5),
            wrap_up: Duration::from_secs(10),
            max_wait: None,
            max_len: None,
            join_when_empty: true,
            leave_when_empty: false,
        }
    }
}

/// One problem in a configuration: the field (a key path relative to the queue or agent
/// table, e.g. `skills.billing`) and what is wrong, value included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    pub field: String,
    pub message: String,
}

impl ConfigIssue {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> ConfigIssue {
        ConfigIssue {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

impl QueueConfig {
    /// Every problem at once, each naming its field.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.name.trim().is_empty() {
            issues.push(ConfigIssue::new("name", "must not be empty"));
        }
        for (skill, level) in &self.skills {
            if skill.trim().is_empty() {
                issues.push(ConfigIssue::new("skills", "has a skill with an empty name"));
            }
            if !(1..=10).contains(level) {
                issues.push(ConfigIssue::new(
                    format!("skills.{skill}"),
                    format!("= {level}: a minimum skill level is 1 to 10"),
                ));
            }
        }
        if self.ring_timeout < Duration::from_secs(1) {
            issues.push(ConfigIssue::new(
                "ring_timeout",
                format!("= {:?}: must be at least 1 s", self.ring_timeout),
            ));
        }
        if let Some(max_wait) = self.max_wait {
            if max_wait.is_zero() {
                issues.push(ConfigIssue::new(
                    "max_wait",
                    "= 0 s: must be more than 0 (leave it out for no limit)",
                ));
            }
        }
        if self.max_len == Some(0) {
            issues.push(ConfigIssue::new(
                "max_len",
                "= 0: must be at least 1 (leave it out for no limit)",
            ));
        }
        issues
    }

    /// Every skill the queue wants, at or above its minimum.
    pub fn fits(&self, skills: &BTreeMap<String, u8>) -> bool {
        self.skills
            .iter()
            .all(|(name, min)| skills.get(name).is_some_and(|level| level >= min))
    }

    /// The agent's summed level over the queue's skills (for skills-weighted).
    pub fn skill_score(&self, skills: &BTreeMap<String, u8>) -> u32 {
        self.skills
            .keys()
            .filter_map(|name| skills.get(name))
            .map(|&level| u32::from(level))
            .sum()
    }
}

/// Why an entry left the queue without an answer, sent on (the flow decides where).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OverflowReason {
    /// The caller waited `max_wait`.
    MaxWait,
    /// The queue held `max_len` entries.
    Full,
    /// No member logged in: refused on entering (`join_when_empty = false`), or evicted when
    /// the last one logged out (`leave_when_empty = true`).
    NoAgents,
}

/// A queue's state inside the core.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) config: QueueConfig,
    /// Members whose skills fit, with their skill score.
    pub(crate) members: BTreeMap<AgentId, u32>,
    /// The same, indexed by agent number, for the routing loop (`None`: not a fitting
    /// member).
    pub(crate) score_of: Vec<Option<u32>>,
    /// Waiting entries (an entry being offered still waits) in routing order.
    pub(crate) waiting: BTreeSet<OrderKey>,
    /// The agent round-robin chose last.
    pub(crate) last_chosen: Option<AgentId>,
}

impl Queue {
    pub(crate) fn new(config: QueueConfig) -> Queue {
        Queue {
            config,
            members: BTreeMap::new(),
            score_of: Vec::new(),
            waiting: BTreeSet::new(),
            last_chosen: None,
        }
    }

    /// Record `agent` (numbered after every agent already recorded) as a member or not.
    pub(crate) fn add_agent(
        &mut self,
        agent: AgentId,
        member: bool,
        skills: &BTreeMap<String, u8>,
    ) {
        debug_assert_eq!(agent.0 as usize, self.score_of.len());
        let score = (member && self.config.fits(skills)).then(|| self.config.skill_score(skills));
        if let Some(score) = score {
            self.members.insert(agent, score);
        }
        self.score_of.push(score);
    }

    /// 1 + the entries ahead in this queue's own order.
    pub(crate) fn position(&self, key: &OrderKey) -> u32 {
        1 + self.waiting.range(..key).count() as u32
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
