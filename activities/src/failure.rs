//! What a client is told when a video fails: the phase, a message written for clients and the
//! error's stable code, chosen by the code alone. The raw message (a provider's response body,
//! ffmpeg's output with the server's paths, database text) stays in the run's history, which only
//! operators read.

/// The client's text for a video whose `phase` failed with the error `code`, e.g.
/// `adding_music failed: the music model refused the request (provider_rejected)`.
pub fn public_error(phase: &str, code: &str) -> String {
    if code == REVIEW_EXPIRED {
        return format!("the review before {phase} was not approved in time ({code})");
    }
    format!("{phase} failed: {} ({code})", explain(code))
}

use crate::review::REVIEW_EXPIRED;

/// The client's message for an error code.
fn explain(code: &str) -> &'static str {
    match code {
        "budget_exceeded" => "the video would cost more than its budget",
        "monthly_budget_exceeded" => "the video would take its key past its monthly budget",
        "invalid_plan" => "no valid plan could be made for this prompt",
        "provider_rejected" => "the model refused the request",
        "quota_exceeded" => "the model's account has no quota left",
        "provider_failed" | "provider_garbled" | "no_video" => "the model did not deliver a result",
        "unsafe_output" | "output_too_large" => "the model's output could not be accepted",
        "provider_timeout" | "provider_unavailable" | "provider_unreachable" | "rate_limited" => {
            "the model could not be reached in time"
        }
        "ffmpeg_failed" | "ffmpeg_spawn" | "ffmpeg_wait" | "render" | "compose" | "voice"
        | "mix" => "the media could not be rendered",
        "ffmpeg_missing" | "font_missing" | "soundfont_missing" | "soundfont_invalid" => {
            "the server is not set up to render media"
        }
        "image_unreadable" => "an image given for the video could not be read",
        "storage" => "the media could not be stored",
        "timeout" => "it took longer than its time limit",
        "interrupted_too_often" => "its workers were interrupted too often",
        "handoff_refused" | "database" => "its result could not be saved",
        _ => "an internal error occurred",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_error_names_the_phase_a_client_message_and_the_code() {
        assert_eq!(
            public_error("adding_music", "provider_rejected"),
            "adding_music failed: the model refused the request (provider_rejected)"
        );
    }

    #[test]
    fn an_expired_review_names_the_phase_it_held_back() {
        assert_eq!(
            public_error("storyboarding", REVIEW_EXPIRED),
            "the review before storyboarding was not approved in time (review_expired)"
        );
    }

    #[test]
    fn an_unknown_code_gets_a_generic_message() {
        assert_eq!(
            public_error("stitching", "something_new"),
            "stitching failed: an internal error occurred (something_new)"
        );
    }
}
