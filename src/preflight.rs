//! Checks that need the disk, run before serving and by `qonyrau flows check`: every flow
//! parses, the default flow and every number's flow exist, and every prompt a flow can play
//! exists in kk, ru and en as a valid 8 kHz mono 16-bit WAV. All problems at once.

use std::fmt;
use std::sync::Arc;

use crate::config::{Config, LANGUAGES};
use crate::ivr::FlowSet;
use crate::media::prompt::PromptLibrary;

/// What a successful preflight loaded, handed to the server so nothing is read twice.
pub struct Prepared {
    pub flows: FlowSet,
    pub prompts: Arc<PromptLibrary>,
}

#[derive(Debug, Default)]
pub struct Problems(pub Vec<String>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::units::write_lines(f, &self.0)
    }
}

impl std::error::Error for Problems {}

/// Load flows and prompts, or every reason why not.
pub fn prepare(config: &Config) -> Result<Prepared, Problems> {
    let mut problems = Problems::default();
    let flows = match FlowSet::load_dir(&config.ivr.flows_dir) {
        Ok(f) => f,
        Err(e) => {
            problems.0.extend(e.0.iter().map(|e| e.to_string()));
            FlowSet::default()
        }
    };
    let prompts = match PromptLibrary::load_dir(&config.ivr.sounds_dir) {
        Ok(p) => Some(p),
        Err(e) => {
            problems.0.push(e.to_string());
            None
        }
    };
    if problems.0.is_empty() {
        let mut wanted: Vec<(&str, &str)> =
            vec![("[ivr] default_flow", config.ivr.default_flow.as_str())];
        wanted.extend(
            config
                .ivr
                .numbers
                .iter()
                .map(|(n, f)| (n.as_str(), f.as_str())),
        );
        for (who, flow) in wanted {
            if flows.get(flow).is_none() {
                problems.0.push(format!(
                    "{}: {who} uses flow \"{flow}\", but {}/{flow}.yaml does not exist",
                    "config",
                    config.ivr.flows_dir.display()
                ));
            }
        }
        if let Some(lib) = &prompts {
            for flow in flows.iter() {
                let mut names: Vec<&str> = flow.prompt_names().collect();
                names.sort_unstable();
                names.dedup();
                for name in names {
                    for lang in LANGUAGES {
                        if lib.get(lang, name).is_none() {
                            problems.0.push(format!(
                                "{}/{}.yaml: prompt \"{name}\" has no {}/{lang}/{name}.wav",
                                config.ivr.flows_dir.display(),
                                flow.name,
                                config.ivr.sounds_dir.display()
                            ));
                        }
                    }
                }
            }
        }
    }
    match (problems.0.is_empty(), prompts) {
        (true, Some(prompts)) => Ok(Prepared {
            flows,
            prompts: Arc::new(prompts),
        }),
        _ => Err(problems),
    }
}

/// `qonyrau flows check`: a one-line summary on success.
pub fn check(config: &Config) -> Result<String, Problems> {
    let p = prepare(config)?;
    let mut names: Vec<&str> = p.flows.names().collect();
    names.sort_unstable();
    Ok(format!(
        "ok: {} flow(s) [{}], {} prompt file(s)",
        names.len(),
        names.join(", "),
        p.prompts.len()
    ))
}
