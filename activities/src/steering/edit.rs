//! A client's edit of a plan: a JSON merge patch (RFC 7396) of the spec, arrays replaced whole.
//! The beats (reordered, replaced or retimed from the library), the product, the style, the copy
//! and whether the ad speaks and shows captions may change; the length may not.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{
    library::{beats, category::Category},
    spec::{Spec, SpecBeat},
};

/// The top-level fields of the spec an edit may change.
const EDITABLE: [&str; 6] = ["beats", "product", "style", "copy", "voiceover", "captions"];

/// Why an edit is refused: the field at fault (none when the whole body is) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EditError {
    pub field: Option<String>,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> EditError {
    EditError {
        field: Some(field.into()),
        message: message.into(),
    }
}

/// `spec` with `patch` applied, and the fields it changes; refused unless the result is a valid
/// plan of the same length.
pub fn edit_spec(spec: &Spec, patch: &Value) -> Result<(Spec, Vec<String>), EditError> {
    let Some(patch) = patch.as_object().filter(|p| !p.is_empty()) else {
        return Err(EditError {
            field: None,
            message: "the body must be a JSON object naming at least one field to change".into(),
        });
    };
    let mut edited = spec.clone();
    for (field, value) in patch {
        match field.as_str() {
            "product" => edited.product = merged(field, &spec.product, value)?,
            "style" => edited.style = merged(field, &spec.style, value)?,
            "copy" => edited.copy = merged(field, &spec.copy, value)?,
            "voiceover" => edited.voiceover = merged(field, &spec.voiceover, value)?,
            "captions" => edited.captions = merged(field, &spec.captions, value)?,
            "beats" => edited.beats = beats_of(spec, value)?,
            _ => {
                return Err(refuse(
                    field,
                    format!(
                        "{field} cannot be edited; an edit may change {}",
                        EDITABLE.join(", ")
                    ),
                ))
            }
        }
    }
    edited
        .validate()
        .map_err(|e| refuse(e.field(), e.to_string()))?;
    let changed = EDITABLE
        .iter()
        .filter(|f| patch.contains_key(**f))
        .map(|f| f.to_string())
        .collect();
    Ok((edited, changed))
}

/// `current` with the merge patch `patch` applied, read back as its type.
fn merged<T: serde::Serialize + DeserializeOwned>(
    field: &str,
    current: &T,
    patch: &Value,
) -> Result<T, EditError> {
    let mut value = serde_json::to_value(current).expect("a spec serializes");
    merge(&mut value, patch);
    serde_json::from_value(value).map_err(|e| refuse(field, format!("{field}: {e}")))
}

/// RFC 7396: objects merge key by key, null removes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("an object");
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            _ => merge(target.entry(key.clone()).or_insert(Value::Null), value),
        }
    }
}

/// The beats a client lists, each `{id, duration?, prompt?, headline?, voiceover?}`: the
/// library's beat, for its own length unless given, with the words given, or else those of the
/// plan's beat of that id, or else none (and the library's prompt).
fn beats_of(spec: &Spec, value: &Value) -> Result<Vec<SpecBeat>, EditError> {
    let Some(listed) = value.as_array().filter(|l| !l.is_empty()) else {
        return Err(refuse("beats", "beats must be a non-empty array"));
    };
    let mut start = 0;
    let mut made = Vec::with_capacity(listed.len());
    for (index, entry) in listed.iter().enumerate() {
        let at = |key: &str| format!("beats[{index}].{key}");
        let entry = entry
            .as_object()
            .ok_or_else(|| refuse(format!("beats[{index}]"), "each beat must be an object"))?;
        let id = entry
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| refuse(at("id"), "each beat needs the id of a library beat"))?;
        let library = beats::find(id)
            .ok_or_else(|| refuse(at("id"), format!("{id:?} is not a beat of the library")))?;
        let duration = match entry.get("duration") {
            None => library.duration,
            Some(d) => d
                .as_u64()
                .and_then(|d| u32::try_from(d).ok())
                .filter(|d| [5, 10, 15].contains(d))
                .ok_or_else(|| refuse(at("duration"), "a beat lasts 5, 10 or 15 seconds"))?,
        };
        let before = spec.beats.get(index).filter(|b| b.id == id);
        let before = before.or_else(|| spec.beats.iter().find(|b| b.id == id));
        let text = |key: &str, old: fn(&SpecBeat) -> &String| match entry.get(key) {
            None => Ok(before.map(old).cloned()),
            Some(Value::String(text)) => Ok(Some(text.trim().to_owned())),
            Some(_) => Err(refuse(at(key), format!("{key} must be a string"))),
        };
        let mut beat = SpecBeat::of(library, start, duration);
        beat.prompt = match text("prompt", |b| &b.prompt)? {
            Some(prompt) if !prompt.is_empty() => prompt,
            _ => library_prompt(spec, library),
        };
        beat.headline = text("headline", |b| &b.headline)?.unwrap_or_default();
        beat.voiceover = text("voiceover", |b| &b.voiceover)?.unwrap_or_default();
        start += duration;
        made.push(beat);
    }
    if start != spec.duration {
        return Err(refuse(
            "beats",
            format!(
                "the beats last {start} s in all; the video lasts {} s, and an edit keeps its length",
                spec.duration
            ),
        ));
    }
    Ok(made)
}

/// The library beat's prompt for the plan's product and style.
fn library_prompt(spec: &Spec, beat: &beats::Beat) -> String {
    let setting = serde_json::from_value::<Category>(Value::from(spec.product.category.as_str()))
        .map_or("a fitting setting", Category::setting);
    beat.template
        .replace("{product_name}", &spec.product.name)
        .replace("{style_aesthetic}", &spec.style.aesthetic)
        .replace("{setting}", setting)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::{self, Request};

    fn plan() -> Spec {
        let mut request = Request::new("Ember, a smart mug, cozy warm mornings");
        request.duration = Some(20);
        plan::embedded(&request)
    }

    #[test]
    fn beats_are_reordered_and_retimed_from_the_library_keeping_their_words() {
        let spec = plan();
        let reversed: Vec<&SpecBeat> = spec.beats.iter().rev().collect();
        let listed: Vec<Value> = reversed
            .iter()
            .map(|b| json!({"id": b.id, "duration": b.duration}))
            .collect();
        let (edited, fields) = edit_spec(&spec, &json!({ "beats": listed })).unwrap();
        assert_eq!(fields, ["beats"]);
        let ids = |beats: Vec<&SpecBeat>| beats.iter().map(|b| b.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(edited.beats.iter().collect()), ids(reversed.clone()));
        assert_eq!(edited.beats[0].headline, reversed[0].headline);
        assert_eq!(edited.beats[1].start, reversed[0].duration);
    }

    #[test]
    fn a_merge_patch_changes_only_what_it_names_and_null_clears() {
        let spec = plan();
        let patch = json!({"product": {"name": "Ember Pro"}, "copy": {"contact": null}});
        let (edited, fields) = edit_spec(&spec, &patch).unwrap();
        assert_eq!(fields, ["product", "copy"]);
        assert_eq!(edited.product.name, "Ember Pro");
        assert_eq!(edited.product.category, spec.product.category);
        assert_eq!(edited.copy.contact, "");
        assert_eq!(edited.copy.tagline, spec.copy.tagline);
    }

    #[test]
    fn an_invalid_edit_names_its_field() {
        let spec = plan();
        let field = |patch: Value| edit_spec(&spec, &patch).unwrap_err().field;
        assert_eq!(field(json!({"duration": 30})), Some("duration".into()));
        assert_eq!(
            field(json!({"beats": [{"id": "hero_shot", "duration": 5}]})),
            Some("beats".into()),
            "the length stays"
        );
        assert_eq!(
            field(json!({"beats": [{"id": "moonwalk"}]})),
            Some("beats[0].id".into())
        );
        assert_eq!(
            field(json!({"style": {"mood": "grumpy"}})),
            Some("style".into())
        );
        assert_eq!(
            field(json!({"style": {"color_palette": ["#fff"]}})),
            Some("style.color_palette".into())
        );
        let long = "word ".repeat(40);
        let mut beats: Vec<Value> = spec
            .beats
            .iter()
            .map(|b| json!({"id": b.id, "duration": b.duration}))
            .collect();
        beats[0]["voiceover"] = json!(long);
        assert_eq!(
            field(json!({ "beats": beats })),
            Some("beats[0].voiceover".into()),
            "copy that cannot fit its beat"
        );
        assert_eq!(edit_spec(&spec, &json!([])).unwrap_err().field, None);
    }
}
