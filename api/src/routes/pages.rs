//! The web pages, built into the binary: `/` to make and watch videos, `/admin` for operators.
//! Both are plain HTML with inline script that call the JSON API of the same origin.

use actix_web::{http::header, HttpResponse};

const INDEX: &str = include_str!("../web/index.html");
const ADMIN: &str = include_str!("../web/admin.html");

fn page(html: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(html)
}

pub async fn index() -> HttpResponse {
    page(INDEX)
}

pub async fn admin() -> HttpResponse {
    page(ADMIN)
}
