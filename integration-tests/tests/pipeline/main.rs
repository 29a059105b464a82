//! The video pipeline through the engine with the embedded providers: real stills, real ffmpeg,
//! a real PostgreSQL.

mod harness;

mod cloud;
mod crash;
mod design;
mod end_to_end;
mod many_machines;
mod replay;
mod spending;
mod store;
