//! The typefaces: a display face for headlines and a body face for smaller lines, per mood, from
//! open fonts that `scripts/install-tools.sh` installs from Debian's packages (League Spartan,
//! EB Garamond, Inter, Manrope), and DejaVu Sans for any glyph they lack. Missing faces fall back
//! to DejaVu Sans; with no font at all, rendering fails for good and says what to install.
//! Fonts are looked for in `SLATE_FONT_DIR` first, then the system's font folders, and loaded
//! once per process.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use ab_glyph::{Font, FontArc, GlyphId};
use slate_engine::StepError;

use crate::library::mood::Mood;

/// A font, and the font that draws the glyphs it lacks.
#[derive(Clone)]
pub struct Face {
    pub font: FontArc,
    pub fallback: FontArc,
    /// Set in capitals.
    pub uppercase: bool,
    /// Extra space between letters, as a fraction of the size.
    pub tracking: f32,
}

impl Face {
    /// The font that draws `c`, and its glyph.
    pub fn glyph(&self, c: char) -> (&FontArc, GlyphId) {
        let id = self.font.glyph_id(c);
        if id.0 != 0 {
            return (&self.font, id);
        }
        (&self.fallback, self.fallback.glyph_id(c))
    }

    /// `text` as this face sets it.
    pub fn cased(&self, text: &str) -> String {
        if self.uppercase {
            text.to_uppercase()
        } else {
            text.to_owned()
        }
    }
}

/// The faces of a mood.
#[derive(Clone)]
pub struct Faces {
    pub display: Face,
    pub body: Face,
    /// Captions, set for reading at a glance in every mood.
    pub captions: Face,
}

/// Every mood's faces.
pub struct Typefaces {
    moods: HashMap<Mood, Faces>,
}

/// A face by file name, how it is set, and the file that stands in for it when it is missing.
struct Wanted {
    file: &'static str,
    uppercase: bool,
    tracking: f32,
}

const fn face(file: &'static str, uppercase: bool, tracking: f32) -> Wanted {
    Wanted {
        file,
        uppercase,
        tracking,
    }
}

/// The display and body faces of a mood.
fn wanted(mood: Mood) -> (Wanted, Wanted) {
    match mood {
        Mood::Energetic => (
            face("LeagueSpartan-Black.otf", true, 0.0),
            face("Inter-SemiBold.otf", true, 0.12),
        ),
        Mood::Elegant => (
            face("EBGaramond12-Regular.otf", false, 0.01),
            face("Inter-Light.otf", true, 0.3),
        ),
        Mood::Minimalist => (
            face("Inter-SemiBold.otf", false, -0.02),
            face("Inter-Regular.otf", true, 0.2),
        ),
        Mood::Emotional => (
            face("EBGaramond12-Italic.otf", false, 0.0),
            face("Manrope-Medium.ttf", true, 0.18),
        ),
        Mood::Informative => (
            face("Manrope-ExtraBold.ttf", false, -0.01),
            face("Manrope-SemiBold.ttf", true, 0.14),
        ),
    }
}

const CAPTIONS: Wanted = face("Inter-SemiBold.otf", false, 0.0);
const FALLBACK: &str = "DejaVuSans-Bold.ttf";
const SYSTEM_FOLDERS: &[&str] = &["/usr/share/fonts", "/usr/local/share/fonts"];

impl Typefaces {
    /// The process's typefaces, loaded on first use.
    pub fn shared() -> Result<&'static Typefaces, StepError> {
        static LOADED: OnceLock<Result<Typefaces, String>> = OnceLock::new();
        LOADED
            .get_or_init(|| Typefaces::load(&folders()))
            .as_ref()
            .map_err(|message| StepError::permanent("font_missing", message.clone()))
    }

    /// Loads the faces from `folders` (searched in order, with their subfolders).
    pub fn load(folders: &[PathBuf]) -> Result<Self, String> {
        let files = index(folders);
        let read = |name: &str| -> Option<FontArc> {
            let path = files.get(name)?;
            let bytes = std::fs::read(path).ok()?;
            FontArc::try_from_vec(bytes).ok()
        };
        let fallback = read(FALLBACK).ok_or_else(|| {
            format!(
                "the font {FALLBACK} is not installed: run scripts/install-tools.sh \
                 (fonts-dejavu-core) or put it in SLATE_FONT_DIR"
            )
        })?;
        let make = |wanted: &Wanted| {
            let font = read(wanted.file).unwrap_or_else(|| {
                tracing::warn!(
                    font = wanted.file,
                    "a font is missing; DejaVu Sans stands in"
                );
                fallback.clone()
            });
            Face {
                font,
                fallback: fallback.clone(),
                uppercase: wanted.uppercase,
                tracking: wanted.tracking,
            }
        };
        let moods = Mood::ALL
            .into_iter()
            .map(|mood| {
                let (display, body) = wanted(mood);
                let faces = Faces {
                    display: make(&display),
                    body: make(&body),
                    captions: make(&CAPTIONS),
                };
                (mood, faces)
            })
            .collect();
        Ok(Self { moods })
    }

    pub fn of(&self, mood: Mood) -> &Faces {
        &self.moods[&mood]
    }
}

/// `SLATE_FONT_DIR`, then the system's font folders.
fn folders() -> Vec<PathBuf> {
    let named = std::env::var_os("SLATE_FONT_DIR").map(PathBuf::from);
    named
        .into_iter()
        .chain(SYSTEM_FOLDERS.iter().map(PathBuf::from))
        .collect()
}

/// Font files by file name; the first folder that has a name wins.
fn index(folders: &[PathBuf]) -> HashMap<String, PathBuf> {
    fn walk(dir: &Path, depth: u32, found: &mut HashMap<String, PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() && depth < 4 {
                walk(&path, depth + 1, found);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                found.entry(name.to_owned()).or_insert(path.clone());
            }
        }
    }
    let mut found = HashMap::new();
    for folder in folders {
        walk(folder, 0, &mut found);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mood_has_its_own_faces_and_glyphs_they_lack_come_from_the_fallback() {
        let faces = Typefaces::shared().expect("fonts (scripts/install-tools.sh)");
        let display = &faces.of(Mood::Elegant).display;
        let (font, id) = display.glyph('A');
        assert_ne!(id.0, 0);
        assert!(std::ptr::eq(font, &display.font));
        // EB Garamond has no smiling face; DejaVu Sans does.
        let (font, id) = display.glyph('☺');
        assert_ne!(id.0, 0);
        assert!(std::ptr::eq(font, &display.fallback));
    }

    #[test]
    fn a_folder_without_the_fallback_font_is_a_clear_error() {
        let empty = tempfile::tempdir().unwrap();
        let error = Typefaces::load(&[empty.path().to_owned()]).err().unwrap();
        assert!(error.contains("fonts-dejavu-core"), "{error}");
    }
}
