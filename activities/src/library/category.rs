//! Product categories: what a prompt's product is, so that beats and styles suit it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Tech,
    Fashion,
    Sports,
    Luxury,
    Automotive,
    Beauty,
    Food,
    Home,
    General,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::Tech,
        Category::Fashion,
        Category::Sports,
        Category::Luxury,
        Category::Automotive,
        Category::Beauty,
        Category::Food,
        Category::Home,
        Category::General,
    ];

    /// The category a word names, for the words a prompt's product is usually named with.
    pub fn of_word(word: &str) -> Option<Category> {
        let category = match word {
            "phone" | "iphone" | "smartphone" | "laptop" | "tablet" | "headphones" | "earbuds"
            | "thermostat" | "camera" | "speaker" | "smartwatch" | "app" | "drone" | "console"
            | "tv" | "computer" | "router" | "gadget" | "smart" => Category::Tech,
            "sneakers" | "shoes" | "jacket" | "dress" | "jeans" | "hoodie" | "streetwear"
            | "bag" | "sunglasses" | "boots" | "fashion" => Category::Fashion,
            "bike" | "bicycle" | "ball" | "racket" | "gym" | "fitness" | "running" | "sport"
            | "sports" | "yoga" | "skateboard" => Category::Sports,
            "watch" | "jewelry" | "jewellery" | "ring" | "necklace" | "luxury" | "diamond"
            | "champagne" | "yacht" => Category::Luxury,
            "car" | "suv" | "truck" | "motorcycle" | "scooter" | "van" | "sedan" | "ev" => {
                Category::Automotive
            }
            "perfume" | "fragrance" | "skincare" | "lipstick" | "makeup" | "cream" | "serum"
            | "shampoo" | "cosmetics" => Category::Beauty,
            "coffee" | "tea" | "burger" | "pizza" | "chocolate" | "drink" | "beer" | "wine"
            | "snack" | "juice" | "restaurant" | "soda" => Category::Food,
            "sofa" | "chair" | "lamp" | "mattress" | "kitchen" | "vacuum" | "furniture"
            | "blender" | "home" | "bed" | "mug" | "mugs" | "cup" | "kettle" | "candle" => {
                Category::Home
            }
            _ => return None,
        };
        Some(category)
    }

    /// Where a product of this category is shown, for the beats' prompts and the stills.
    pub fn setting(self) -> &'static str {
        match self {
            Category::Tech => "a bright, modern workspace",
            Category::Fashion => "a city street at golden hour",
            Category::Sports => "an urban court under floodlights",
            Category::Luxury => "a quiet marble interior",
            Category::Automotive => "an open coastal road",
            Category::Beauty => "a sunlit vanity",
            Category::Food => "a warm kitchen table",
            Category::Home => "a calm, lived-in living room",
            Category::General => "an everyday setting",
        }
    }
}
