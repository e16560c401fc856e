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

/// Music on hold: every `dir/moh/*.wav`, in name order, looped one after another. A missing
/// directory, one without WAV files, or a file that is not 8 kHz mono 16-bit PCM is an error
/// naming the path, for start-up to report.
pub fn load_music_on_hold(sounds_dir: &Path) -> Result<Vec<Arc<Prompt>>, PromptError> {
    let dir = sounds_dir.join("moh");
    let entries = std::fs::read_dir(&dir).map_err(|e| PromptError {
        file: dir.clone(),
        why: format!("cannot read the music-on-hold directory (want moh/default.wav): {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("wav"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(PromptError {
            file: dir,
            why: "holds no .wav file for music on hold".into(),
        });
    }
    files.iter().map(|f| load_wav(f).map(Arc::new)).collect()
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
}
