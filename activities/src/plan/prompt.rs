//! Reading a prompt: how long the video should be, what the product is, its category and the
//! mood asked for. Plain word rules, no model: the same prompt always reads the same.

use crate::{library::category::Category, library::mood::Mood};

/// What a prompt says.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Seconds, a multiple of 5 from 5 to 60, when the prompt names a length.
    pub duration: Option<u32>,
    pub product: String,
    pub category: Category,
    pub mood: Mood,
}

const FILLER: &[&str] = &[
    "a",
    "an",
    "the",
    "ad",
    "ads",
    "advert",
    "advertisement",
    "commercial",
    "video",
    "spot",
    "clip",
    "promo",
    "create",
    "make",
    "generate",
    "for",
    "with",
    "about",
    "of",
    "and",
    "in",
    "on",
    "to",
    "style",
    "styled",
    "story",
    "storytelling",
    "demo",
    "features",
    "feature",
    "showing",
    "showcase",
    "please",
    "our",
    "my",
    "new",
    "long",
    "vibe",
    "look",
    "feel",
];

const SECOND_WORDS: &[&str] = &["s", "sec", "secs", "second", "seconds"];

const NUMBER_WORDS: &[(&str, u32)] = &[
    ("five", 5),
    ("ten", 10),
    ("fifteen", 15),
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fifty", 50),
    ("sixty", 60),
];

pub fn read(prompt: &str) -> Reading {
    let words: Vec<&str> = prompt
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let (duration, duration_words) = duration(&lower);
    let mood = mood(&lower);
    let (product, category) = product(&words, &lower, &duration_words);
    Reading {
        duration,
        product,
        category,
        mood,
    }
}

/// The length named in the words, and the indexes of the words that name it.
fn duration(words: &[String]) -> (Option<u32>, Vec<usize>) {
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    for i in 0..words.len() {
        let w = word(i);
        let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
        let number = digits
            .parse::<u32>()
            .ok()
            .or_else(|| NUMBER_WORDS.iter().find(|(n, _)| *n == w).map(|(_, v)| *v));
        if let Some(n) = number {
            let unit = &w[digits.len()..];
            if !digits.is_empty() && SECOND_WORDS.contains(&unit) {
                return (Some(round(n)), vec![i]);
            }
            if SECOND_WORDS.contains(&word(i + 1)) {
                return (Some(round(n)), vec![i, i + 1]);
            }
            if ["minute", "minutes", "min"].contains(&word(i + 1)) {
                return (Some(round(n * 60)), vec![i, i + 1]);
            }
        }
        if w == "half" && word(i + 1) == "a" && word(i + 2) == "minute" {
            return (Some(30), vec![i, i + 1, i + 2]);
        }
        if w == "minute" && ["a", "one"].contains(&word(i.wrapping_sub(1))) {
            return (Some(60), vec![i - 1, i]);
        }
    }
    (None, Vec::new())
}

/// The nearest length the pipeline makes.
fn round(seconds: u32) -> u32 {
    (((seconds + 2) / 5) * 5).clamp(5, 60)
}

/// The mood whose cue words the prompt uses most; the earliest named on a tie.
fn mood(words: &[String]) -> Mood {
    let score = |mood: Mood| {
        words
            .iter()
            .filter(|w| mood.cues().contains(&w.as_str()))
            .count()
    };
    let first = |mood: Mood| words.iter().position(|w| mood.cues().contains(&w.as_str()));
    Mood::ALL
        .into_iter()
        .filter(|m| score(*m) > 0)
        .max_by_key(|m| (score(*m), std::cmp::Reverse(first(*m))))
        .unwrap_or(Mood::Informative)
}

/// The product: the longest run of naming words, preferring one with a product noun. A mood
/// word right before a naming word belongs to the name ("luxury watch", "smart thermostat").
fn product(words: &[&str], lower: &[String], skip: &[usize]) -> (String, Category) {
    let is_cue = |w: &str| Mood::ALL.iter().any(|m| m.cues().contains(&w));
    let naming: Vec<bool> = (0..words.len())
        .map(|i| !skip.contains(&i) && !FILLER.contains(&lower[i].as_str()))
        .collect();
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut current = Vec::new();
    for i in 0..words.len() {
        let cue = is_cue(&lower[i]) && Category::of_word(&lower[i]).is_none();
        let joins_next = cue && naming.get(i + 1) == Some(&true) && !is_cue(&lower[i + 1]);
        if naming[i] && (!cue || joins_next) && !lower[i].chars().all(|c| c.is_ascii_digit()) {
            current.push(i);
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    let category_of = |run: &[usize]| run.iter().find_map(|&i| Category::of_word(&lower[i]));
    let best = runs
        .iter()
        .find(|run| category_of(run).is_some())
        .or_else(|| runs.first());
    match best {
        Some(run) => {
            let run = &run[run.len().saturating_sub(4)..];
            let name = run.iter().map(|&i| words[i]).collect::<Vec<_>>().join(" ");
            (name, category_of(run).unwrap_or(Category::General))
        }
        None => ("your product".to_owned(), Category::General),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lengths_in_many_spellings() {
        let cases = [
            ("15s ad for sneakers", Some(15)),
            ("an ad, 25 seconds, for coffee", Some(25)),
            ("half a minute about tea", Some(30)),
            ("a minute for our car", Some(60)),
            ("thirty seconds of perfume", Some(30)),
            ("a 20 sec promo", Some(20)),
            ("12s spot", Some(10)),
            ("ad for a chair", None),
        ];
        for (prompt, expected) in cases {
            assert_eq!(read(prompt).duration, expected, "{prompt}");
        }
    }

    #[test]
    fn reads_the_product_category_and_mood_of_the_pipeline_cases() {
        let cases = [
            (
                "15s Nike sneakers energetic urban",
                "Nike sneakers",
                Category::Fashion,
                Mood::Energetic,
            ),
            (
                "30s luxury watch elegant sophisticated",
                "luxury watch",
                Category::Luxury,
                Mood::Elegant,
            ),
            (
                "20s iPhone minimalist clean modern",
                "iPhone",
                Category::Tech,
                Mood::Minimalist,
            ),
            (
                "Create an ad for family car with emotional story",
                "family car",
                Category::Automotive,
                Mood::Emotional,
            ),
            (
                "Smart thermostat features demo 25 seconds",
                "Smart thermostat",
                Category::Tech,
                Mood::Informative,
            ),
        ];
        for (prompt, product, category, mood) in cases {
            let reading = read(prompt);
            assert_eq!(reading.product, product, "{prompt}");
            assert_eq!(reading.category, category, "{prompt}");
            assert_eq!(reading.mood, mood, "{prompt}");
        }
    }

    #[test]
    fn a_prompt_without_a_product_noun_still_names_something() {
        assert_eq!(read("ad for Zorblax, bold").product, "Zorblax");
        assert_eq!(read("a video").product, "your product");
    }
}
