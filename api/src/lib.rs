//! Slate's HTTP facade: the actix-web application that admits videos and reports on them, and
//! serves their media. The `slate` binary builds it with [`app::Application::build`].

pub mod app;
pub mod auth;
pub mod caller;
pub mod error;
pub mod eta;
pub mod feed;
pub mod media_urls;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod streams;
