//! Reading a prompt: how long the video should be, what the product is (its name, what kind of
//! thing it is, what it does for people), its category, the mood asked for and where to find it
//! (a web address or handle). Plain word rules, no model: the same prompt always reads the same.

use crate::{library::category::Category, library::mood::Mood};

/// What a prompt says.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Seconds, a multiple of 5 from 5 to 60, when the prompt names a length.
    pub duration: Option<u32>,
    /// The product's name: a brand name when the prompt gives one ("Ember"), else the words
    /// that name the product ("luxury watch").
    pub product: String,
    /// Whether the name is a brand, written as the prompt writes it ("Ember", "Nike sneakers"),
    /// rather than a description ("family car").
    pub branded: bool,
    /// What the product is, when a brand name stands apart from it ("Ember, a smart mug": "smart
    /// mug"); else empty.
    pub noun: String,
    pub category: Category,
    pub mood: Mood,
    /// What the product does, as the prompt says it: verb phrases in the third person ("keeps
    /// coffee hot for hours").
    pub benefits: Vec<String>,
    /// A web address or handle the prompt gives ("ember.com", "@ember").
    pub contact: Option<String>,
}

impl Reading {
    /// The product as named `title` by the client: a brand, and what the prompt called the
    /// product becomes what it is.
    pub fn named(&mut self, title: &str) {
        if self.noun.is_empty() && !self.branded {
            self.noun = self.product.to_lowercase();
        }
        self.product = title.trim().to_owned();
        self.branded = true;
    }
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

/// Words that open a clause saying what the product does ("that keeps coffee hot").
const RELATIVE: &[&str] = &["that", "which", "who"];

const ARTICLES: &[&str] = &["a", "an", "the"];

pub fn read(prompt: &str) -> Reading {
    let (contact, rest) = contact(prompt);
    let clauses = clauses(&rest);
    let words: Vec<&str> = clauses.iter().flatten().copied().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let (duration, duration_words) = duration(&lower);
    let mood = mood(&lower);
    let named = name(&clauses, &duration_words);
    Reading {
        duration,
        product: named.name,
        branded: named.branded,
        noun: named.noun,
        category: named.category,
        mood,
        benefits: named.benefits,
        contact,
    }
}

/// The first web address or handle in the prompt, and the prompt without it.
fn contact(prompt: &str) -> (Option<String>, String) {
    let trim = |w: &str| {
        w.trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '!' | '?' | '(' | ')' | '"'))
            .trim_end_matches('.')
            .to_owned()
    };
    let found = prompt
        .split_whitespace()
        .map(trim)
        .find(|w| is_handle(w) || is_web_address(w));
    match found {
        Some(found) => {
            let rest = prompt.replacen(&found, " ", 1);
            let shown = found
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned();
            (Some(shown), rest)
        }
        None => (None, prompt.to_owned()),
    }
}

fn is_handle(word: &str) -> bool {
    word.strip_prefix('@').is_some_and(|name| {
        (2..=30).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    })
}

/// `ember.com`, `www.ember.co.uk/shop`, `https://ember.com`: labels of letters, digits and
/// hyphens, the last of letters only.
fn is_web_address(word: &str) -> bool {
    let bare = word
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = bare.split('/').next().unwrap_or("");
    let labels: Vec<&str> = host.split('.').collect();
    let tld = labels.last().copied().unwrap_or("");
    labels.len() >= 2
        && (2..=12).contains(&tld.len())
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels[0].chars().any(|c| c.is_ascii_alphabetic())
}

/// The prompt's clauses (split at punctuation), each a list of words.
fn clauses(prompt: &str) -> Vec<Vec<&str>> {
    let breaks = |c: char| matches!(c, ',' | ';' | ':' | '.' | '!' | '?' | '(' | ')' | '—' | '–');
    prompt
        .split(breaks)
        .map(|clause| {
            clause
                .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
                .map(|w| w.trim_matches(|c| c == '-' || c == '\''))
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|clause| !clause.is_empty())
        .collect()
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

/// What a prompt says about its product.
struct Named {
    name: String,
    branded: bool,
    noun: String,
    category: Category,
    benefits: Vec<String>,
}

/// A word of the prompt, where it stands in it.
#[derive(Clone, Copy)]
struct Word<'a> {
    text: &'a str,
    /// Its index among all the prompt's words.
    at: usize,
}

impl Word<'_> {
    fn lower(&self) -> String {
        self.text.to_lowercase()
    }

    /// Written as a name is: capitalized after the prompt's first word, or with a capital inside
    /// ("iPhone").
    fn capitalized(&self) -> bool {
        let mut chars = self.text.chars();
        let first = chars.next().is_some_and(char::is_uppercase);
        (first && self.at > 0) || chars.any(char::is_uppercase)
    }
}

/// The product's name, what it is and does, and its category. A brand set apart by a comma
/// and an article ("Ember, a smart mug that ...") is the name and the words after the article
/// what it is; otherwise the name is the longest run of naming words, preferring one with a
/// product noun. A clause from "that", "which" or "who" says what the product does.
fn name(clauses: &[Vec<&str>], skip: &[usize]) -> Named {
    let mut at = 0;
    let mut heads: Vec<Vec<Word>> = Vec::new();
    let mut benefits = Vec::new();
    for clause in clauses {
        let words: Vec<Word> = clause
            .iter()
            .map(|text| {
                at += 1;
                Word { text, at: at - 1 }
            })
            .collect();
        let split = words
            .iter()
            .position(|w| RELATIVE.contains(&w.lower().as_str()))
            .unwrap_or(words.len());
        if let Some(benefit) = benefit(&words[split..]) {
            benefits.push(benefit);
        }
        heads.push(words[..split].to_vec());
    }
    benefits.truncate(3);
    let runs: Vec<Vec<Vec<Word>>> = heads.iter().map(|head| naming_runs(head, skip)).collect();
    let category_of = |run: &[Word]| run.iter().find_map(|w| Category::of_word(&w.lower()));
    for (index, head) in heads.iter().enumerate() {
        let Some(last) = runs[index].last() else {
            continue;
        };
        let ends_clause = last.last().map(|w| w.at) == head.last().map(|w| w.at);
        let next = heads.get(index + 1).map(Vec::as_slice).unwrap_or(&[]);
        let apposed = next
            .first()
            .is_some_and(|w| ARTICLES.contains(&w.lower().as_str()));
        // At the prompt's start a capital proves nothing, unless the comma and article set the
        // words apart as a name that names no kind of product ("Ember, a smart mug").
        let opens_as_name = last.first().is_some_and(|w| {
            w.at == 0 && w.text.starts_with(char::is_uppercase) && category_of(last).is_none()
        });
        let a_name = last.iter().any(Word::capitalized) || opens_as_name;
        if ends_clause && apposed && a_name {
            let noun: Vec<Word> = next[1..]
                .iter()
                .take_while(|w| !FILLER.contains(&w.lower().as_str()))
                .copied()
                .collect();
            if noun.is_empty() {
                continue;
            }
            let category = category_of(&noun)
                .or_else(|| category_of(last))
                .unwrap_or(Category::General);
            return Named {
                name: join(last),
                branded: true,
                noun: join(&noun).to_lowercase(),
                category,
                benefits,
            };
        }
    }
    let all: Vec<&Vec<Word>> = runs.iter().flatten().collect();
    // A clause that is only a name ("30s luxury watch, Aurelia") names the brand of the
    // product the other words describe.
    let named_alone = heads
        .iter()
        .skip(1)
        .zip(runs.iter().skip(1))
        .find_map(|(head, runs)| {
            let alone = runs.len() == 1 && runs[0].len() == head.len() && head.len() <= 3;
            (alone && head.iter().all(Word::capitalized)).then(|| &runs[0])
        });
    let described = all.iter().find(|run| category_of(run).is_some());
    if let (Some(brand), Some(described)) = (named_alone, described) {
        return Named {
            name: join(brand),
            branded: true,
            noun: join(described).to_lowercase(),
            category: category_of(described).unwrap_or(Category::General),
            benefits,
        };
    }
    let best = all
        .iter()
        .find(|run| category_of(run).is_some())
        .or_else(|| all.first());
    match best {
        Some(run) => {
            let run = &run[run.len().saturating_sub(4)..];
            Named {
                name: join(run),
                branded: run.iter().any(Word::capitalized),
                noun: String::new(),
                category: category_of(run).unwrap_or(Category::General),
                benefits,
            }
        }
        None => Named {
            name: "your product".to_owned(),
            branded: false,
            noun: String::new(),
            category: Category::General,
            benefits,
        },
    }
}

/// A relative clause as what the product does: "that keeps coffee hot" is "keeps coffee hot".
/// Only a verb in the third person makes one ("who love coffee" says who it is for).
fn benefit(clause: &[Word]) -> Option<String> {
    let verb = clause.get(1)?.lower();
    let says = verb.ends_with('s') && !verb.ends_with("ss") || ["can", "will"].contains(&&*verb);
    (clause.len() >= 3 && says).then(|| join(&clause[1..]).to_lowercase())
}

fn join(words: &[Word]) -> String {
    words.iter().map(|w| w.text).collect::<Vec<_>>().join(" ")
}

/// The runs of naming words in a clause. A mood word right before a naming word belongs to the
/// name ("luxury watch", "smart thermostat").
fn naming_runs<'a>(words: &[Word<'a>], skip: &[usize]) -> Vec<Vec<Word<'a>>> {
    let lower: Vec<String> = words.iter().map(Word::lower).collect();
    let is_cue = |w: &str| Mood::ALL.iter().any(|m| m.cues().contains(&w));
    let naming: Vec<bool> = words
        .iter()
        .zip(&lower)
        .map(|(w, l)| !skip.contains(&w.at) && !FILLER.contains(&l.as_str()))
        .collect();
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for i in 0..words.len() {
        let cue = is_cue(&lower[i]) && Category::of_word(&lower[i]).is_none();
        let joins_next = cue && naming.get(i + 1) == Some(&true) && !is_cue(&lower[i + 1]);
        if naming[i] && (!cue || joins_next) && !lower[i].chars().all(|c| c.is_ascii_digit()) {
            current.push(words[i]);
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
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
    fn a_brand_beside_its_product_noun_is_the_name() {
        let reading = read("30 second ad for Ember, a smart mug that keeps coffee hot for hours");
        assert_eq!(reading.product, "Ember");
        assert!(reading.branded);
        assert_eq!(reading.noun, "smart mug");
        assert_eq!(reading.benefits, ["keeps coffee hot for hours"]);
        assert_eq!(reading.duration, Some(30));
        let opening = read("Ember, a smart mug that keeps coffee hot for hours, ember.com");
        assert_eq!(
            (opening.product.as_str(), opening.noun.as_str()),
            ("Ember", "smart mug"),
            "a brand that opens the prompt"
        );
        assert_eq!(opening.contact.as_deref(), Some("ember.com"));
        assert_eq!(
            read("Sneakers, a gift for runners").product,
            "Sneakers",
            "a kind of product is no brand"
        );
        assert!(!read("Sneakers, a gift for runners").branded);
        let plain = read("Create an ad for family car with emotional story");
        assert!(!plain.branded);
        assert_eq!(plain.noun, "");
    }

    #[test]
    fn a_clause_that_is_only_a_name_is_the_brand() {
        let reading = read("30s luxury watch elegant sophisticated, Aurelia");
        assert_eq!(
            (reading.product.as_str(), reading.noun.as_str()),
            ("Aurelia", "luxury watch")
        );
        assert!(reading.branded);
        assert_eq!(read("30s luxury watch, elegant").product, "luxury watch");
    }

    #[test]
    fn web_addresses_and_handles_are_read_and_kept_out_of_the_name() {
        let cases = [
            (
                "15s ad for Ember mugs, shop at ember.com",
                Some("ember.com"),
            ),
            (
                "ad for Lumo lamps https://www.lumo.co.uk/shop/",
                Some("www.lumo.co.uk/shop"),
            ),
            ("Follow @lumo_home for our new lamp", Some("@lumo_home")),
            ("a 2.5 litre kettle, 20s", None),
        ];
        for (prompt, contact) in cases {
            let reading = read(prompt);
            assert_eq!(reading.contact.as_deref(), contact, "{prompt}");
            assert!(
                !reading.product.contains('.'),
                "{prompt}: {}",
                reading.product
            );
        }
        assert_eq!(
            read("15s ad for Ember mugs, shop at ember.com").product,
            "Ember mugs"
        );
    }

    #[test]
    fn only_a_verb_clause_is_a_benefit() {
        assert!(read("ad for Kiko, a coffee for people who love mornings")
            .benefits
            .is_empty());
        assert_eq!(
            read("ad for Tidy, a vacuum that cleans every corner, which charges in an hour")
                .benefits,
            ["cleans every corner", "charges in an hour"]
        );
    }

    #[test]
    fn a_prompt_without_a_product_noun_still_names_something() {
        assert_eq!(read("ad for Zorblax, bold").product, "Zorblax");
        assert_eq!(read("a video").product, "your product");
    }
}
