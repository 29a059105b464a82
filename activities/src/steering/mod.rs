//! Steering: how a client's change to a finished video becomes its next version. A version is
//! a fork of the version it is made from, started at storyboarding with the production that
//! planning would have given it: the changed plan, and what it keeps of the earlier version
//! (stills, each beat's clips and speech, the music), which is neither made nor paid again.

mod edit;

use serde::Serialize;
use serde_json::Value;
use slate_engine::Artifact;

pub use edit::{edit_spec, EditError};

use crate::{
    phase::Phase,
    production::{Kept, Production},
    spec::{Spec, SpecBeat},
};

/// The step every new version is forked at: the plan is the fork's override of planning's
/// output.
pub const FORK_AT: Phase = Phase::Storyboarding;

/// What a new version changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The plan, edited: these top-level fields of the spec.
    Edit { fields: Vec<String> },
    /// One beat (1-based) made again, with a new prompt when given.
    Regenerate {
        beat: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
    },
    /// One beat's (1-based) still replaced by the client's image, fitted to the frame.
    Still {
        beat: usize,
        #[serde(skip)]
        still: Option<Artifact>,
    },
}

impl Change {
    /// How clients read it.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a change serializes")
    }
}

/// The production a version made from `base` (a complete version's last checkpoint) starts
/// with after `change`: planning's output for its fork.
pub fn next_version(base: &Production, spec: Spec, change: &Change) -> Production {
    let mut kept = keep_unchanged(base, &spec);
    match change {
        Change::Regenerate { beat, .. } => remake(&mut kept, beat - 1, None),
        Change::Still { beat, still } => remake(&mut kept, beat - 1, still.clone()),
        Change::Edit { .. } => {}
    }
    Production {
        spec,
        budget_usd: base.budget_usd,
        costs: Default::default(),
        stills: Vec::new(),
        chunks: Vec::new(),
        speech: Vec::new(),
        assets: base.assets.clone(),
        stitched: None,
        music: None,
        soundtrack: None,
        final_video: None,
        review: base.review.clone(),
        kept,
    }
}

/// Makes beat `index` again: its still (unless `still` replaces it) and its clips.
fn remake(kept: &mut Kept, index: usize, still: Option<Artifact>) {
    if let Some(kept_still) = kept.stills.get_mut(index) {
        *kept_still = still;
    }
    if let Some(clips) = kept.beats.get_mut(index) {
        *clips = None;
    }
}

/// `base`'s spec with beat `beat` (1-based) taken again, with `prompt` when given.
pub fn retake(base: &Spec, beat: usize, prompt: Option<&str>) -> Spec {
    let mut spec = base.clone();
    let taken = &mut spec.beats[beat - 1];
    taken.take += 1;
    if let Some(prompt) = prompt {
        taken.prompt = prompt.to_owned();
    }
    spec
}

/// What of `base` a version planned as `spec` may keep: each still whose picture's inputs are
/// the same, each beat's clips whose inputs (its still's, its words, its neighbours for its
/// transitions) are the same, and the music when the mood and the length are.
fn keep_unchanged(base: &Production, spec: &Spec) -> Kept {
    let old = &base.spec;
    let media = base.beat_media();
    let stills = (0..spec.beats.len())
        .map(|i| {
            let same = i < old.beats.len() && still_inputs(old, i) == still_inputs(spec, i);
            base.stills.get(i).filter(|_| same).cloned()
        })
        .collect::<Vec<_>>();
    let beats = (0..spec.beats.len())
        .map(|i| {
            let same = stills[i].is_some() && clip_inputs(old, i) == clip_inputs(spec, i);
            media.get(i).filter(|_| same).cloned()
        })
        .collect();
    let same_music = old.style.mood == spec.style.mood && old.duration == spec.duration;
    let same_sound = same_music && sound_inputs(old) == sound_inputs(spec);
    Kept {
        stills,
        beats,
        music: base.music.clone().filter(|_| same_music),
        soundtrack: base.soundtrack.clone().filter(|_| same_sound),
    }
}

/// What the soundtrack is mixed from besides the music: whether the ad speaks, and each beat's
/// place and line (the same words are spoken alike).
fn sound_inputs(spec: &Spec) -> Value {
    let lines: Vec<Value> = spec
        .beats
        .iter()
        .map(|b| serde_json::json!([b.start, b.duration, b.voiceover]))
        .collect();
    serde_json::json!([spec.voiceover, lines])
}

/// What beat `index`'s still is drawn from: the beat without its words or start, its place, and
/// the product, style and frame.
fn still_inputs(spec: &Spec, index: usize) -> Value {
    let beat = SpecBeat {
        start: 0,
        headline: String::new(),
        voiceover: String::new(),
        ..spec.beats[index].clone()
    };
    serde_json::json!([index, beat, spec.product, spec.style, spec.aspect_ratio])
}

/// What beat `index`'s clips are made from besides its still: the beat and its words, the
/// closing copy, whether it speaks and shows captions, how many beats there are (the last is
/// the end card), and its neighbours (its transitions).
fn clip_inputs(spec: &Spec, index: usize) -> Value {
    let neighbour = |i: Option<usize>| i.and_then(|i| spec.beats.get(i)).map(|b| b.energy);
    serde_json::json!([
        spec.beats[index],
        spec.copy,
        spec.voiceover,
        spec.captions,
        spec.beats.len(),
        neighbour(index.checked_sub(1)),
        neighbour(Some(index + 1)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{plan, plan::Request, production::BeatMedia};

    /// A complete production of a 30 s plan, its media named by beat.
    fn complete() -> Production {
        let mut request = Request::new("30s Ember smart mug, cozy and warm");
        request.duration = Some(30);
        let spec = plan::embedded(&request);
        let art = |name: String| Artifact::from_key(name);
        let stills = (0..spec.beats.len())
            .map(|i| art(format!("still-{i}")))
            .collect();
        let chunks = (0..spec.chunk_count())
            .map(|i| art(format!("clip-{i}")))
            .collect();
        let speech = vec![None; spec.beats.len()];
        Production {
            spec,
            budget_usd: 0.5,
            costs: Default::default(),
            stills,
            chunks,
            speech,
            assets: Default::default(),
            stitched: Some(art("stitched".into())),
            music: Some(art("music".into())),
            soundtrack: Some(art("soundtrack".into())),
            final_video: Some(art("final".into())),
            review: Vec::new(),
            kept: Kept::default(),
        }
    }

    fn kept_beats(production: &Production) -> Vec<bool> {
        production.kept.beats.iter().map(Option::is_some).collect()
    }

    #[test]
    fn regenerating_a_beat_keeps_every_other_beat_and_the_music() {
        let base = complete();
        let change = Change::Regenerate {
            beat: 2,
            prompt: None,
        };
        let next = next_version(&base, retake(&base.spec, 2, None), &change);
        let n = base.spec.beats.len();
        let expected: Vec<bool> = (0..n).map(|i| i != 1).collect();
        assert_eq!(kept_beats(&next), expected);
        let stills: Vec<bool> = next.kept.stills.iter().map(Option::is_some).collect();
        assert_eq!(stills, expected);
        assert_eq!(next.kept.music, base.music);
        assert_eq!(
            next.kept.soundtrack, base.soundtrack,
            "the same words, spoken alike"
        );
        assert_eq!(next.spec.beats[1].take, 1, "the beat is pictured anew");
        assert!(
            next.costs.is_empty(),
            "a version pays only for what it makes"
        );
        let media: Vec<BeatMedia> = base.beat_media();
        assert_eq!(next.kept.beats[0].as_ref(), Some(&media[0]));
    }

    #[test]
    fn a_replaced_still_is_kept_as_given_and_its_beat_remade_from_it() {
        let base = complete();
        let still = Artifact::from_key("runs/x/still.png");
        let change = Change::Still {
            beat: 1,
            still: Some(still.clone()),
        };
        let next = next_version(&base, base.spec.clone(), &change);
        assert_eq!(next.kept.stills[0], Some(still));
        assert_eq!(next.kept.stills[1], base.stills.get(1).cloned());
        assert!(!kept_beats(&next)[0] && kept_beats(&next)[1]);
        assert_eq!(
            change.to_json(),
            serde_json::json!({"kind": "still", "beat": 1})
        );
    }

    #[test]
    fn a_new_headline_remakes_that_beats_clips_but_keeps_its_still_and_a_new_mood_the_music() {
        let base = complete();
        let mut spec = base.spec.clone();
        spec.beats[0].headline = "Hot coffee, all morning".into();
        let change = Change::Edit {
            fields: vec!["beats".into()],
        };
        let next = next_version(&base, spec.clone(), &change);
        assert!(next.kept.stills.iter().all(Option::is_some));
        assert!(!kept_beats(&next)[0]);
        assert!(kept_beats(&next)[1..].iter().all(|k| *k));
        assert!(next.kept.music.is_some());
        assert!(next.kept.soundtrack.is_some(), "a headline is not spoken");

        let mut spoken = spec.clone();
        spoken.beats[0].voiceover = "Coffee, hot for hours.".into();
        let next = next_version(&base, spoken, &change);
        assert!(next.kept.music.is_some() && next.kept.soundtrack.is_none());

        spec.style.mood = crate::library::mood::Mood::Energetic;
        let next = next_version(&base, spec, &change);
        assert!(
            next.kept.stills.iter().all(Option::is_none),
            "the style pictures every still"
        );
        assert!(next.kept.music.is_none());
    }
}
