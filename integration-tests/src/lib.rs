//! Support for Slate's tests across processes: a database of its own per test, the probe
//! workflow whose steps record each execution, worker processes to kill and pause, and waiting
//! on conditions with a deadline.

pub mod app;
pub mod cluster;
pub mod database;
pub mod music;
pub mod planner;
pub mod predictions;
pub mod priced;
pub mod probe;
pub mod process;
pub mod replicate_fake;
pub mod s3;
pub mod wait;
