//! The embedded composer: the mood's soundtrack (energetic: fast and upbeat, elegant: orchestral
//! strings and harp, minimalist: ambient pads and vibraphone, emotional: piano and slow strings,
//! informative: calm corporate) played by a General MIDI SoundFont through rustysynth, exactly
//! as long as the video. The SoundFont is Debian's timgm6mb-soundfont (about 6 MB, GPL-2) unless
//! `SLATE_SOUNDFONT` names another; it is loaded once per process. The same mood and length
//! always make the same track.

use std::{
    path::PathBuf,
    sync::{Arc, OnceLock},
};

use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};
use slate_engine::StepError;

use crate::{
    library::mood::Mood,
    media::wav::{self, Depth},
};

pub const SAMPLE_RATE: u32 = 44_100;

/// SoundFonts looked for, in order, when `SLATE_SOUNDFONT` names none.
const SOUNDFONTS: &[&str] = &[
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
];

/// What to ask a music model for, for a mood.
pub fn description(mood: Mood) -> &'static str {
    match mood {
        Mood::Energetic => "fast, upbeat electronic track with driving drums, 128 bpm",
        Mood::Elegant => "elegant orchestral strings, slow and refined",
        Mood::Minimalist => "minimal ambient pads, calm and spacious",
        Mood::Emotional => "emotional solo piano, warm and intimate",
        Mood::Informative => "calm corporate background music, light and positive",
    }
}

/// General MIDI programs and drum notes.
mod gm {
    pub const PIANO: u8 = 0;
    pub const ELECTRIC_PIANO: u8 = 4;
    pub const VIBRAPHONE: u8 = 11;
    pub const NYLON_GUITAR: u8 = 24;
    pub const ACOUSTIC_BASS: u8 = 32;
    pub const FINGER_BASS: u8 = 33;
    pub const SYNTH_BASS: u8 = 38;
    pub const CELLO: u8 = 42;
    pub const HARP: u8 = 46;
    pub const STRINGS: u8 = 48;
    pub const SLOW_STRINGS: u8 = 49;
    pub const SAW_LEAD: u8 = 81;
    pub const WARM_PAD: u8 = 89;
    pub const POLYSYNTH_PAD: u8 = 90;
    pub const KICK: i32 = 36;
    pub const SNARE: i32 = 38;
    pub const SIDE_STICK: i32 = 37;
    pub const CLOSED_HAT: i32 = 42;
    pub const DRUMS: i32 = 9;
}

/// How a mood sounds.
struct Score {
    bpm: f32,
    /// The key's root as a MIDI note.
    root: i32,
    minor: bool,
    /// Scale degrees of the chords, one per bar.
    progression: [usize; 4],
    /// Holds each bar's chord.
    pad: (u8, i32),
    /// Plays the chord's notes one by one, this many per beat.
    arpeggio: (u8, i32, u32),
    /// The chord's root, this many notes per bar.
    bass: (u8, i32, u32),
    drums: Drums,
}

#[derive(Clone, Copy, PartialEq)]
enum Drums {
    None,
    /// Side stick and soft hats.
    Light,
    /// Four on the floor.
    Driving,
}

fn score(mood: Mood) -> Score {
    match mood {
        Mood::Energetic => Score {
            bpm: 124.0,
            root: 52,
            minor: true,
            progression: [0, 5, 2, 6],
            pad: (gm::POLYSYNTH_PAD, 58),
            arpeggio: (gm::SAW_LEAD, 42, 4),
            bass: (gm::SYNTH_BASS, 92, 8),
            drums: Drums::Driving,
        },
        Mood::Elegant => Score {
            bpm: 72.0,
            root: 50,
            minor: false,
            progression: [0, 5, 3, 4],
            pad: (gm::STRINGS, 70),
            arpeggio: (gm::HARP, 64, 2),
            bass: (gm::CELLO, 72, 2),
            drums: Drums::None,
        },
        Mood::Minimalist => Score {
            bpm: 84.0,
            root: 48,
            minor: false,
            progression: [0, 3, 0, 4],
            pad: (gm::WARM_PAD, 66),
            arpeggio: (gm::VIBRAPHONE, 58, 1),
            bass: (gm::ACOUSTIC_BASS, 64, 1),
            drums: Drums::None,
        },
        Mood::Emotional => Score {
            bpm: 68.0,
            root: 45,
            minor: true,
            progression: [0, 5, 2, 6],
            pad: (gm::SLOW_STRINGS, 50),
            arpeggio: (gm::PIANO, 72, 2),
            bass: (gm::PIANO, 66, 2),
            drums: Drums::None,
        },
        Mood::Informative => Score {
            bpm: 104.0,
            root: 55,
            minor: false,
            progression: [0, 4, 5, 3],
            pad: (gm::ELECTRIC_PIANO, 56),
            arpeggio: (gm::NYLON_GUITAR, 66, 2),
            bass: (gm::FINGER_BASS, 80, 4),
            drums: Drums::Light,
        },
    }
}

/// The MIDI notes of the triad on `degree`.
fn triad(score: &Score, degree: usize) -> [i32; 3] {
    let scale: [i32; 7] = if score.minor {
        [0, 2, 3, 5, 7, 8, 10]
    } else {
        [0, 2, 4, 5, 7, 9, 11]
    };
    let note = |d: usize| score.root + scale[d % 7] + 12 * (d / 7) as i32;
    [note(degree), note(degree + 2), note(degree + 4)]
}

/// A note: channel, key, velocity, when it starts and how long it lasts (seconds).
struct Note {
    channel: i32,
    key: i32,
    velocity: i32,
    start: f32,
    length: f32,
}

/// The notes of `seconds` of the mood's score, with the program of each channel.
fn notes(mood: Mood, seconds: f32) -> (Vec<(i32, u8)>, Vec<Note>) {
    let score = score(mood);
    let beat = 60.0 / score.bpm;
    let bar = beat * 4.0;
    let mut rng = fastrand::Rng::with_seed(mood as u64 + 11);
    let mut human = |velocity: i32| (velocity + rng.i32(-6..=6)).clamp(1, 127);
    let mut notes = Vec::new();
    let bars = (seconds / bar).ceil() as usize;
    for b in 0..bars {
        let start = b as f32 * bar;
        let chord = triad(&score, score.progression[b % 4]);
        for key in chord {
            notes.push(Note {
                channel: 0,
                key,
                velocity: human(score.pad.1),
                start,
                length: bar,
            });
        }
        let (_, velocity, per_beat) = score.arpeggio;
        let steps = 4 * per_beat as usize;
        let step = bar / steps as f32;
        let pattern = [0, 1, 2, 1, 0, 2, 1, 2];
        for k in 0..steps {
            let key = chord[pattern[k % pattern.len()]] + 12;
            notes.push(Note {
                channel: 1,
                key,
                velocity: human(velocity),
                start: start + k as f32 * step,
                length: step * 1.8,
            });
        }
        let (_, velocity, per_bar) = score.bass;
        let length = bar / per_bar as f32;
        for k in 0..per_bar {
            let key = chord[0] - 12;
            notes.push(Note {
                channel: 2,
                key,
                velocity: human(velocity),
                start: start + k as f32 * length,
                length: length * 0.9,
            });
        }
        for k in 0..8 {
            let at = start + k as f32 * beat / 2.0;
            let mut hit = |key: i32, velocity: i32| {
                notes.push(Note {
                    channel: gm::DRUMS,
                    key,
                    velocity,
                    start: at,
                    length: beat / 4.0,
                })
            };
            match score.drums {
                Drums::None => {}
                Drums::Light => {
                    if k % 4 == 0 {
                        hit(gm::KICK, 70);
                    }
                    if k % 4 == 2 {
                        hit(gm::SIDE_STICK, 60);
                    }
                    hit(gm::CLOSED_HAT, 38);
                }
                Drums::Driving => {
                    if k % 2 == 0 {
                        hit(gm::KICK, 100);
                    }
                    if k % 4 == 2 {
                        hit(gm::SNARE, 84);
                    }
                    hit(gm::CLOSED_HAT, if k % 2 == 1 { 70 } else { 46 });
                }
            }
        }
    }
    let programs = vec![(0, score.pad.0), (1, score.arpeggio.0), (2, score.bass.0)];
    (programs, notes)
}

/// The process's SoundFont, loaded on first use.
fn soundfont() -> Result<Arc<SoundFont>, StepError> {
    static LOADED: OnceLock<Result<Arc<SoundFont>, String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let named = std::env::var_os("SLATE_SOUNDFONT").map(PathBuf::from);
            let path = named
                .into_iter()
                .chain(SOUNDFONTS.iter().map(PathBuf::from))
                .find(|p| p.exists())
                .ok_or_else(|| {
                    "no SoundFont found: run scripts/install-tools.sh (timgm6mb-soundfont) or \
                     set SLATE_SOUNDFONT to a .sf2 file"
                        .to_owned()
                })?;
            let mut file =
                std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            SoundFont::new(&mut file)
                .map(Arc::new)
                .map_err(|e| format!("{}: {e:?}", path.display()))
        })
        .clone()
        .map_err(|message| StepError::permanent("soundfont_missing", message))
}

/// The soundtrack of `seconds` for `mood`: left and right samples in -1..1, peaking at 0.8.
pub fn compose(mood: Mood, seconds: f32) -> Result<(Vec<f32>, Vec<f32>), StepError> {
    let font = soundfont()?;
    let settings = SynthesizerSettings::new(SAMPLE_RATE as i32);
    let mut synth = Synthesizer::new(&font, &settings)
        .map_err(|e| StepError::permanent("soundfont_invalid", format!("{e:?}")))?;
    let (programs, notes) = notes(mood, seconds);
    for (channel, program) in programs {
        synth.process_midi_message(channel, 0xC0, program as i32, 0);
    }
    let total = (seconds * SAMPLE_RATE as f32).round() as usize;
    let mut events: Vec<(usize, bool, &Note)> = Vec::with_capacity(notes.len() * 2);
    for note in &notes {
        let on = (note.start * SAMPLE_RATE as f32) as usize;
        let off = ((note.start + note.length) * SAMPLE_RATE as f32) as usize;
        events.push((on, true, note));
        events.push((off, false, note));
    }
    events.sort_by_key(|(at, on, _)| (*at, *on));
    let (mut left, mut right) = (vec![0f32; total], vec![0f32; total]);
    let mut done = 0;
    for (at, on, note) in events {
        let at = at.min(total);
        if at > done {
            synth.render(&mut left[done..at], &mut right[done..at]);
            done = at;
        }
        if on {
            synth.note_on(note.channel, note.key, note.velocity);
        } else {
            synth.note_off(note.channel, note.key);
        }
    }
    if done < total {
        synth.render(&mut left[done..], &mut right[done..]);
    }
    let peak = left
        .iter()
        .chain(&right)
        .fold(0f32, |m, s| m.max(s.abs()))
        .max(1e-6);
    for s in left.iter_mut().chain(right.iter_mut()) {
        *s = *s / peak * 0.8;
    }
    Ok((left, right))
}

/// Stereo samples as 16-bit WAV bytes.
pub fn wav(left: &[f32], right: &[f32]) -> Vec<u8> {
    wav::encode(&[left, right], SAMPLE_RATE, Depth::Int16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soundtrack_lasts_exactly_as_asked_is_audible_and_repeats_exactly() {
        for mood in Mood::ALL {
            let (left, right) = compose(mood, 5.0).unwrap();
            assert_eq!(left.len(), 5 * SAMPLE_RATE as usize);
            assert_eq!(right.len(), left.len());
            let loud = left
                .iter()
                .take(SAMPLE_RATE as usize * 2)
                .fold(0f32, |m, s| m.max(s.abs()));
            assert!(loud > 0.3, "{mood:?} is audible");
            assert_eq!(compose(mood, 5.0).unwrap().0, left, "{mood:?} repeats");
        }
    }

    #[test]
    fn moods_sound_different() {
        let (a, _) = compose(Mood::Energetic, 2.0).unwrap();
        let (b, _) = compose(Mood::Elegant, 2.0).unwrap();
        let diff: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        assert!(diff > 0.02, "{diff}");
    }
}
