//! The engine's invariants, each against a real PostgreSQL (a database per test), with workers
//! in this process or in child processes that the tests kill and pause.

mod harness;

mod artifacts;
mod cancel;
mod children;
mod crash;
mod fencing;
mod fork;
mod handoff;
mod hook;
mod interleavings;
mod lifecycle;
mod limiter;
mod limits;
mod memo;
mod replay;
mod retries;
mod scale;
mod schema;
mod start;
mod stats;
mod steps;
mod waits;
