//! Checks that need the disk, run before serving and by `qonyrau flows check`: every flow
//! parses, the default flow and every number's flow exist, and every prompt a flow can play
//! exists in kk, ru and en as a valid 8 kHz mono 16-bit WAV. All problems at once.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{Config, LANGUAGES};
use crate::ivr::flow::PromptCheck;
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

/// Load flows and prompts, or every reason why not: each flow problem (undefined target,
/// bad value, prompt missing in a language) with its file and line, each bad WAV with its
/// file, each flow the config names that does not exist. One does not hide another.
pub fn prepare(config: &Config) -> Result<Prepared, Problems> {
    let mut problems = Problems::default();
    let (prompts, bad_wavs) = PromptLibrary::load_dir_partial(&config.ivr.sounds_dir);
    problems.0.extend(bad_wavs.iter().map(ToString::to_string));
    let check = LibraryCheck {
        lib: &prompts,
        sounds_dir: &config.ivr.sounds_dir,
        bad: bad_wavs.iter().map(|e| e.file.clone()).collect(),
    };
    let flows = match FlowSet::load_dir(&config.ivr.flows_dir, &check) {
        Ok(f) => f,
        Err(e) => {
            problems.0.extend(e.0.iter().map(ToString::to_string));
            FlowSet::default()
        }
    };
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
        // A flow that exists but has problems was reported above; only a missing file here.
        let exists = ["yaml", "yml"]
            .iter()
            .any(|ext| config.ivr.flows_dir.join(format!("{flow}.{ext}")).is_file());
        if !exists {
            problems.0.push(format!(
                "config: {who} uses flow \"{flow}\", but {}/{flow}.yaml does not exist",
                config.ivr.flows_dir.display()
            ));
        }
    }
    if problems.0.is_empty() {
        Ok(Prepared {
            flows,
            prompts: Arc::new(prompts),
        })
    } else {
        Err(problems)
    }
}

/// Answers a flow's prompt questions from the loaded library: a prompt must exist in every
/// language a caller can choose (kk, ru, en). A file that exists but is not a valid WAV was
/// reported already, so it is not called missing too.
struct LibraryCheck<'a> {
    lib: &'a PromptLibrary,
    sounds_dir: &'a Path,
    bad: HashSet<PathBuf>,
}

impl PromptCheck for LibraryCheck<'_> {
    fn missing(&self, name: &str) -> Vec<String> {
        LANGUAGES
            .iter()
            .filter_map(|lang| {
                let file = self.sounds_dir.join(lang).join(format!("{name}.wav"));
                (self.lib.get(lang, name).is_none() && !self.bad.contains(&file))
                    .then(|| format!("has no {}", file.display()))
            })
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> Config {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut config = Config::default();
        config.ivr.flows_dir = root.join("ivr-flows");
        config.ivr.sounds_dir = root.join("sounds");
        config
    }

    #[test]
    fn the_bundled_flows_and_prompts_pass() {
        let report = check(&bundled()).unwrap();
        assert!(report.starts_with("ok: 1 flow(s) [main]"), "{report}");
    }

    #[test]
    fn every_problem_of_a_flow_directory_is_named_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let flows = dir.path().join("flows");
        let sounds = dir.path().join("sounds");
        std::fs::create_dir(&flows).unwrap();
        // Every language but kk has "welcome"; ru has a WAV that is not one.
        let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds/en/welcome.wav");
        for lang in ["kk", "ru", "en"] {
            std::fs::create_dir_all(sounds.join(lang)).unwrap();
            if lang != "kk" {
                std::fs::copy(&good, sounds.join(lang).join("welcome.wav")).unwrap();
            }
        }
        std::fs::write(sounds.join("ru/bye.wav"), b"not a wav").unwrap();
        std::fs::write(
            flows.join("main.yaml"),
            "start: greeting\nnodes:\n  greeting:\n    play: welcome\n    next: menu\n  bye: { play: bye, next: end }\n  end: { hangup: true }\n",
        )
        .unwrap();
        let mut config = Config::default();
        config.ivr.flows_dir = flows.clone();
        config.ivr.sounds_dir = sounds.clone();
        config.ivr.numbers.insert("1414".into(), "egov".into());
        let problems = check(&config).unwrap_err().to_string();
        let (f, s) = (flows.display(), sounds.display());
        assert_eq!(
            problems,
            [
                format!("{s}/ru/bye.wav: not a readable WAV file: {}", problems_wav_reason(&problems)),
                format!("{f}/main.yaml:4: node \"greeting\": prompt \"welcome\" has no {s}/kk/welcome.wav"),
                format!("{f}/main.yaml:5: node \"greeting\" goes to \"menu\", which is not defined"),
                format!("{f}/main.yaml:6: node \"bye\": prompt \"bye\" has no {s}/kk/bye.wav"),
                format!("{f}/main.yaml:6: node \"bye\": prompt \"bye\" has no {s}/en/bye.wav"),
                format!("config: 1414 uses flow \"egov\", but {f}/egov.yaml does not exist"),
            ]
            .join("\n")
        );
    }

    /// hound's wording for a file that is not RIFF, taken from the report itself.
    fn problems_wav_reason(problems: &str) -> &str {
        let first = problems.lines().next().unwrap_or_default();
        first
            .split_once("not a readable WAV file: ")
            .map_or("", |(_, why)| why)
    }
}
