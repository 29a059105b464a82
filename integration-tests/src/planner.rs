//! A stub of an OpenAI-compatible planner: it answers every chat completion, in the shape of the
//! API reference, with one valid plan of a 15 s video, after a delay when a test needs to watch
//! planning happen.

use std::time::Duration;

use serde_json::{json, Value};
use slate_activities::{
    cost::Prices,
    providers::{openai::OpenAiPlanner, Secret},
};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

/// A plan a model might send for "15s Nike sneakers energetic urban".
pub fn plan() -> Value {
    json!({
        "template": "energetic_lifestyle", "duration": 15,
        "product": {"name": "Nike", "category": "fashion", "noun": "sneakers"},
        "style": {"aesthetic": "urban", "color_palette": ["#ff3b30", "#111111", "#ffd60a"],
                  "mood": "energetic", "lighting": "neon"},
        "beats": [
            {"id": "dynamic_intro", "duration": 5, "prompt": "a whip pan onto the shoes",
             "headline": "Meet the new Nike.", "voiceover": "Meet the new Nike sneakers."},
            {"id": "action_montage", "duration": 5, "prompt": "fast cuts on a court",
             "headline": "Built for the court.", "voiceover": "Built for every game you play."},
            {"id": "call_to_action", "duration": 5, "prompt": "the shoes, the name",
             "headline": "Nike", "voiceover": "Nike. Just do it. Shop now at nike.com."}],
        "copy": {"tagline": "Just do it.", "call_to_action": "Shop now at nike.com",
                 "contact": "nike.com"},
        "reasoning": {"archetype": "energy", "beats": "three"}
    })
}

/// A chat completion answering `content`, shaped as the API reference's chat completion object
/// (https://platform.openai.com/docs/api-reference/chat/object).
pub fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-slate",
        "object": "chat.completion",
        "created": 1_764_547_200,
        "model": "planner",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}
    })
}

/// Mounts the planner on `server`; each answer leaves `delay` after its request.
pub async fn answer(server: &MockServer, delay: Duration) {
    let body = completion(&plan().to_string());
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(body)
                .set_delay(delay),
        )
        .mount(server)
        .await;
}

/// The planner client of `server`.
pub fn client(server: &MockServer) -> OpenAiPlanner {
    OpenAiPlanner::new(
        reqwest::Client::new(),
        &format!("{}/v1", server.uri()),
        "planner",
        Some(Secret::new("sk-test")),
        Prices::REFERENCE_CLOUD.per_plan,
    )
}
