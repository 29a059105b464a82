//! WAV files in memory: writing channels of samples (16-bit for what is stored, 32-bit float for
//! a mix that may exceed full scale before it is normalized) and reading any of them back.

use std::path::Path;

use slate_engine::StepError;

/// How samples are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Int16,
    Float32,
}

/// `channels` (of equal length, samples in -1..1) as WAV bytes at `sample_rate`.
pub fn encode(channels: &[&[f32]], sample_rate: u32, depth: Depth) -> Vec<u8> {
    let (bits_per_sample, sample_format) = match depth {
        Depth::Int16 => (16, hound::SampleFormat::Int),
        Depth::Float32 => (32, hound::SampleFormat::Float),
    };
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate,
        bits_per_sample,
        sample_format,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut bytes, spec).expect("a WAV header in memory");
    let frames = channels.iter().map(|c| c.len()).min().unwrap_or(0);
    for i in 0..frames {
        for channel in channels {
            let sample = channel[i];
            let written = match depth {
                Depth::Int16 => {
                    writer.write_sample((sample.clamp(-1.0, 1.0) * i16::MAX as f32) as i16)
                }
                Depth::Float32 => writer.write_sample(sample),
            };
            written.expect("writing to memory");
        }
    }
    writer.finalize().expect("writing to memory");
    bytes.into_inner()
}

/// The samples of the WAV file at `path`, interleaved, in -1..1.
pub fn read(path: &Path) -> Result<Vec<f32>, StepError> {
    let failed = |e: hound::Error| StepError::retryable("mix", format!("{}: {e}", path.display()));
    let reader = hound::WavReader::open(path).map_err(failed)?;
    let samples: Result<Vec<f32>, hound::Error> = match reader.spec().sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect(),
        hound::SampleFormat::Int => reader
            .into_samples::<i16>()
            .map(|s| s.map(|v| v as f32 / i16::MAX as f32))
            .collect(),
    };
    samples.map_err(failed)
}
