//! Checks that need the disk, run before serving and by `qonyrau flows check`: every flow
//! parses, the default flow and every number's flow exist, and every prompt a flow can play
//! exists in kk, ru and en as a valid 8 kHz mono 16-bit WAV. With queues configured, every
//! prompt a queue announcement can say exists in kk, ru and en, and the longest announcement
//! in each language fits in `acd.announce_every`. The music-on-hold classes load (`sounds/moh/`
//! and each class directory under it) and every queue's `music_on_hold` class exists. All
//! problems at once.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::acd::announce::check_length;
use crate::acd::phrases::{self, Lang};
use crate::config::{Config, LANGUAGES};
use crate::ivr::flow::PromptCheck;
use crate::ivr::FlowSet;
use crate::media::prompt::{MusicOnHold, PromptLibrary, DEFAULT_MOH_CLASS};

/// What a successful preflight loaded, handed to the server so nothing is read twice.
pub struct Prepared {
    pub flows: FlowSet,
    pub prompts: Arc<PromptLibrary>,
    /// Every music-on-hold class, for the media engine.
    pub music_on_hold: Arc<MusicOnHold>,
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
/// file, each flow the config names that does not exist, each music-on-hold class directory
/// without a usable WAV, each queue's music-on-hold class missing on disk (with the file and
/// line of its key). One does not hide another.
pub fn prepare(config: &Config) -> Result<Prepared, Problems> {
    let mut problems = Problems::default();
    let (prompts, bad_wavs) = PromptLibrary::load_dir_partial(&config.ivr.sounds_dir);
    problems.0.extend(bad_wavs.iter().map(ToString::to_string));
    let check = LibraryCheck {
        lib: &prompts,
        sounds_dir: &config.ivr.sounds_dir,
        bad: bad_wavs.iter().map(|e| e.file.clone()).collect(),
    };
    let (music_on_hold, bad_moh) = MusicOnHold::load_partial(&config.ivr.sounds_dir);
    problems.0.extend(bad_moh.iter().map(ToString::to_string));
    problems
        .0
        .extend(moh_class_problems(config, music_on_hold.as_ref()));
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
    // A queue node must name a configured queue.
    for flow in flows.iter() {
        for node in flow.nodes() {
            if let crate::ivr::flow::NodeAction::Queue(q) = &node.action {
                if !config.acd.queues.iter().any(|d| *d.config.name == *q.queue) {
                    problems.0.push(format!(
                        "flow \"{}\": node \"{}\" enters queue \"{}\", which is not configured ([queues.{}] in the config)",
                        flow.name, node.name, q.queue, q.queue
                    ));
                }
            }
            // A dial through a trunk must name a configured trunk.
            if let crate::ivr::flow::NodeAction::Dial(d) = &node.action {
                if let Some(trunk) = &d.trunk {
                    if !config.trunks.iter().any(|t| *t.name == **trunk) {
                        problems.0.push(format!(
                            "flow \"{}\": node \"{}\" dials through trunk \"{trunk}\", which is not configured ([trunks.{trunk}] in the config)",
                            flow.name, node.name
                        ));
                    }
                }
            }
        }
    }
    if !config.acd.queues.is_empty() {
        for prompt in crate::call::routing::FEATURE_PROMPTS {
            for lang in ["kk", "ru", "en"] {
                if prompts.get(lang, prompt).is_none() {
                    problems.0.push(format!(
                        "feature codes: prompt \"{prompt}\" has no {}/{lang}/{prompt}.wav",
                        config.ivr.sounds_dir.display()
                    ));
                }
            }
        }
        problems
            .0
            .extend(announcement_problems(config, &prompts, &check));
    }
    match music_on_hold {
        Some(moh) if problems.0.is_empty() => Ok(Prepared {
            flows,
            prompts: Arc::new(prompts),
            music_on_hold: Arc::new(moh),
        }),
        _ => Err(problems),
    }
}

/// Every queue's music-on-hold class is a directory `sounds/moh/<class>/` (`default` is
/// `sounds/moh/` itself, whose problems the loader names). A class directory that exists
/// but did not load was named by the loader too, so it is not called missing here.
fn moh_class_problems(config: &Config, loaded: Option<&MusicOnHold>) -> Vec<String> {
    let moh_dir = config.ivr.sounds_dir.join("moh");
    config
        .acd
        .queues
        .iter()
        .filter(|q| q.music_on_hold != DEFAULT_MOH_CLASS)
        .filter(|q| !loaded.is_some_and(|m| m.contains(&q.music_on_hold)))
        .filter_map(|q| {
            let dir = moh_dir.join(&q.music_on_hold);
            (!dir.is_dir()).then(|| {
                let message = format!(
                    "queues.{}.music_on_hold = \"{}\": no such music-on-hold class: {} is not a directory (the classes are the sub-directories of {}, and \"{DEFAULT_MOH_CLASS}\")",
                    crate::config::key_part(&q.config.name),
                    q.music_on_hold,
                    dir.display(),
                    moh_dir.display()
                );
                q.music_on_hold_at.error(message).to_string()
            })
        })
        .collect()
}

/// What a caller waiting in a queue can hear (`crate::acd::phrases`): every prompt exists in
/// every language, and the longest announcement in each language is no longer than the
/// interval, else it would still play when the next is due (`announce::check_length`).
fn announcement_problems(
    config: &Config,
    prompts: &PromptLibrary,
    check: &LibraryCheck<'_>,
) -> Vec<String> {
    let mut problems: Vec<String> = phrases::all_prompt_names()
        .into_iter()
        .flat_map(|name| {
            check
                .missing(name)
                .into_iter()
                .map(move |why| format!("acd: queue announcement prompt \"{name}\" {why}"))
        })
        .collect();
    for lang in Lang::ALL {
        // A missing prompt counts as silent here; it was named above.
        let length = |name: &'static str| {
            prompts
                .get(lang.as_str(), name)
                .map_or(Duration::ZERO, |p| p.duration())
        };
        let (longest, names) = phrases::longest_announcement(lang, length);
        if let Err(e) = check_length(longest, config.acd.announce_every) {
            problems.push(format!(
                "acd: in {}, {e} (acd.announce_every; the longest is {})",
                lang.as_str(),
                names.join(" ")
            ));
        }
    }
    problems
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
        "ok: {} flow(s) [{}], {} prompt file(s), music on hold [{}]",
        names.len(),
        names.join(", "),
        p.prompts.len(),
        p.music_on_hold.names().join(", ")
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
        assert!(
            report.ends_with(" prompt file(s), music on hold [calm, default]"),
            "{report}"
        );
    }

    #[test]
    fn every_problem_of_a_flow_directory_is_named_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let flows = dir.path().join("flows");
        let sounds = dir.path().join("sounds");
        std::fs::create_dir(&flows).unwrap();
        // Every language but kk has "welcome"; ru has a WAV that is not one.
        let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds/en/welcome.wav");
        std::fs::create_dir_all(sounds.join("moh")).unwrap();
        std::fs::copy(&good, sounds.join("moh/default.wav")).unwrap();
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
        // No queue, so no queue announcement prompts are wanted.
        config.acd.queues.clear();
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

    #[test]
    fn the_bundled_queue_announcement_prompts_exist_and_fit_in_a_minute() {
        let config = bundled();
        assert!(!config.acd.queues.is_empty());
        let (prompts, bad) = PromptLibrary::load_dir_partial(&config.ivr.sounds_dir);
        assert!(bad.is_empty());
        let check = LibraryCheck {
            lib: &prompts,
            sounds_dir: &config.ivr.sounds_dir,
            bad: HashSet::new(),
        };
        assert_eq!(
            announcement_problems(&config, &prompts, &check),
            Vec::<String>::new()
        );
    }

    /// The bundled prompts and flows, with the sounds in a temporary copy to break.
    fn bundled_copy() -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = bundled();
        for lang in LANGUAGES.into_iter().chain(["moh", "moh/calm"]) {
            let to = dir.path().join(lang);
            std::fs::create_dir(&to).unwrap();
            for file in std::fs::read_dir(config.ivr.sounds_dir.join(lang)).unwrap() {
                let file = file.unwrap();
                if file.path().is_file() {
                    std::fs::copy(file.path(), to.join(file.file_name())).unwrap();
                }
            }
        }
        config.ivr.sounds_dir = dir.path().to_path_buf();
        (dir, config)
    }

    #[test]
    fn a_missing_queue_phrase_prompt_is_named_with_its_file() {
        let (dir, config) = bundled_copy();
        std::fs::remove_file(dir.path().join("kk/queue_paid.wav")).unwrap();
        std::fs::remove_file(dir.path().join("en/num_700.wav")).unwrap();
        let problems = check(&config).unwrap_err().to_string();
        let s = dir.path().display();
        assert_eq!(
            problems,
            [
                format!("acd: queue announcement prompt \"num_700\" has no {s}/en/num_700.wav"),
                format!(
                    "acd: queue announcement prompt \"queue_paid\" has no {s}/kk/queue_paid.wav"
                ),
            ]
            .join("\n")
        );
    }

    #[test]
    fn a_missing_queue_phrase_prompt_is_not_wanted_without_queues() {
        let (dir, mut config) = bundled_copy();
        std::fs::remove_file(dir.path().join("kk/queue_paid.wav")).unwrap();
        config.acd.queues.clear();
        // The bundled flow's queue node then names a queue that is not configured: that is
        // the only problem.
        let problems = check(&config).unwrap_err().to_string();
        assert_eq!(
            problems,
            "flow \"main\": node \"operator_queue\" enters queue \"support\", which is not configured ([queues.support] in the config)"
        );
    }

    #[test]
    fn a_dial_through_a_trunk_that_is_not_configured_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = bundled();
        std::fs::copy(
            config.ivr.flows_dir.join("main.yaml"),
            dir.path().join("main.yaml"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("outside.yaml"),
            "start: out\nnodes:\n  out:\n    dial: \"87172000000\"\n    trunk: carrier\n    on_no_answer: bye\n    next: bye\n  bye: { hangup: true }\n",
        )
        .unwrap();
        config.ivr.flows_dir = dir.path().to_path_buf();
        let problems = check(&config).unwrap_err().to_string();
        assert_eq!(
            problems,
            "flow \"outside\": node \"out\" dials through trunk \"carrier\", which is not configured ([trunks.carrier] in the config)"
        );
        config.trunks = crate::config::Config::parse(
            Path::new("t.toml"),
            "[trunks.carrier]\nproxy = \"sip:127.0.0.1:5080\"\ncaller_id = \"+77172000000\"\n",
        )
        .unwrap()
        .trunks;
        assert!(check(&config).is_ok());
    }

    #[test]
    fn an_announcement_longer_than_the_interval_is_named_per_language() {
        let mut config = bundled();
        // Under the 60 s the config allows, to see the rule with the bundled prompts.
        config.acd.announce_every = Duration::from_secs(1);
        let problems = check(&config).unwrap_err().0;
        assert_eq!(problems.len(), 3, "{problems:?}");
        for (lang, problem) in ["kk", "ru", "en"].iter().zip(&problems) {
            assert!(
                problem.starts_with(&format!(
                    "acd: in {lang}, the longest queue announcement lasts "
                )),
                "{problem}"
            );
            assert!(
                problem.contains("longer than the announcement interval of 1 s: it would still be playing when the next one is due (acd.announce_every; the longest is queue_position_is "),
                "{problem}"
            );
        }
    }

    /// A config file (`q.toml`) with the bundled flows and a copy of the bundled sounds,
    /// and these queue tables after the support queue (which the bundled flow enters).
    fn with_queues(queues: &str) -> (tempfile::TempDir, Config) {
        let (dir, copy) = bundled_copy();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = format!(
            "[ivr]\nflows_dir = \"{}\"\nsounds_dir = \"{}\"\n\n[queues.support]\nmembers = [\"2001\"]\n{queues}",
            root.join("ivr-flows").display(),
            copy.ivr.sounds_dir.display()
        );
        (dir, Config::parse(Path::new("q.toml"), &text).unwrap())
    }

    #[test]
    fn a_queues_music_on_hold_class_in_a_sub_directory_passes() {
        let (_dir, config) =
            with_queues("music_on_hold = \"calm\"\n[queues.sales]\nmembers = [\"2002\"]\n");
        let p = prepare(&config).unwrap();
        assert_eq!(p.music_on_hold.names(), ["calm", "default"]);
        assert_eq!(config.acd.queues[0].music_on_hold, "calm");
        assert_eq!(config.acd.queues[1].music_on_hold, "default");
    }

    #[test]
    fn a_queues_music_on_hold_class_missing_on_disk_is_named_with_the_key_line_and_directory() {
        let (dir, config) = with_queues(
            "\n[queues.sales]\nmembers = [\"2002\"]\nmusic_on_hold = \"jingle\"\n\n[queues.\"vip desk\"]\nmusic_on_hold = \"gold\"\nmembers = [\"2003\"]\n",
        );
        let problems = check(&config).unwrap_err().to_string();
        let m = dir.path().join("moh");
        let m = m.display();
        assert_eq!(
            problems,
            [
                format!("q.toml:10: queues.sales.music_on_hold = \"jingle\": no such music-on-hold class: {m}/jingle is not a directory (the classes are the sub-directories of {m}, and \"default\")"),
                format!("q.toml:13: queues.\"vip desk\".music_on_hold = \"gold\": no such music-on-hold class: {m}/gold is not a directory (the classes are the sub-directories of {m}, and \"default\")"),
            ]
            .join("\n")
        );
    }

    #[test]
    fn a_music_on_hold_class_directory_without_a_wav_is_named_once() {
        let (dir, config) = with_queues("music_on_hold = \"empty\"\n");
        std::fs::create_dir(dir.path().join("moh/empty")).unwrap();
        let problems = check(&config).unwrap_err().to_string();
        // The directory's problem; the queue naming it is not called missing on top.
        assert_eq!(
            problems,
            format!(
                "{}/moh/empty: holds no .wav file for the music-on-hold class empty",
                dir.path().display()
            )
        );
    }

    #[test]
    fn a_missing_music_on_hold_directory_is_named() {
        let (dir, config) = bundled_copy();
        std::fs::remove_dir_all(dir.path().join("moh")).unwrap();
        let problems = check(&config).unwrap_err().to_string();
        assert!(
            problems.starts_with(&format!(
                "{}/moh: cannot read the music-on-hold directory",
                dir.path().display()
            )),
            "{problems}"
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
