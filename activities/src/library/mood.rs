//! The five moods a video can carry; each drives its archetype, palette, lighting and music.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mood {
    Energetic,
    Elegant,
    Minimalist,
    Emotional,
    Informative,
}

impl Mood {
    pub const ALL: [Mood; 5] = [
        Mood::Energetic,
        Mood::Elegant,
        Mood::Minimalist,
        Mood::Emotional,
        Mood::Informative,
    ];

    /// Words in a prompt that point at the mood.
    pub fn cues(self) -> &'static [&'static str] {
        match self {
            Mood::Energetic => &[
                "energetic",
                "energy",
                "dynamic",
                "urban",
                "sport",
                "sporty",
                "action",
                "bold",
                "fast",
                "hype",
                "street",
                "intense",
                "vibrant",
                "exciting",
            ],
            Mood::Elegant => &[
                "elegant",
                "luxury",
                "luxurious",
                "sophisticated",
                "premium",
                "refined",
                "classy",
                "exclusive",
                "opulent",
                "timeless",
            ],
            Mood::Minimalist => &[
                "minimalist",
                "minimal",
                "clean",
                "simple",
                "modern",
                "sleek",
                "pure",
                "calm",
            ],
            Mood::Emotional => &[
                "emotional",
                "story",
                "storytelling",
                "family",
                "heartfelt",
                "nostalgic",
                "touching",
                "love",
                "memories",
                "warm",
            ],
            Mood::Informative => &[
                "features",
                "feature",
                "demo",
                "explain",
                "explainer",
                "how",
                "specs",
                "tutorial",
                "informative",
                "benefits",
                "smart",
            ],
        }
    }

    /// The look of a still in this mood.
    pub fn aesthetic(self) -> &'static str {
        match self {
            Mood::Energetic => "high-contrast urban",
            Mood::Elegant => "refined cinematic luxury",
            Mood::Minimalist => "clean minimalist",
            Mood::Emotional => "warm, intimate film",
            Mood::Informative => "bright, crisp product demo",
        }
    }

    pub fn lighting(self) -> &'static str {
        match self {
            Mood::Energetic => "hard neon rim light",
            Mood::Elegant => "soft low-key light",
            Mood::Minimalist => "even, diffused daylight",
            Mood::Emotional => "warm golden-hour light",
            Mood::Informative => "bright studio light",
        }
    }

    /// Palettes (hex colours) the mood can take; the first is its plainest.
    pub fn palettes(self) -> &'static [&'static [&'static str]] {
        match self {
            Mood::Energetic => &[
                &["#ff3b30", "#111111", "#ffd60a", "#f5f5f5"],
                &["#ff2d95", "#1b1b3a", "#00e5ff", "#ffffff"],
                &["#ff6a00", "#0d0d0d", "#39ff14"],
            ],
            Mood::Elegant => &[
                &["#0b0b0f", "#c9a45c", "#f4ecdf", "#3d2b1f"],
                &["#1a1423", "#b8a1d9", "#e8e1ef"],
                &["#0e1a2b", "#d4af37", "#fafafa", "#5c4033", "#2c3e50"],
            ],
            Mood::Minimalist => &[
                &["#f5f5f2", "#1c1c1e", "#a3a3a3"],
                &["#ffffff", "#e5e5ea", "#3a3a3c", "#0a84ff"],
                &["#efeae2", "#2b2b2b", "#c7bfb3"],
            ],
            Mood::Emotional => &[
                &["#f2c57c", "#7a4e2d", "#fdf1dc", "#4a6670"],
                &["#e8a87c", "#41b3a3", "#fbeee0"],
                &["#c38d9e", "#2c2a4a", "#f6e6cb", "#e27d60"],
            ],
            Mood::Informative => &[
                &["#0a84ff", "#ffffff", "#1c1c1e", "#34c759"],
                &["#007aff", "#f2f2f7", "#ff9f0a"],
                &["#2d6cdf", "#eef3fb", "#0b1f3a", "#14b8a6"],
            ],
        }
    }
}
