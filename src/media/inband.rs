//! In-band DTMF detection (tones in the audio, for phones that do not send RFC 4733),
//! with the Goertzel algorithm over 20 ms windows every 10 ms. Sans-IO, no allocation.
//!
//! Limits, after ITU-T Q.24 as applied by most exchanges:
//! - frequency: each tone within ±1.5 % is accepted; beyond ±3.5 % it is rejected (the
//!   Goertzel response 24 Hz off a 50 Hz-wide bin falls well below the purity threshold);
//! - twist: the high-group tone at most 8 dB weaker (normal) or 4 dB stronger (reverse)
//!   than the low-group tone;
//! - duration: a digit needs about 40 ms of tone (three consecutive windows, each mostly
//!   tone); a 23 ms burst is rejected; a pause of 20 ms or more separates digits;
//! - speech: the two tones must hold most of the window's energy, each must dominate its
//!   group, and their second harmonics must be weak.
//!
//! Silence costs almost nothing: windows below the level threshold skip the filters.

use crate::media::dtmf::Digit;

const RATE: f32 = 8000.0;
const WINDOW: usize = 160; // 20 ms
const HOP: usize = 80; // 10 ms
const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Share of the window's energy the two tones must hold (1.0 = pure, full-window tones).
const PURITY: f32 = 0.6;
/// Each tone's amplitude must reach this (about -38 dBov).
const MIN_AMPLITUDE: f32 = 400.0;
const NORMAL_TWIST_DB: f32 = 8.0;
const REVERSE_TWIST_DB: f32 = 4.0;
/// Consecutive windows that must agree before a digit is reported (~40 ms of tone).
const ACCEPT_WINDOWS: u8 = 3;
/// Consecutive windows without the tone that end it (~20 ms of pause).
const RELEASE_WINDOWS: u8 = 2;

struct Coeffs {
    low: [f32; 4],
    high: [f32; 4],
    low2: [f32; 4],
    high2: [f32; 4],
}

fn coeff(f: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * f / RATE).cos()
}

fn coeffs() -> Coeffs {
    Coeffs {
        low: LOW.map(coeff),
        high: HIGH.map(coeff),
        low2: LOW.map(|f| coeff(2.0 * f)),
        high2: HIGH.map(|f| coeff(2.0 * f)),
    }
}

/// |X(f)|² for four frequencies at once, in one pass over the window: the four
/// recurrences are independent, so the compiler keeps them in one SIMD register.
fn goertzel4(samples: &[f32; WINDOW], k: &[f32; 4]) -> [f32; 4] {
    let (mut s1, mut s2) = ([0.0f32; 4], [0.0f32; 4]);
    for &x in samples {
        for i in 0..4 {
            let s = x + k[i] * s1[i] - s2[i];
            s2[i] = s1[i];
            s1[i] = s;
        }
    }
    std::array::from_fn(|i| s1[i] * s1[i] + s2[i] * s2[i] - k[i] * s1[i] * s2[i])
}

/// |X(f)|² of the window by the Goertzel recurrence.
fn goertzel(samples: &[f32; WINDOW], k: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s = x + k * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - k * s1 * s2
}

pub struct InbandDetector {
    coeffs: Coeffs,
    /// The window being analysed: the previous hop then the current one.
    window: [f32; WINDOW],
    /// Samples of the current hop collected so far (into `window[HOP..]`).
    pending: usize,
    /// Whether `window[..HOP]` holds a real previous hop yet.
    primed: bool,
    candidate: Option<(Digit, u8)>,
    active: Option<Digit>,
    misses: u8,
}

impl Default for InbandDetector {
    fn default() -> Self {
        InbandDetector {
            coeffs: coeffs(),
            window: [0.0; WINDOW],
            pending: 0,
            primed: false,
            candidate: None,
            active: None,
            misses: 0,
        }
    }
}

impl InbandDetector {
    /// Feed decoded 8 kHz PCM (any length; usually one 20 ms frame). Returns a digit the
    /// moment one is recognised; at most one per call, which 20 ms frames guarantee.
    pub fn handle_samples(&mut self, pcm: &[i16]) -> Option<Digit> {
        let mut found = None;
        let mut rest = pcm;
        while !rest.is_empty() {
            let take = (HOP - self.pending).min(rest.len());
            for (dst, &s) in self.window[HOP + self.pending..HOP + self.pending + take]
                .iter_mut()
                .zip(&rest[..take])
            {
                *dst = s as f32;
            }
            self.pending += take;
            rest = &rest[take..];
            if self.pending == HOP {
                // A hop is complete: analyse [previous hop, this hop], then slide by one hop.
                if self.primed {
                    let seen = self.analyse();
                    if let Some(d) = self.update(seen) {
                        found = Some(d);
                    }
                }
                self.window.copy_within(HOP.., 0);
                self.pending = 0;
                self.primed = true;
            }
        }
        found
    }

    fn update(&mut self, seen: Option<Digit>) -> Option<Digit> {
        match seen {
            Some(d) => {
                self.misses = 0;
                if self.active.is_some() {
                    return None; // still the same press (or a change without a pause)
                }
                let count = match self.candidate {
                    Some((c, n)) if c == d => n + 1,
                    _ => 1,
                };
                self.candidate = Some((d, count));
                if count >= ACCEPT_WINDOWS {
                    self.active = Some(d);
                    self.candidate = None;
                    return Some(d);
                }
                None
            }
            None => {
                self.candidate = None;
                if self.active.is_some() {
                    self.misses += 1;
                    if self.misses >= RELEASE_WINDOWS {
                        self.active = None;
                        self.misses = 0;
                    }
                }
                None
            }
        }
    }

    fn analyse(&self) -> Option<Digit> {
        let energy: f32 = self.window.iter().map(|x| x * x).sum();
        // Two tones at MIN_AMPLITUDE carry at least this much.
        if energy < MIN_AMPLITUDE * MIN_AMPLITUDE * WINDOW as f32 {
            return None;
        }
        // Amplitude of a full-window tone from its Goertzel power: a = 2|X|/N.
        let n = WINDOW as f32;
        // The low group first: speech usually fails here, and the high group is skipped.
        let low = goertzel4(&self.window, &self.coeffs.low);
        let (li, lp) = peak(&low)?;
        let la = 2.0 * lp.sqrt() / n;
        // Even at the 4 dB reverse-twist limit the low tone holds over 10 % of the energy
        // of a valid window (28 % of the tones' 60 %+ share).
        if la < MIN_AMPLITUDE || la * la * n / 2.0 < 0.1 * energy {
            return None;
        }
        let high = goertzel4(&self.window, &self.coeffs.high);
        let (hi, hp) = peak(&high)?;
        let ha = 2.0 * hp.sqrt() / n;
        if ha < MIN_AMPLITUDE {
            return None;
        }
        // Share of the energy in the two tones: (a1² + a2²)·N/2 over the window energy.
        if (la * la + ha * ha) * n / 2.0 < PURITY * energy {
            return None;
        }
        let twist_db = 20.0 * (ha / la).log10();
        if !(-NORMAL_TWIST_DB..=REVERSE_TWIST_DB).contains(&twist_db) {
            return None;
        }
        let l2 = goertzel(&self.window, self.coeffs.low2[li]);
        let h2 = goertzel(&self.window, self.coeffs.high2[hi]);
        if l2 > lp * 0.1 || h2 > hp * 0.1 {
            return None; // strong harmonics: a voice, not a keypad
        }
        Digit::from_char(KEYS[li][hi])
    }
}

/// The strongest filter and its power, if it clearly dominates the other three.
fn peak(p: &[f32; 4]) -> Option<(usize, f32)> {
    let (i, &max) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let dominates = p.iter().enumerate().all(|(j, &v)| j == i || v * 4.0 < max);
    dominates.then_some((i, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tone pair at the given frequencies and amplitudes, for `ms` milliseconds.
    fn tone(f1: f32, a1: f32, f2: f32, a2: f32, ms: usize) -> Vec<i16> {
        (0..ms * 8)
            .map(|i| {
                let t = i as f32 / RATE;
                let v = a1 * (2.0 * std::f32::consts::PI * f1 * t).sin()
                    + a2 * (2.0 * std::f32::consts::PI * f2 * t).sin();
                v.clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * 8]
    }

    fn key(d: char) -> (f32, f32) {
        for (r, row) in KEYS.iter().enumerate() {
            for (c, k) in row.iter().enumerate() {
                if *k == d {
                    return (LOW[r], HIGH[c]);
                }
            }
        }
        unreachable!()
    }

    /// Deterministic white noise (LCG), amplitude `a`.
    fn noise(len: usize, a: f32, seed: u32) -> Vec<f32> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 8) as f32 / (1u32 << 24) as f32 * 2.0 * a - a
            })
            .collect()
    }

    fn detect(pcm: &[i16]) -> String {
        let mut d = InbandDetector::default();
        pcm.chunks(160)
            .filter_map(|f| d.handle_samples(f))
            .map(|d| d.as_char())
            .collect()
    }

    #[test]
    fn all_sixteen_keys_in_noise() {
        for k in "123A456B789C*0#D".chars() {
            let (lo, hi) = key(k);
            let mut pcm: Vec<i16> = silence(60);
            pcm.extend(tone(lo, 6000.0, hi, 6000.0, 60));
            pcm.extend(silence(60));
            // About 20 dB SNR: noise amplitude ~ 1/10 of the tones' RMS sum.
            let n = noise(pcm.len(), 1500.0, k as u32);
            let noisy: Vec<i16> = pcm
                .iter()
                .zip(n)
                .map(|(&s, n)| (s as f32 + n) as i16)
                .collect();
            assert_eq!(detect(&noisy), k.to_string(), "key {k}");
        }
    }

    #[test]
    fn a_digit_sequence_with_short_gaps() {
        let mut pcm = silence(40);
        for k in "1590#".chars() {
            let (lo, hi) = key(k);
            pcm.extend(tone(lo, 5000.0, hi, 5000.0, 50));
            pcm.extend(silence(45));
        }
        assert_eq!(detect(&pcm), "1590#");
    }

    #[test]
    fn a_long_press_is_one_digit() {
        let (lo, hi) = key('7');
        let mut pcm = tone(lo, 5000.0, hi, 5000.0, 900);
        pcm.extend(silence(40));
        assert_eq!(detect(&pcm), "7");
    }

    #[test]
    fn forty_ms_is_enough_and_twenty_three_is_not() {
        let (lo, hi) = key('5');
        for offset in [0, 3, 5, 7, 9] {
            let mut pcm = silence(offset + 20);
            pcm.extend(tone(lo, 5000.0, hi, 5000.0, 40));
            pcm.extend(silence(40));
            assert_eq!(detect(&pcm), "5", "40 ms tone at offset {offset} ms");
            let mut pcm = silence(offset + 20);
            pcm.extend(tone(lo, 5000.0, hi, 5000.0, 23));
            pcm.extend(silence(40));
            assert_eq!(detect(&pcm), "", "23 ms tone at offset {offset} ms");
        }
    }

    #[test]
    fn twist_limits() {
        let (lo, hi) = key('9');
        let at = |twist_db: f32| {
            let a_hi = 5000.0 * 10f32.powf(twist_db / 20.0);
            let mut pcm = tone(lo, 5000.0, hi, a_hi, 80);
            pcm.extend(silence(40));
            detect(&pcm)
        };
        assert_eq!(at(-7.0), "9", "normal twist 7 dB accepted");
        assert_eq!(at(3.5), "9", "reverse twist 3.5 dB accepted");
        assert_eq!(at(-10.0), "", "normal twist 10 dB rejected");
        assert_eq!(at(6.0), "", "reverse twist 6 dB rejected");
    }

    #[test]
    fn frequency_deviation_limits() {
        let (lo, hi) = key('1');
        let at = |dev: f32| {
            let mut pcm = tone(lo * (1.0 + dev), 5000.0, hi * (1.0 + dev), 5000.0, 80);
            pcm.extend(silence(40));
            detect(&pcm)
        };
        assert_eq!(at(0.015), "1");
        assert_eq!(at(-0.015), "1");
        assert_eq!(at(0.035), "");
        assert_eq!(at(-0.035), "");
    }

    #[test]
    fn quiet_tones_and_single_tones_are_ignored() {
        let (lo, hi) = key('2');
        assert_eq!(detect(&tone(lo, 200.0, hi, 200.0, 100)), "");
        assert_eq!(detect(&tone(lo, 8000.0, hi, 0.0, 100)), "");
    }

    #[test]
    fn a_voice_like_signal_is_not_a_digit() {
        // A 150 Hz voice with rich harmonics, whose 5th and 8th harmonics sit near 770 and
        // 1209 Hz: the harmonic structure and the energy spread must keep it out.
        let pcm: Vec<i16> = (0..8000)
            .map(|i| {
                let t = i as f32 / RATE;
                let v: f32 = (1..20)
                    .map(|h| {
                        3000.0 / h as f32
                            * (2.0 * std::f32::consts::PI * 151.0 * h as f32 * t).sin()
                    })
                    .sum();
                v.clamp(-32768.0, 32767.0) as i16
            })
            .collect();
        assert_eq!(detect(&pcm), "");
    }

    #[test]
    fn the_bundled_prompts_contain_no_digits() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds");
        for lang in ["en", "ru", "kk"] {
            for entry in std::fs::read_dir(dir.join(lang)).unwrap() {
                let path = entry.unwrap().path();
                let mut r = hound::WavReader::open(&path).unwrap();
                let pcm: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
                assert_eq!(detect(&pcm), "", "{}", path.display());
            }
        }
    }
}
