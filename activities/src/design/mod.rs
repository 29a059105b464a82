//! The look of the ad the embedded providers make: the palette's roles, the typefaces, the
//! title-safe layout of each beat's words, the layers drawn over each clip after the camera
//! has moved, and the stills the camera moves over.

pub mod fonts;
pub mod layers;
pub mod layout;
pub mod palette;
pub mod plate;
pub mod text;
