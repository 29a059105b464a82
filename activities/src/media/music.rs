//! The embedded composer: a soundtrack synthesized for the mood (energetic: fast and upbeat,
//! elegant: orchestral strings, minimalist: ambient, emotional: piano, informative: calm
//! corporate), exactly as long as the video; and the mix of any soundtrack into the video as AAC,
//! faded out at the end.

use std::f32::consts::TAU;

use slate_engine::StepError;

use crate::{
    library::mood::Mood,
    media::{chunks, ffmpeg},
    storage::Scratch,
};

pub const SAMPLE_RATE: u32 = 44_100;

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

/// How a mood sounds.
struct Score {
    bpm: f32,
    /// The key's root as a MIDI note.
    root: i32,
    minor: bool,
    /// Scale degrees of the chords, one per bar.
    progression: [usize; 4],
    voice: Voice,
    drums: bool,
    /// Arpeggio notes per beat (0: none).
    arpeggio: u32,
}

#[derive(Clone, Copy)]
enum Voice {
    Synth,
    Strings,
    Ambient,
    Piano,
    Pluck,
}

fn score(mood: Mood) -> Score {
    match mood {
        Mood::Energetic => Score {
            bpm: 128.0,
            root: 52,
            minor: true,
            progression: [0, 5, 2, 6],
            voice: Voice::Synth,
            drums: true,
            arpeggio: 2,
        },
        Mood::Elegant => Score {
            bpm: 72.0,
            root: 50,
            minor: false,
            progression: [0, 5, 3, 4],
            voice: Voice::Strings,
            drums: false,
            arpeggio: 1,
        },
        Mood::Minimalist => Score {
            bpm: 90.0,
            root: 48,
            minor: false,
            progression: [0, 3, 0, 4],
            voice: Voice::Ambient,
            drums: false,
            arpeggio: 1,
        },
        Mood::Emotional => Score {
            bpm: 66.0,
            root: 45,
            minor: true,
            progression: [0, 5, 2, 6],
            voice: Voice::Piano,
            drums: false,
            arpeggio: 2,
        },
        Mood::Informative => Score {
            bpm: 100.0,
            root: 55,
            minor: false,
            progression: [0, 4, 5, 3],
            voice: Voice::Pluck,
            drums: true,
            arpeggio: 2,
        },
    }
}

fn hz(midi: i32) -> f32 {
    440.0 * 2f32.powf((midi - 69) as f32 / 12.0)
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

/// A tone of `voice` at `freq`, `t` seconds after it was struck.
fn tone(voice: Voice, freq: f32, t: f32) -> f32 {
    let phase = TAU * freq * t;
    match voice {
        Voice::Synth => {
            ((phase).sin() + 0.5 * (2.0 * phase).sin() + 0.33 * (3.0 * phase).sin())
                * (-t * 3.0).exp()
        }
        Voice::Strings => {
            let swell = (t * 1.5).min(1.0);
            ((phase).sin() + 0.4 * (2.0 * phase * 1.002).sin() + 0.2 * (3.0 * phase * 0.998).sin())
                * swell
        }
        Voice::Ambient => (phase.sin() + 0.3 * (phase * 0.5).sin()) * (t * 0.8).min(1.0),
        Voice::Piano => {
            (phase.sin()
                + 0.5 * (2.0 * phase).sin() * (-t * 2.0).exp()
                + 0.25 * (3.0 * phase).sin() * (-t * 4.0).exp())
                * (-t * 1.2).exp()
        }
        Voice::Pluck => (phase.sin() + 0.3 * (2.0 * phase).sin()) * (-t * 6.0).exp(),
    }
}

/// The soundtrack of `seconds` for `mood`, as mono samples in -1..1.
pub fn compose(mood: Mood, seconds: f32) -> Vec<f32> {
    let score = score(mood);
    let total = (seconds * SAMPLE_RATE as f32).round() as usize;
    let beat = 60.0 / score.bpm;
    let bar = beat * 4.0;
    let mut noise = fastrand::Rng::with_seed(7);
    let mut samples: Vec<f32> = (0..total)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            let bar_index = (t / bar) as usize;
            let in_bar = t - bar_index as f32 * bar;
            let chord = triad(&score, score.progression[bar_index % 4]);
            let pad: f32 = chord
                .iter()
                .map(|&n| tone(score.voice, hz(n), in_bar))
                .sum::<f32>()
                * 0.22;
            let in_beat = t % beat;
            let bass = tone(Voice::Pluck, hz(chord[0] - 12), in_beat) * 0.35;
            let mut sample = pad + bass;
            if score.arpeggio > 0 {
                let step = beat / score.arpeggio as f32;
                let k = (t / step) as usize;
                let note = chord[k % 3] + 12;
                sample += tone(Voice::Pluck, hz(note), t % step) * 0.18;
            }
            if score.drums {
                let kick_freq = 50.0 + 100.0 * (-in_beat * 30.0).exp();
                sample += (TAU * kick_freq * in_beat).sin() * (-in_beat * 12.0).exp() * 0.6;
                let off = (t + beat / 2.0) % beat;
                sample += (noise.f32() * 2.0 - 1.0) * (-off * 90.0).exp() * 0.12;
            }
            sample
        })
        .collect();
    shape(&mut samples);
    samples
}

/// Normalizes to a peak of 0.8 and fades in over 0.2 s (the fade-out is mixed in, for any track).
fn shape(samples: &mut [f32]) {
    let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs())).max(1e-6);
    let fade_in = (0.2 * SAMPLE_RATE as f32) as usize;
    for (i, s) in samples.iter_mut().enumerate() {
        let gain_in = (i as f32 / fade_in as f32).min(1.0);
        *s = *s / peak * 0.8 * gain_in;
    }
}

/// Writes the soundtrack as 16-bit PCM WAV bytes.
pub fn wav(samples: &[f32]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut bytes, spec).expect("a WAV header in memory");
    for s in samples {
        writer
            .write_sample((s * i16::MAX as f32) as i16)
            .expect("writing to memory");
    }
    writer.finalize().expect("writing to memory");
    bytes.into_inner()
}

/// Mixes the soundtrack `music_key` into `video_key` as AAC: H.264 copied, `seconds` long (a
/// short track is looped), faded out over its last 2 s, the index at the front so
/// browsers play it while it downloads.
pub async fn mux(
    scratch: &Scratch,
    video_key: &str,
    music_key: &str,
    seconds: u32,
    out_key: &str,
) -> Result<(), StepError> {
    let out = chunks::output(scratch, out_key);
    let mut args = ffmpeg::args(["-i"]);
    args.push(scratch.fetch(video_key).await?.into_os_string());
    args.extend(ffmpeg::args(["-stream_loop", "-1", "-i"]));
    args.push(scratch.fetch(music_key).await?.into_os_string());
    let fade_from = (seconds as f32 - 2.0).max(seconds as f32 * 0.75);
    let fade = seconds as f32 - fade_from;
    let audio = format!("afade=t=out:st={fade_from}:d={fade}");
    args.extend(ffmpeg::args(["-map", "0:v:0", "-map", "1:a:0"]));
    args.extend(ffmpeg::args(["-c:v", "copy", "-af", &audio]));
    args.extend(ffmpeg::args([
        "-c:a",
        "aac",
        "-b:a",
        "160k",
        "-t",
        &seconds.to_string(),
    ]));
    args.extend(ffmpeg::args(["-movflags", "+faststart", "-f", "mp4"]));
    args.push(out.clone().into_os_string());
    ffmpeg::run(args).await?;
    Ok(scratch.upload(&out, out_key).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soundtrack_lasts_exactly_as_asked_and_is_audible() {
        for mood in Mood::ALL {
            let samples = compose(mood, 5.0);
            assert_eq!(samples.len(), 5 * SAMPLE_RATE as usize);
            let loud = samples
                .iter()
                .take(SAMPLE_RATE as usize * 2)
                .fold(0f32, |m, s| m.max(s.abs()));
            assert!(loud > 0.3, "{mood:?} is audible");
        }
    }

    #[test]
    fn moods_sound_different() {
        let a = compose(Mood::Energetic, 2.0);
        let b = compose(Mood::Elegant, 2.0);
        let diff: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        assert!(diff > 0.05);
    }
}
