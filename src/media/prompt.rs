//! Prompts: `sounds/<lang>/<name>.wav`, loaded once at start, checked (8 kHz, mono, 16-bit
//! PCM; anything else is refused naming the file and why) and encoded once into PCMU and
//! PCMA so playback is a copy of bytes.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::media::g711::{linear_to_alaw, linear_to_ulaw};
use crate::sdp::Codec;

#[derive(Debug)]
pub struct Prompt {
    pub name: String,
    pub pcmu: Box<[u8]>,
    pub pcma: Box<[u8]>,
}

impl Prompt {
    pub fn from_pcm(name: &str, pcm: &[i16]) -> Prompt {
        Prompt {
            name: name.to_string(),
            pcmu: pcm.iter().map(|&s| linear_to_ulaw(s)).collect(),
            pcma: pcm.iter().map(|&s| linear_to_alaw(s)).collect(),
        }
    }

    pub fn encoded(&self, codec: Codec) -> &[u8] {
        match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        }
    }

    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.pcmu.len() as u64 * 125)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptError {
    pub file: PathBuf,
    pub why: String,
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.why)
    }
}

/// Every bad file at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptErrors(pub Vec<PromptError>);

impl fmt::Display for PromptErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::units::write_lines(f, &self.0)
    }
}

impl std::error::Error for PromptErrors {}

/// Load and check one WAV.
pub fn load_wav(path: &Path) -> Result<Prompt, PromptError> {
    let err = |why: String| PromptError {
        file: path.to_path_buf(),
        why,
    };
    let mut reader =
        hound::WavReader::open(path).map_err(|e| err(format!("not a readable WAV file: {e}")))?;
    let spec = reader.spec();
    let mut problems = Vec::new();
    if spec.sample_rate != 8000 {
        problems.push(format!(
            "sample rate is {} Hz, must be 8000 Hz",
            spec.sample_rate
        ));
    }
    if spec.channels != 1 {
        problems.push(format!("{} channels, must be mono", spec.channels));
    }
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        problems.push(format!(
            "{} {}-bit samples, must be 16-bit PCM",
            if spec.sample_format == hound::SampleFormat::Int {
                "integer"
            } else {
                "float"
            },
            spec.bits_per_sample
        ));
    }
    if !problems.is_empty() {
        return Err(err(format!(
            "{} (convert with: sox IN -r 8000 -c 1 -b 16 -e signed-integer OUT.wav)",
            problems.join("; ")
        )));
    }
    let pcm: Result<Vec<i16>, _> = reader.samples::<i16>().collect();
    let pcm = pcm.map_err(|e| err(format!("unreadable samples: {e}")))?;
    if pcm.is_empty() {
        return Err(err("holds no audio".into()));
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Prompt::from_pcm(&name, &pcm))
}

/// The music-on-hold class of the files directly in `moh/`: what a caller hears when no
/// other class is asked for, and instead of a class that does not exist.
pub const DEFAULT_MOH_CLASS: &str = "default";

/// Music-on-hold classes, loaded once at start: the files directly in `sounds/moh/` are the
/// class [`DEFAULT_MOH_CLASS`], each sub-directory `sounds/moh/<class>/` a class named after
/// it. A class's files play in name order, looped one after another.
#[derive(Debug, Clone)]
pub struct MusicOnHold {
    classes: HashMap<Arc<str>, Arc<[Arc<Prompt>]>>,
    default: Arc<[Arc<Prompt>]>,
}

impl MusicOnHold {
    /// One class only, the default (for tests and tools that bring their own music).
    pub fn single(prompts: Vec<Arc<Prompt>>) -> MusicOnHold {
        let default: Arc<[Arc<Prompt>]> = prompts.into();
        MusicOnHold {
            classes: HashMap::from([(Arc::from(DEFAULT_MOH_CLASS), Arc::clone(&default))]),
            default,
        }
    }

    /// Load every class of `sounds_dir/moh`, or every problem at once: the directory cannot
    /// be read, a class directory (or `moh/` itself, the default class) holds no `.wav`
    /// file, a file is not 8 kHz mono 16-bit PCM, a sub-directory is named `default`.
    pub fn load(sounds_dir: &Path) -> Result<MusicOnHold, PromptErrors> {
        match MusicOnHold::load_partial(sounds_dir) {
            (Some(moh), errors) if errors.is_empty() => Ok(moh),
            (_, errors) => Err(PromptErrors(errors)),
        }
    }

    /// Like [`MusicOnHold::load`], but keeps the classes that loaded next to the problems
    /// of those that did not (a class with a problem is left out), so a check can go on to
    /// name every queue whose class is missing. `None` when the default class is unusable.
    pub fn load_partial(sounds_dir: &Path) -> (Option<MusicOnHold>, Vec<PromptError>) {
        let dir = sounds_dir.join("moh");
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                let error = PromptError {
                    file: dir,
                    why: format!(
                        "cannot read the music-on-hold directory (want moh/default.wav): {e}"
                    ),
                };
                return (None, vec![error]);
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        let mut errors = Vec::new();
        let mut classes = HashMap::new();
        let top: Vec<PathBuf> = paths.iter().filter(|p| is_wav(p)).cloned().collect();
        let default = load_class(&dir, &top, DEFAULT_MOH_CLASS, &mut errors);
        for class_dir in paths.iter().filter(|p| p.is_dir()) {
            let Some(name) = class_dir.file_name().and_then(|n| n.to_str()) else {
                errors.push(PromptError {
                    file: class_dir.clone(),
                    why: "a music-on-hold class directory must have a UTF-8 name".into(),
                });
                continue;
            };
            if name.starts_with('.') {
                continue; // hidden: not a class
            }
            if name == DEFAULT_MOH_CLASS {
                errors.push(PromptError {
                    file: class_dir.clone(),
                    why: format!(
                        "a music-on-hold class cannot be named {DEFAULT_MOH_CLASS}: the files directly in {} are that class",
                        dir.display()
                    ),
                });
                continue;
            }
            let files: Vec<PathBuf> = match std::fs::read_dir(class_dir) {
                Ok(entries) => {
                    let mut files: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| is_wav(p))
                        .collect();
                    files.sort();
                    files
                }
                Err(e) => {
                    errors.push(PromptError {
                        file: class_dir.clone(),
                        why: format!("cannot read the music-on-hold class directory: {e}"),
                    });
                    continue;
                }
            };
            if let Some(prompts) = load_class(class_dir, &files, name, &mut errors) {
                classes.insert(Arc::from(name), prompts);
            }
        }
        let moh = default.map(|default| {
            classes.insert(Arc::from(DEFAULT_MOH_CLASS), Arc::clone(&default));
            MusicOnHold { classes, default }
        });
        (moh, errors)
    }

    /// The prompts of `class`, or of the default class when there is no such class (a
    /// caller on hold never hears silence for a name the disk does not have).
    pub fn get(&self, class: &str) -> Arc<[Arc<Prompt>]> {
        match self.classes.get(class) {
            Some(prompts) => Arc::clone(prompts),
            None => {
                tracing::debug!(class, "no such music-on-hold class; playing the default");
                Arc::clone(&self.default)
            }
        }
    }

    pub fn contains(&self, class: &str) -> bool {
        self.classes.contains_key(class)
    }

    /// The class names, sorted (`default` among them).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.classes.keys().map(|k| &**k).collect();
        names.sort_unstable();
        names
    }
}

fn is_wav(path: &Path) -> bool {
    path.is_file() && path.extension().and_then(|x| x.to_str()) == Some("wav")
}

/// One class's files, or `None` with its problems added: no file at all (naming the
/// directory), or a file that does not load (naming the file).
fn load_class(
    dir: &Path,
    files: &[PathBuf],
    class: &str,
    errors: &mut Vec<PromptError>,
) -> Option<Arc<[Arc<Prompt>]>> {
    if files.is_empty() {
        errors.push(PromptError {
            file: dir.to_path_buf(),
            why: format!("holds no .wav file for the music-on-hold class {class}"),
        });
        return None;
    }
    let before = errors.len();
    let prompts: Vec<Arc<Prompt>> = files
        .iter()
        .filter_map(|f| load_wav(f).map_err(|e| errors.push(e)).ok().map(Arc::new))
        .collect();
    (errors.len() == before).then(|| prompts.into())
}

/// Music on hold of the default class: every `dir/moh/*.wav`, in name order. A missing
/// directory, one without WAV files, or a file that is not 8 kHz mono 16-bit PCM is an error
/// naming the path (the first of them). [`MusicOnHold::load`] loads every class.
pub fn load_music_on_hold(sounds_dir: &Path) -> Result<Vec<Arc<Prompt>>, PromptError> {
    let dir = sounds_dir.join("moh");
    let entries = std::fs::read_dir(&dir).map_err(|e| PromptError {
        file: dir.clone(),
        why: format!("cannot read the music-on-hold directory (want moh/default.wav): {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_wav(p))
        .collect();
    files.sort();
    let mut errors = Vec::new();
    match load_class(&dir, &files, DEFAULT_MOH_CLASS, &mut errors) {
        Some(prompts) => Ok(prompts.to_vec()),
        None => Err(errors.remove(0)),
    }
}

/// All prompts, by language and name.
#[derive(Debug, Default)]
pub struct PromptLibrary {
    prompts: HashMap<(String, String), Arc<Prompt>>,
}

impl PromptLibrary {
    /// Load `dir/<lang>/*.wav` for every language directory present.
    pub fn load_dir(dir: &Path) -> Result<PromptLibrary, PromptErrors> {
        let (lib, errors) = PromptLibrary::load_dir_partial(dir);
        if errors.is_empty() {
            Ok(lib)
        } else {
            Err(PromptErrors(errors))
        }
    }

    /// Like [`PromptLibrary::load_dir`], but keeps every file that loaded next to the
    /// problems of those that did not, so a check can go on to name every missing prompt.
    pub fn load_dir_partial(dir: &Path) -> (PromptLibrary, Vec<PromptError>) {
        let mut lib = PromptLibrary::default();
        let mut errors = Vec::new();
        let langs = match std::fs::read_dir(dir) {
            Ok(langs) => langs,
            Err(e) => {
                let error = PromptError {
                    file: dir.to_path_buf(),
                    why: format!("cannot read the sounds directory: {e}"),
                };
                return (lib, vec![error]);
            }
        };
        // sounds/moh/ is music on hold (loaded by the media engine), not a language.
        let mut langs: Vec<PathBuf> = langs
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "moh"))
            .collect();
        langs.sort();
        for lang_dir in langs {
            let lang = lang_dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Ok(entries) = std::fs::read_dir(&lang_dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("wav"))
                .collect();
            files.sort();
            for file in files {
                match load_wav(&file) {
                    Ok(p) => {
                        lib.prompts
                            .insert((lang.clone(), p.name.clone()), Arc::new(p));
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        (lib, errors)
    }

    pub fn get(&self, lang: &str, name: &str) -> Option<Arc<Prompt>> {
        self.prompts
            .get(&(lang.to_string(), name.to_string()))
            .cloned()
    }

    /// The prompts `names` in `lang`, in order. A missing one is left out and logged: the
    /// preflight checks every prompt in every language, so it is a bug.
    pub fn resolve<S: AsRef<str>>(&self, lang: &str, names: &[S]) -> Vec<Arc<Prompt>> {
        names
            .iter()
            .filter_map(|name| {
                let p = self.get(lang, name.as_ref());
                if p.is_none() {
                    tracing::warn!(prompt = name.as_ref(), language = lang, "prompt missing");
                }
                p
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    pub fn insert(&mut self, lang: &str, prompt: Prompt) {
        self.prompts
            .insert((lang.to_string(), prompt.name.clone()), Arc::new(prompt));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, rate: u32, channels: u16, bits: u16) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..800 {
            if bits == 16 {
                w.write_sample((i % 100) as i16 * 100).unwrap();
            } else {
                w.write_sample((i % 100) as i8).unwrap();
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn the_bundled_prompts_load_in_all_three_languages() {
        let lib =
            PromptLibrary::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds")).unwrap();
        for lang in ["kk", "ru", "en"] {
            let p = lib.get(lang, "welcome").unwrap();
            assert!(p.duration() > Duration::from_secs(1));
            assert_eq!(p.pcmu.len(), p.pcma.len());
        }
    }

    #[test]
    fn wrong_formats_are_refused_with_the_file_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("en")).unwrap();
        write(&dir.path().join("en/ok.wav"), 8000, 1, 16);
        write(&dir.path().join("en/wide.wav"), 16000, 2, 16);
        write(&dir.path().join("en/narrow.wav"), 8000, 1, 8);
        std::fs::write(dir.path().join("en/junk.wav"), b"not a wav").unwrap();
        let err = PromptLibrary::load_dir(dir.path()).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.0.len(), 3, "{text}");
        assert!(
            text.contains(
                "wide.wav: sample rate is 16000 Hz, must be 8000 Hz; 2 channels, must be mono"
            ),
            "{text}"
        );
        assert!(
            text.contains("narrow.wav: integer 8-bit samples, must be 16-bit PCM"),
            "{text}"
        );
        assert!(text.contains("junk.wav: not a readable WAV file"), "{text}");
    }
    #[test]
    fn music_on_hold_loads_and_names_a_bad_or_missing_file() {
        let bundled = load_music_on_hold(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds"));
        let moh = bundled.unwrap();
        assert!(moh[0].duration() >= Duration::from_secs(20));
        let dir = tempfile::tempdir().unwrap();
        let err = load_music_on_hold(dir.path()).unwrap_err().to_string();
        assert!(err.contains("moh") && err.contains("cannot read"), "{err}");
        std::fs::create_dir(dir.path().join("moh")).unwrap();
        let err = load_music_on_hold(dir.path()).unwrap_err().to_string();
        assert!(err.contains("holds no .wav"), "{err}");
        std::fs::write(dir.path().join("moh/default.wav"), b"not a wav").unwrap();
        let err = load_music_on_hold(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("moh/default.wav: not a readable WAV file"),
            "{err}"
        );
    }

    #[test]
    fn the_bundled_music_on_hold_has_the_default_and_the_calm_class() {
        let moh = MusicOnHold::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds")).unwrap();
        assert_eq!(moh.names(), ["calm", "default"]);
        let calm = moh.get("calm");
        assert_eq!(calm.len(), 1);
        assert!(calm[0].duration() > Duration::from_secs(5));
        assert!(calm[0].duration() <= Duration::from_secs(20));
        assert_eq!(moh.get("default")[0].name, "default");
    }

    #[test]
    fn music_on_hold_classes_are_the_sub_directories_and_an_unknown_one_plays_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let moh_dir = dir.path().join("moh");
        std::fs::create_dir_all(moh_dir.join("calm")).unwrap();
        std::fs::create_dir_all(moh_dir.join("sales-jingle")).unwrap();
        std::fs::create_dir_all(moh_dir.join(".git")).unwrap(); // hidden: not a class
        write(&moh_dir.join("b.wav"), 8000, 1, 16);
        write(&moh_dir.join("a.wav"), 8000, 1, 16);
        write(&moh_dir.join("calm/2.wav"), 8000, 1, 16);
        write(&moh_dir.join("calm/1.wav"), 8000, 1, 16);
        write(&moh_dir.join("sales-jingle/jingle.wav"), 8000, 1, 16);
        std::fs::write(moh_dir.join("calm/readme.txt"), b"not music").unwrap();
        let moh = MusicOnHold::load(dir.path()).unwrap();
        assert_eq!(moh.names(), ["calm", "default", "sales-jingle"]);
        let names = |class: &str| -> Vec<String> {
            moh.get(class).iter().map(|p| p.name.clone()).collect()
        };
        assert_eq!(names("default"), ["a", "b"], "in name order");
        assert_eq!(names("calm"), ["1", "2"]);
        assert_eq!(names("sales-jingle"), ["jingle"]);
        assert!(moh.contains("calm") && !moh.contains("nope"));
        // A class the disk does not have: the default class, never silence.
        assert!(Arc::ptr_eq(&moh.get("nope"), &moh.get("default")));
    }

    #[test]
    fn an_empty_or_bad_music_on_hold_class_is_an_error_naming_its_directory_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let moh_dir = dir.path().join("moh");
        for class in ["calm", "empty", "broken", "default"] {
            std::fs::create_dir_all(moh_dir.join(class)).unwrap();
        }
        write(&moh_dir.join("default.wav"), 8000, 1, 16);
        write(&moh_dir.join("calm/calm.wav"), 8000, 1, 16);
        std::fs::write(moh_dir.join("empty/notes.txt"), b"no music here").unwrap();
        write(&moh_dir.join("broken/ok.wav"), 8000, 1, 16);
        write(&moh_dir.join("broken/wide.wav"), 16000, 1, 16);
        write(&moh_dir.join("default/x.wav"), 8000, 1, 16);
        let err = MusicOnHold::load(dir.path()).unwrap_err();
        let m = moh_dir.display();
        assert_eq!(
            err.to_string(),
            [
                format!("{m}/broken/wide.wav: sample rate is 16000 Hz, must be 8000 Hz (convert with: sox IN -r 8000 -c 1 -b 16 -e signed-integer OUT.wav)"),
                format!("{m}/default: a music-on-hold class cannot be named default: the files directly in {m} are that class"),
                format!("{m}/empty: holds no .wav file for the music-on-hold class empty"),
            ]
            .join("\n")
        );
        // The classes that loaded are kept for a check to go on with.
        let (moh, errors) = MusicOnHold::load_partial(dir.path());
        assert_eq!(errors.len(), 3);
        assert_eq!(moh.unwrap().names(), ["calm", "default"]);
        // Without the default class (no file directly in moh/) there is no music at all.
        std::fs::remove_file(moh_dir.join("default.wav")).unwrap();
        let (moh, errors) = MusicOnHold::load_partial(dir.path());
        assert!(moh.is_none());
        assert!(
            errors.iter().any(|e| e.to_string()
                == format!("{m}: holds no .wav file for the music-on-hold class default")),
            "{errors:?}"
        );
    }
}
