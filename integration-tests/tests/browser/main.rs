//! The web pages in a real browser (headless Chromium), against the application over real HTTP.

mod admin_page;
mod driver;
mod user_page;
