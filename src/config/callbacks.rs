//! `[callbacks]`: the rules for calling back (issue #11), and the check that every queue
//! offering callbacks names a configured trunk. The queue's own keys (`callback_key`,
//! `callback_offer_after`, `callback_trunk`) are read with the queue in `config/acd.rs`.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{spanned, AcdConfig, TrunkConfig, Validator};

/// How callbacks are placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbacksConfig {
    /// After a failed attempt (busy, no answer), the next one this much later.
    pub retry_delay: Duration,
    /// Attempts before a callback fails.
    pub max_attempts: u32,
    /// Callbacks are placed only in working hours (the desk's calendar); `false`: any time.
    pub working_hours_only: bool,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        CallbacksConfig {
            retry_delay: Duration::from_secs(600),
            max_attempts: 3,
            working_hours_only: true,
        }
    }
}

impl Validator<'_> {
    pub(super) fn callbacks(
        &mut self,
        raw: &RawCallbacks,
        acd: &AcdConfig,
        trunks: &[TrunkConfig],
    ) -> CallbacksConfig {
        let retry_delay = self.duration(
            "callbacks.retry_delay",
            &raw.retry_delay,
            Duration::from_secs(60)..=Duration::from_secs(24 * 3600),
        );
        let max_attempts = self.range("callbacks.max_attempts", &raw.max_attempts, 1..=10) as u32;
        let working_hours_only = match raw.hours.get_ref().as_str() {
            "working" => true,
            "always" => false,
            other => {
                self.error(
                    &raw.hours,
                    format!(
                        "callbacks.hours = \"{other}\": must be working (the desk's calendar, as the regulation asks) or always"
                    ),
                );
                true
            }
        };
        for q in &acd.queues {
            if let Some(cb) = &q.callback {
                if !trunks.iter().any(|t| t.name == cb.trunk) {
                    self.error_at(
                        cb.trunk_at.line,
                        format!(
                            "queues.{}.callback_trunk = \"{}\": no such trunk ([trunks.{}] in the config)",
                            super::acd::key_part(&q.config.name),
                            cb.trunk,
                            cb.trunk
                        ),
                    );
                }
            }
        }
        CallbacksConfig {
            retry_delay,
            max_attempts,
            working_hours_only,
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCallbacks {
    retry_delay: Spanned<String>,
    max_attempts: Spanned<i64>,
    hours: Spanned<String>,
}

impl Default for RawCallbacks {
    fn default() -> Self {
        RawCallbacks {
            retry_delay: spanned("10m".into()),
            max_attempts: spanned(3),
            hours: spanned("working".into()),
        }
    }
}
