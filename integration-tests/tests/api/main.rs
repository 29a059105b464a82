//! The HTTP facade, spawned on port 0 against a database of its own, called over real HTTP.

mod admission;
mod assets;
mod cli;
mod hostile;
mod keys;
mod lifecycle;
mod load;
mod media;
mod operator;
mod reading;
mod steering;
mod webhooks;
mod workflow;
