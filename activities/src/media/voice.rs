//! The voice-over: a beat's line spoken offline by ffmpeg's flite filter (the CMU "slt" voice,
//! English), phrase by phrase, so that each caption is timed to the words it shows. A beat's
//! speech is a WAV exactly as long as the beat, starting after its opening transition; a line
//! too long for its beat is sped up (at most by a third) rather than cut.

use std::path::Path;

use serde::{Deserialize, Serialize};
use slate_engine::{Artifact, StepError};

use crate::{
    design::layout::Cue,
    media::ffmpeg,
    media::wav::{self, Depth},
    storage::{Scratch, StoreError},
};

pub const SAMPLE_RATE: u32 = 48_000;
/// When speech starts in a beat, and how much of its end stays silent.
const LEAD: f32 = 0.35;
const TAIL: f32 = 0.45;
/// The pause after a phrase, and after a sentence.
const PHRASE_GAP: f32 = 0.12;
const SENTENCE_GAP: f32 = 0.3;
/// The most words a caption shows at once.
const CAPTION_WORDS: usize = 6;
/// The most a line is sped up to fit its beat.
const MAX_TEMPO: f32 = 1.35;

/// A beat's speech: the audio, exactly as long as the beat, and the captions' cues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speech {
    pub audio: Artifact,
    pub cues: Vec<Cue>,
}

/// A line broken into caption phrases: at punctuation, then into pieces of at most
/// [`CAPTION_WORDS`] words of about equal length. Each phrase says whether it ends a sentence.
pub fn phrases(line: &str) -> Vec<(String, bool)> {
    let mut phrases = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for word in line.split_whitespace() {
        current.push(word);
        if word.ends_with([',', ';', ':', '.', '!', '?']) {
            let sentence = word.ends_with(['.', '!', '?']);
            split_even(&current, sentence, &mut phrases);
            current.clear();
        }
    }
    if !current.is_empty() {
        split_even(&current, true, &mut phrases);
    }
    phrases
}

fn split_even(words: &[&str], sentence: bool, into: &mut Vec<(String, bool)>) {
    let pieces = words.len().div_ceil(CAPTION_WORDS);
    let per = words.len().div_ceil(pieces);
    let chunks: Vec<&[&str]> = words.chunks(per).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        into.push((chunk.join(" "), sentence && i + 1 == chunks.len()));
    }
}

/// Speaks `line` in a beat of `seconds`, stores the speech as the WAV `key`, and returns the
/// captions' cues.
pub async fn speak(
    scratch: &Scratch,
    line: &str,
    seconds: u32,
    key: &str,
) -> Result<Vec<Cue>, StepError> {
    let mut spoken: Vec<(String, bool, Vec<f32>)> = Vec::new();
    for (i, (phrase, sentence)) in phrases(line).into_iter().enumerate() {
        let samples = synthesize(scratch, &phrase, i).await?;
        spoken.push((phrase, sentence, samples));
    }
    let length: f32 = spoken
        .iter()
        .map(|(_, sentence, s)| s.len() as f32 / SAMPLE_RATE as f32 + gap(*sentence))
        .sum();
    let room = seconds as f32 - LEAD - TAIL;
    let tempo = (length / room).clamp(1.0, MAX_TEMPO);
    let mut track = vec![0f32; (seconds * SAMPLE_RATE) as usize];
    let mut cues = Vec::new();
    let mut at = LEAD;
    for (i, (phrase, sentence, samples)) in spoken.into_iter().enumerate() {
        let samples = if tempo > 1.0 {
            faster(scratch, &samples, tempo, i).await?
        } else {
            samples
        };
        let start = (at * SAMPLE_RATE as f32) as usize;
        for (offset, sample) in samples.iter().enumerate() {
            if let Some(slot) = track.get_mut(start + offset) {
                *slot = *sample;
            }
        }
        let end = at + samples.len() as f32 / SAMPLE_RATE as f32;
        cues.push(Cue {
            start: at,
            end: end.min(seconds as f32 - 0.1),
            text: phrase,
        });
        at = end + gap(sentence) / tempo;
    }
    scratch.store().put(key, wav(&track)).await?;
    Ok(cues)
}

fn gap(sentence: bool) -> f32 {
    if sentence {
        SENTENCE_GAP
    } else {
        PHRASE_GAP
    }
}

/// `phrase` spoken, at [`SAMPLE_RATE`], without the silence flite leaves around it.
async fn synthesize(scratch: &Scratch, phrase: &str, index: usize) -> Result<Vec<f32>, StepError> {
    let text = scratch.path(&format!("phrase-{index}.txt"));
    let out = scratch.path(&format!("phrase-{index}.wav"));
    write(&text, phrase.as_bytes()).await?;
    let source = format!("flite=voice=slt:textfile='{}'", escape(&text));
    let mut args = ffmpeg::args(["-f", "lavfi", "-i", &source]);
    args.extend(ffmpeg::args([
        "-af",
        "highpass=f=90,lowpass=f=7500,acompressor=threshold=-20dB:ratio=3:attack=5:release=80",
        "-ar",
        &SAMPLE_RATE.to_string(),
        "-ac",
        "1",
        "-c:a",
        "pcm_s16le",
    ]));
    args.push(out.clone().into_os_string());
    ffmpeg::run(args).await?;
    Ok(trim_silence(wav::read(&out)?))
}

/// `samples` played `tempo` times faster, at the same pitch.
async fn faster(
    scratch: &Scratch,
    samples: &[f32],
    tempo: f32,
    index: usize,
) -> Result<Vec<f32>, StepError> {
    let slow = scratch.path(&format!("phrase-{index}-slow.wav"));
    let fast = scratch.path(&format!("phrase-{index}-fast.wav"));
    write(&slow, &wav(samples)).await?;
    let mut args = ffmpeg::args(["-i"]);
    args.push(slow.into_os_string());
    args.extend(ffmpeg::args([
        "-af",
        &format!("atempo={tempo:.4}"),
        "-c:a",
        "pcm_s16le",
    ]));
    args.push(fast.clone().into_os_string());
    ffmpeg::run(args).await?;
    wav::read(&fast)
}

/// A path as a filter option's value: its quotes and colons escaped.
fn escape(path: &Path) -> String {
    path.to_string_lossy()
        .replace('\\', "\\\\")
        .replace('\'', "\\'")
        .replace(':', "\\:")
}

pub(crate) async fn write(path: &Path, bytes: &[u8]) -> Result<(), StepError> {
    tokio::fs::write(path, bytes).await.map_err(|source| {
        StoreError::Io {
            path: path.to_owned(),
            source,
        }
        .into()
    })
}

/// `samples` without the quiet at either end.
fn trim_silence(samples: Vec<f32>) -> Vec<f32> {
    let loud = |s: &f32| s.abs() > 0.01;
    let first = samples.iter().position(loud).unwrap_or(0);
    let last = samples.iter().rposition(loud).map_or(first, |i| i + 1);
    samples[first..last].to_vec()
}

/// Mono samples as 16-bit WAV bytes at [`SAMPLE_RATE`].
pub fn wav(samples: &[f32]) -> Vec<u8> {
    wav::encode(&[samples], SAMPLE_RATE, Depth::Int16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{MediaStore, ScratchSpace};

    #[test]
    fn lines_break_into_short_phrases_at_punctuation() {
        let phrases = phrases("Meet Ember, the smart mug. It keeps your coffee at exactly the right temperature for hours.");
        let texts: Vec<&str> = phrases.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Meet Ember,",
                "the smart mug.",
                "It keeps your coffee at exactly",
                "the right temperature for hours."
            ]
        );
        let ends: Vec<bool> = phrases.iter().map(|(_, s)| *s).collect();
        assert_eq!(ends, [false, true, false, true]);
    }

    #[tokio::test]
    async fn speech_fills_its_beat_exactly_and_each_cue_covers_its_words() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::local(dir.path()).unwrap();
        let space = ScratchSpace::in_temp_dir().unwrap();
        let scratch = space.attempt(&store).unwrap();
        let line = "Ember keeps coffee hot for hours. And it charges on its own coaster.";
        let cues = speak(&scratch, line, 5, "voice.wav").await.unwrap();
        let samples = wav::read(&dir.path().join("voice.wav")).unwrap();
        assert_eq!(samples.len(), 5 * SAMPLE_RATE as usize);
        assert_eq!(cues.len(), phrases(line).len());
        for pair in cues.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{cues:?}");
        }
        for cue in &cues {
            assert!(cue.start >= LEAD - 1e-3 && cue.end <= 4.9, "{cue:?}");
            let (from, to) = (
                (cue.start * SAMPLE_RATE as f32) as usize,
                (cue.end * SAMPLE_RATE as f32) as usize,
            );
            let energy = samples[from..to].iter().map(|s| s * s).sum::<f32>() / (to - from) as f32;
            assert!(energy > 1e-4, "{cue:?} is spoken: {energy}");
        }
        let gap_start = (cues.last().unwrap().end * SAMPLE_RATE as f32) as usize + 2400;
        assert!(
            samples[gap_start..].iter().all(|s| s.abs() < 0.02),
            "silence after the words"
        );
    }
}
