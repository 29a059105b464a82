//! The words of the ad, written by the embedded planner: a headline per beat that serves the
//! beat's role, a voice-over line that fits the beat at a natural pace, a tagline and a call to
//! action. They come from what the prompt says (the product's name, what it is and does, where
//! to find it) and the mood; variants are chosen by creativity and seed.

use fastrand::Rng;

use crate::{
    library::beats::Beat,
    library::category::Category,
    library::mood::Mood,
    plan::prompt::Reading,
    spec::{max_voiceover_words, AdCopy, MAX_HEADLINE_CHARS, MAX_LINE_CHARS},
};

/// What a beat does for the ad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Reveal,
    Setup,
    Feature,
    Benefit,
    Lifestyle,
    Close,
}

fn role(action: &str) -> Role {
    match action {
        "product_reveal" | "mysterious_preview" | "energetic_opening" => Role::Reveal,
        "establish_environment" | "mood_establishment" => Role::Setup,
        "feature_highlight" | "multiple_features" | "dynamic_product" => Role::Feature,
        "demonstrate_benefit" | "person_using_product" | "before_after" => Role::Benefit,
        "final_impression" => Role::Close,
        _ => Role::Lifestyle,
    }
}

/// A beat's words.
#[derive(Debug, Clone, PartialEq)]
pub struct BeatCopy {
    pub headline: String,
    pub voiceover: String,
}

/// Writes the words of an ad whose beats are `beats` (with their lengths in seconds).
pub struct Writer<'a> {
    reading: &'a Reading,
    mood: Mood,
    rng: &'a mut Rng,
    creativity: f64,
    /// What the product does, the prompt's first, then the category's.
    benefits: Vec<String>,
    next_benefit: usize,
}

impl<'a> Writer<'a> {
    pub fn new(reading: &'a Reading, mood: Mood, creativity: f64, rng: &'a mut Rng) -> Self {
        let mut benefits = reading.benefits.clone();
        benefits.extend(
            category_benefits(reading.category)
                .iter()
                .map(|b| (*b).to_owned()),
        );
        Self {
            reading,
            mood,
            rng,
            creativity,
            benefits,
            next_benefit: 0,
        }
    }

    /// The words of each beat (the last one is the end card), then the ad's closing words.
    pub fn write(mut self, beats: &[(&Beat, u32)]) -> (Vec<BeatCopy>, AdCopy) {
        let copy = self.closing();
        let last = beats.len().saturating_sub(1);
        let words = beats
            .iter()
            .enumerate()
            .map(|(index, (beat, seconds))| {
                let role = if index == last {
                    Role::Close
                } else {
                    role(beat.action)
                };
                self.beat(role, *seconds, &copy)
            })
            .collect();
        (words, copy)
    }

    /// One of `variants`: the first (the plainest) at creativity 0, more often another as
    /// creativity grows.
    fn choose<T: Clone>(&mut self, variants: &[T]) -> T {
        if variants.len() > 1 && self.rng.f64() < self.creativity {
            variants[self.rng.usize(..variants.len())].clone()
        } else {
            variants[0].clone()
        }
    }

    /// The product as a sentence's subject: "Ember", "the luxury watch".
    fn subject(&self) -> String {
        if self.reading.branded {
            self.reading.product.clone()
        } else {
            format!("the {}", self.reading.product.to_lowercase())
        }
    }

    fn benefit(&mut self) -> String {
        let benefit = self.benefits[self.next_benefit % self.benefits.len()].clone();
        self.next_benefit += 1;
        benefit
    }

    fn closing(&mut self) -> AdCopy {
        let tagline = self.choose(taglines(self.mood));
        let contact = self.reading.contact.clone().unwrap_or_default();
        let actions: Vec<String> = if contact.starts_with('@') {
            vec![format!("Follow {contact}"), format!("Find us at {contact}")]
        } else if !contact.is_empty() {
            vec![
                format!("Get yours at {contact}"),
                format!("Shop now at {contact}"),
                format!("Visit {contact}"),
            ]
        } else {
            closing_actions(self.reading.category)
                .iter()
                .map(|a| (*a).to_owned())
                .collect()
        };
        let fitting: Vec<String> = actions
            .into_iter()
            .filter(|a| a.chars().count() <= MAX_LINE_CHARS)
            .collect();
        let call_to_action = if fitting.is_empty() {
            "Shop now".to_owned()
        } else {
            self.choose(&fitting)
        };
        AdCopy {
            tagline: tagline.to_owned(),
            call_to_action,
            contact,
        }
    }

    fn beat(&mut self, role: Role, seconds: u32, copy: &AdCopy) -> BeatCopy {
        let subject = self.subject();
        let name = sentence(&subject);
        let noun = &self.reading.noun;
        let (headlines, lines): (Vec<String>, Vec<String>) = match role {
            Role::Reveal => {
                let called = if noun.is_empty() {
                    subject.clone()
                } else {
                    format!("{subject}, the {noun}")
                };
                (
                    vec![
                        format!("Meet {subject}."),
                        format!("Say hello to {subject}."),
                        format!("This is {subject}."),
                    ],
                    vec![
                        format!("Meet {called}."),
                        format!("Say hello to {called}."),
                        format!("This is {called}."),
                    ],
                )
            }
            Role::Setup => {
                let scenes: Vec<String> =
                    scenes(self.mood).iter().map(|s| (*s).to_owned()).collect();
                (scenes.clone(), scenes)
            }
            Role::Feature | Role::Benefit => {
                let benefit = self.benefit();
                let mut lines = vec![format!("{name} {benefit}."), format!("It {benefit}.")];
                if seconds >= 10 {
                    let more = self.benefit();
                    lines.insert(0, format!("{name} {benefit}. And it {more}."));
                }
                // "is crafted to last" heads the beat as "Crafted to last".
                let said = benefit.strip_prefix("is ").unwrap_or(&benefit);
                let headline = sentence(&format!("{said}."));
                (
                    vec![headline, generic_headline(self.mood).to_owned()],
                    lines,
                )
            }
            Role::Lifestyle => {
                let lines: Vec<String> = lifestyles(self.mood)
                    .iter()
                    .map(|l| l.replace("{name}", &subject))
                    .map(|l| sentence(&l))
                    .collect();
                let headlines: Vec<String> = lifestyle_headlines(self.mood)
                    .iter()
                    .map(|h| (*h).to_owned())
                    .collect();
                (headlines, lines)
            }
            Role::Close => {
                let headline = if self.reading.branded {
                    self.reading.product.clone()
                } else {
                    sentence(&self.reading.product)
                };
                let action = spoken(&copy.call_to_action);
                (
                    vec![headline],
                    vec![
                        format!("{name}. {} {action}.", copy.tagline),
                        format!("{name}. {action}."),
                        format!("{action}."),
                    ],
                )
            }
        };
        let fitting: Vec<String> = headlines
            .into_iter()
            .filter(|h| h.chars().count() <= MAX_HEADLINE_CHARS)
            .collect();
        let headline = match fitting.is_empty() {
            true => generic_headline(self.mood).to_owned(),
            false => self.choose(&fitting),
        };
        let max = max_voiceover_words(seconds);
        let voiceover = lines
            .iter()
            .find(|l| l.split_whitespace().count() <= max)
            .cloned()
            .unwrap_or_default();
        BeatCopy {
            headline,
            voiceover,
        }
    }
}

/// `text` with its first letter capitalized.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A line as a voice says it: "ember.com" is "ember dot com", "@ember" is "at ember".
fn spoken(line: &str) -> String {
    line.split_whitespace()
        .map(|word| {
            if word.contains('.') || word.starts_with('@') {
                word.trim_start_matches("www.")
                    .replace('@', "at ")
                    .replace('.', " dot ")
                    .replace('/', " slash ")
                    .replace(['_', '-'], " ")
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn taglines(mood: Mood) -> &'static [&'static str] {
    match mood {
        Mood::Energetic => &["Made to move.", "Built for bold.", "Never slow down."],
        Mood::Elegant => &[
            "Timeless, by design.",
            "Quiet luxury, made to last.",
            "Refined in every detail.",
        ],
        Mood::Minimalist => &[
            "Simply better.",
            "Nothing extra. Nothing missing.",
            "Less noise. More you.",
        ],
        Mood::Emotional => &[
            "For the moments that matter.",
            "Made for the ones you love.",
            "Every day, a little warmer.",
        ],
        Mood::Informative => &[
            "Smart made simple.",
            "Everything you need. Nothing you don't.",
            "Work smarter, every day.",
        ],
    }
}

/// A headline that fits any beat of the mood, for when no other fits.
fn generic_headline(mood: Mood) -> &'static str {
    match mood {
        Mood::Energetic => "Turn it up.",
        Mood::Elegant => "Crafted without compromise.",
        Mood::Minimalist => "Designed around you.",
        Mood::Emotional => "Made with heart.",
        Mood::Informative => "Built to make life easier.",
    }
}

fn scenes(mood: Mood) -> &'static [&'static str] {
    match mood {
        Mood::Energetic => &["The city never slows down.", "Every day is game day."],
        Mood::Elegant => &["Some things are made to last.", "Beauty is in the details."],
        Mood::Minimalist => &["Less, but better.", "Start with a clean slate."],
        Mood::Emotional => &["Some moments stay with you.", "It starts at home."],
        Mood::Informative => &["Every day, a little smarter.", "Your day, simplified."],
    }
}

fn lifestyle_headlines(mood: Mood) -> &'static [&'static str] {
    match mood {
        Mood::Energetic => &["Go further. Go faster.", "Own every moment."],
        Mood::Elegant => &["Elegance, every day.", "Live beautifully."],
        Mood::Minimalist => &["Simply yours.", "Everything in its place."],
        Mood::Emotional => &["Made for the moments that matter.", "Share the good days."],
        Mood::Informative => &["Life, made simpler.", "More time for what matters."],
    }
}

/// Voice-over lines for a lifestyle beat; `{name}` is the product.
fn lifestyles(mood: Mood) -> &'static [&'static str] {
    match mood {
        Mood::Energetic => &["Wherever you go, {name} keeps up.", "{name} keeps up."],
        Mood::Elegant => &[
            "{name} makes every day an occasion.",
            "Every day, an occasion.",
        ],
        Mood::Minimalist => &["{name} fits right into your day.", "Simply yours."],
        Mood::Emotional => &[
            "{name} is there for the moments that matter.",
            "For the moments that matter.",
        ],
        Mood::Informative => &[
            "{name} gives you more time for what matters.",
            "More time for what matters.",
        ],
    }
}

/// What products of a category do, in the third person.
fn category_benefits(category: Category) -> &'static [&'static str] {
    match category {
        Category::Tech => &[
            "makes every day a little easier",
            "works the moment you need it",
            "keeps everything in sync",
        ],
        Category::Fashion => &[
            "moves the way you do",
            "goes with everything",
            "is made to be worn every day",
        ],
        Category::Sports => &[
            "keeps up with you",
            "helps you go further",
            "is built for every session",
        ],
        Category::Luxury => &[
            "is crafted to last a lifetime",
            "turns heads without trying",
            "is finished by hand",
        ],
        Category::Automotive => &[
            "takes you further",
            "makes every drive a pleasure",
            "keeps everyone safe on the road",
        ],
        Category::Beauty => &[
            "brings out your natural glow",
            "feels light on your skin",
            "fits right into your routine",
        ],
        Category::Food => &[
            "tastes as good as it looks",
            "is made with real ingredients",
            "makes every break better",
        ],
        Category::Home => &[
            "makes home feel like home",
            "fits any room",
            "makes everyday chores easier",
        ],
        Category::General => &[
            "makes every day better",
            "is made to last",
            "is ready when you are",
        ],
    }
}

/// What to ask of the viewer when the prompt gives no address.
fn closing_actions(category: Category) -> &'static [&'static str] {
    match category {
        Category::Food => &["Order yours today", "Taste it today"],
        Category::Automotive => &["Book a test drive", "Find your nearest dealer"],
        Category::Beauty => &["Try it today", "Find your shade"],
        _ => &["Shop now", "Get yours today"],
    }
}
