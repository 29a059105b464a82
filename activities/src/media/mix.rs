//! The final mix: the soundtrack, the music under the voice-over, ducked while the voice speaks,
//! faded out over the last 2 s, the whole brought to -16 LUFS integrated with true peaks at most
//! -1 dBTP (ffmpeg's loudnorm, measured then applied as one gain) and encoded as AAC; then muxed
//! with the stitched video, both streams copied (a new version whose sound is unchanged keeps its
//! soundtrack and only muxes). Speech sits at -16 LUFS, the music 12 dB under it while it speaks and 7 dB under between
//! its lines; without a voice-over the music alone is brought to -16 LUFS.

use std::path::Path;

use slate_engine::StepError;

use crate::{
    design::layout::Cue,
    media::{
        chunks, ffmpeg, voice,
        voice::write,
        wav::{self, Depth},
    },
    storage::Scratch,
};

const RATE: u32 = voice::SAMPLE_RATE;
/// The loudness everything is brought to, and the most its true peaks may reach (with room for
/// the AAC encoder's overshoot under the -1 dBTP asked for).
pub const TARGET_LUFS: f32 = -16.0;
const TARGET_PEAK: f32 = -1.5;
/// How far under the speech the music sits while the voice speaks, and between its lines.
pub const DUCKED_DB: f32 = 12.0;
const BED_DB: f32 = 7.0;
/// How long the music takes to duck before a line, and to come back after it.
const ATTACK: f32 = 0.15;
const RELEASE: f32 = 0.4;
/// The fade at the end of the video.
const FADE: f32 = 2.0;

/// A beat's speech: where the beat starts in the video, the speech's WAV (exactly the beat's
/// length), and its cues.
pub struct Line<'a> {
    pub start: f32,
    pub audio: &'a str,
    pub cues: &'a [Cue],
}

/// A measured loudness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loudness {
    /// Integrated, in LUFS.
    pub integrated: f32,
    /// The true peak, in dBTP.
    pub true_peak: f32,
}

/// Measures the loudness of the audio of `file` with ffmpeg's EBU R128 meter.
pub async fn loudness(file: &Path) -> Result<Loudness, StepError> {
    let mut args = ffmpeg::args(["-i"]);
    args.push(file.as_os_str().to_owned());
    args.extend(ffmpeg::args([
        "-af",
        "ebur128=peak=true:framelog=verbose",
        "-f",
        "null",
        "-",
    ]));
    let printed = ffmpeg::measure(args).await?;
    let summary = printed
        .rsplit_once("Summary:")
        .map(|(_, s)| s)
        .unwrap_or_default();
    let value = |label: &str| -> Option<f32> {
        let at = summary.find(label)?;
        summary[at + label.len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    match (value("I:"), value("Peak:")) {
        (Some(integrated), Some(true_peak)) => Ok(Loudness {
            integrated,
            true_peak,
        }),
        _ => Err(StepError::retryable(
            "ffmpeg_failed",
            "ffmpeg's loudness meter printed no summary",
        )),
    }
}

/// The mix's two parts, as they are summed: the speech (mono) and the music (stereo), levelled
/// and ducked, `seconds` long at 48 kHz.
pub struct Stems {
    pub speech: Option<Vec<f32>>,
    pub music: (Vec<f32>, Vec<f32>),
}

/// Levels the speech of `lines` and the music `music_key`, and ducks the music under the
/// speech.
pub async fn stems(
    scratch: &Scratch,
    music_key: &str,
    lines: &[Line<'_>],
    seconds: u32,
) -> Result<Stems, StepError> {
    let total = (seconds * RATE) as usize;
    let music_wav = scratch.path("music-48k.wav");
    let mut args = ffmpeg::args(["-stream_loop", "-1", "-i"]);
    args.push(scratch.fetch(music_key).await?.into_os_string());
    args.extend(ffmpeg::args([
        "-t",
        &seconds.to_string(),
        "-ar",
        &RATE.to_string(),
        "-ac",
        "2",
        "-c:a",
        "pcm_f32le",
    ]));
    args.push(music_wav.clone().into_os_string());
    ffmpeg::run(args).await?;
    let music_level = loudness(&music_wav).await?.integrated;
    let (mut left, mut right) = split_stereo(wav::read(&music_wav)?, total);
    if lines.is_empty() {
        let gain = db(TARGET_LUFS - music_level);
        left.iter_mut()
            .chain(right.iter_mut())
            .for_each(|s| *s *= gain);
        return Ok(Stems {
            speech: None,
            music: (left, right),
        });
    }
    let mut speech = vec![0f32; total];
    for line in lines {
        let samples = wav::read(&scratch.fetch(line.audio).await?)?;
        let from = (line.start * RATE as f32) as usize;
        for (i, s) in samples.into_iter().enumerate() {
            if let Some(slot) = speech.get_mut(from + i) {
                *slot = s;
            }
        }
    }
    let speech_wav = scratch.path("speech-48k.wav");
    write(&speech_wav, &voice::wav(&speech)).await?;
    let speech_level = loudness(&speech_wav).await?.integrated;
    let gain = db(TARGET_LUFS - speech_level);
    speech.iter_mut().for_each(|s| *s *= gain);
    let spoken: Vec<(f32, f32)> = lines
        .iter()
        .flat_map(|l| l.cues.iter().map(|c| (l.start + c.start, l.start + c.end)))
        .collect();
    let bed = TARGET_LUFS - BED_DB - music_level;
    for (i, (l, r)) in left.iter_mut().zip(right.iter_mut()).enumerate() {
        let t = i as f32 / RATE as f32;
        let gain = db(bed - (DUCKED_DB - BED_DB) * ducking(&spoken, t));
        *l *= gain;
        *r *= gain;
    }
    Ok(Stems {
        speech: Some(speech),
        music: (left, right),
    })
}

/// How far the music is ducked at `t`: 1 while a line is spoken, ramping in over [`ATTACK`]
/// before it and out over [`RELEASE`] after it.
fn ducking(spoken: &[(f32, f32)], t: f32) -> f32 {
    spoken
        .iter()
        .map(|(start, end)| {
            let rising = (t - (start - ATTACK)) / ATTACK;
            let falling = (end + RELEASE - t) / RELEASE;
            rising.min(falling).clamp(0.0, 1.0)
        })
        .fold(0.0, f32::max)
}

/// Mixes the music `music_key` under the voice-over `lines` into a soundtrack of `seconds`:
/// normalized, AAC in an M4A at `out_key`.
pub async fn soundtrack(
    scratch: &Scratch,
    music_key: &str,
    lines: &[Line<'_>],
    seconds: u32,
    out_key: &str,
) -> Result<(), StepError> {
    let Stems { speech, music } = stems(scratch, music_key, lines, seconds).await?;
    let (mut left, mut right) = music;
    if let Some(speech) = speech {
        for ((l, r), s) in left.iter_mut().zip(right.iter_mut()).zip(speech) {
            *l += s;
            *r += s;
        }
    }
    let fade_from = ((seconds as f32 - FADE) * RATE as f32) as usize;
    let fade_length = (left.len() - fade_from.min(left.len())).max(1) as f32;
    for (i, (l, r)) in left
        .iter_mut()
        .zip(right.iter_mut())
        .enumerate()
        .skip(fade_from)
    {
        let gain = 1.0 - (i - fade_from) as f32 / fade_length;
        *l *= gain;
        *r *= gain;
    }
    let mixed = scratch.path("mix.wav");
    write(&mixed, &wav::encode(&[&left, &right], RATE, Depth::Float32)).await?;
    let measured = loudnorm_measure(&mixed).await?;
    let out = chunks::output(scratch, out_key);
    let mut args = ffmpeg::args(["-i"]);
    args.push(mixed.into_os_string());
    // A WAV written here names no channel layout; the encoder is told it is stereo.
    let normalize = format!(
        "loudnorm=I={TARGET_LUFS}:TP={TARGET_PEAK}:LRA=20:linear=true:{measured},\
         aresample={RATE},aformat=channel_layouts=stereo"
    );
    args.extend(ffmpeg::args([
        "-af",
        &normalize,
        "-c:a",
        "aac",
        "-b:a",
        "160k",
        "-t",
        &seconds.to_string(),
        "-f",
        "ipod",
    ]));
    args.push(out.clone().into_os_string());
    ffmpeg::run(args).await?;
    Ok(scratch.upload(&out, out_key).await?)
}

/// The stitched video `video_key` with the soundtrack `soundtrack_key`, both copied, as an MP4
/// of `seconds` that starts playing before it is all downloaded.
pub async fn mux(
    scratch: &Scratch,
    video_key: &str,
    soundtrack_key: &str,
    seconds: u32,
    out_key: &str,
) -> Result<(), StepError> {
    let out = chunks::output(scratch, out_key);
    let mut args = ffmpeg::args(["-i"]);
    args.push(scratch.fetch(video_key).await?.into_os_string());
    args.extend(ffmpeg::args(["-i"]));
    args.push(scratch.fetch(soundtrack_key).await?.into_os_string());
    args.extend(ffmpeg::args([
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-c",
        "copy",
        "-t",
        &seconds.to_string(),
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]));
    args.push(out.clone().into_os_string());
    ffmpeg::run(args).await?;
    Ok(scratch.upload(&out, out_key).await?)
}

/// loudnorm's first pass over `file`: the measured values its second pass takes.
async fn loudnorm_measure(file: &Path) -> Result<String, StepError> {
    let mut args = ffmpeg::args(["-i"]);
    args.push(file.as_os_str().to_owned());
    let first = format!("loudnorm=I={TARGET_LUFS}:TP={TARGET_PEAK}:LRA=20:print_format=json");
    args.extend(ffmpeg::args(["-af", &first, "-f", "null", "-"]));
    let printed = ffmpeg::measure(args).await?;
    let json = printed
        .rfind('{')
        .and_then(|from| {
            printed[from..]
                .find('}')
                .map(|to| &printed[from..=from + to])
        })
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .ok_or_else(|| StepError::retryable("ffmpeg_failed", "loudnorm printed no measurement"))?;
    let field = |name: &str| json[name].as_str().unwrap_or("0").to_owned();
    Ok(format!(
        "measured_I={}:measured_TP={}:measured_LRA={}:measured_thresh={}:offset={}",
        field("input_i"),
        field("input_tp"),
        field("input_lra"),
        field("input_thresh"),
        field("target_offset")
    ))
}

fn db(decibels: f32) -> f32 {
    10f32.powf(decibels / 20.0)
}

/// Interleaved stereo as two channels of exactly `total` samples.
fn split_stereo(interleaved: Vec<f32>, total: usize) -> (Vec<f32>, Vec<f32>) {
    let mut left = vec![0f32; total];
    let mut right = vec![0f32; total];
    for (i, pair) in interleaved.chunks_exact(2).take(total).enumerate() {
        left[i] = pair[0];
        right[i] = pair[1];
    }
    (left, right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        library::mood::Mood,
        media::music,
        storage::{MediaStore, ScratchSpace},
    };

    /// The loudness of the samples of `stem` at the times `spoken`.
    async fn loudness_while(
        scratch: &Scratch,
        stem: &[f32],
        spoken: &[(f32, f32)],
        name: &str,
    ) -> f32 {
        let mut during = Vec::new();
        for (start, end) in spoken {
            let (from, to) = ((start * RATE as f32) as usize, (end * RATE as f32) as usize);
            during.extend_from_slice(&stem[from..to.min(stem.len())]);
        }
        let path = scratch.path(name);
        write(&path, &voice::wav(&during)).await.unwrap();
        loudness(&path).await.unwrap().integrated
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_mix_is_at_minus_16_lufs_under_minus_1_dbtp_with_the_music_well_under_the_voice() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::local(dir.path()).unwrap();
        let space = ScratchSpace::in_temp_dir().unwrap();
        let scratch = space.attempt(&store).unwrap();
        let (left, right) = music::compose(Mood::Energetic, 10.0).unwrap();
        store
            .put("music.wav", music::wav(&left, &right))
            .await
            .unwrap();
        let picture = scratch.path("picture.mp4");
        let mut args = ffmpeg::args([
            "-f",
            "lavfi",
            "-i",
            "color=c=navy:s=320x180:r=30:d=10",
            "-c:v",
            "libx264",
        ]);
        args.push(picture.clone().into_os_string());
        ffmpeg::run(args).await.unwrap();
        scratch.upload(&picture, "stitched.mp4").await.unwrap();
        let first = voice::speak(&scratch, "Meet Ember, the smart mug.", 5, "speech-1.wav")
            .await
            .unwrap();
        let second = voice::speak(
            &scratch,
            "It keeps coffee hot for hours.",
            5,
            "speech-2.wav",
        )
        .await
        .unwrap();
        let lines = [
            Line {
                start: 0.0,
                audio: "speech-1.wav",
                cues: &first,
            },
            Line {
                start: 5.0,
                audio: "speech-2.wav",
                cues: &second,
            },
        ];
        mixed(&scratch, &lines, "final.mp4").await;
        let final_video = scratch.fetch("final.mp4").await.unwrap();
        let measured = loudness(&final_video).await.unwrap();
        assert!(
            (measured.integrated - TARGET_LUFS).abs() <= 1.0,
            "{measured:?}"
        );
        assert!(measured.true_peak <= -1.0, "{measured:?}");

        let stems = stems(&scratch, "music.wav", &lines, 10).await.unwrap();
        let spoken: Vec<(f32, f32)> = lines
            .iter()
            .flat_map(|l| l.cues.iter().map(|c| (l.start + c.start, l.start + c.end)))
            .collect();
        let speech =
            loudness_while(&scratch, stems.speech.as_ref().unwrap(), &spoken, "s.wav").await;
        let music = loudness_while(&scratch, &stems.music.0, &spoken, "m.wav").await;
        assert!(
            speech - music >= 8.0,
            "speech {speech} LUFS, music {music} LUFS"
        );

        let alone = stems_alone(&scratch).await;
        assert!((alone - TARGET_LUFS).abs() <= 1.0, "music alone: {alone}");
    }

    /// The stitched picture with the music under `lines`, at `out_key`.
    async fn mixed(scratch: &Scratch, lines: &[Line<'_>], out_key: &str) {
        let sound = format!("{out_key}.m4a");
        soundtrack(scratch, "music.wav", lines, 10, &sound)
            .await
            .unwrap();
        mux(scratch, "stitched.mp4", &sound, 10, out_key)
            .await
            .unwrap();
    }

    /// The loudness of a video mixed with music and no voice-over.
    async fn stems_alone(scratch: &Scratch) -> f32 {
        mixed(scratch, &[], "alone.mp4").await;
        loudness(&scratch.fetch("alone.mp4").await.unwrap())
            .await
            .unwrap()
            .integrated
    }
}
