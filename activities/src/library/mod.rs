//! The creative library a spec draws on: the 15 beats, the 5 archetypes, product categories and
//! moods. Data and the rules that choose among them; no I/O.

pub mod archetypes;
pub mod beats;
pub mod category;
pub mod mood;
