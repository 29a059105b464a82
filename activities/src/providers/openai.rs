//! The OpenAI-compatible planner: a chat completion with a JSON-schema response, at temperature
//! 0.2 + 0.6 x creativity. The model chooses the archetype, the beats (ids from the library), their
//! lengths and prompts, and the style; the beats' framing and camera come from the library. An
//! answer that is not a valid spec is sent back once with the reason; a second invalid answer
//! fails planning for good.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use slate_engine::StepError;

use super::{
    http::{checked, transport_error, Secret},
    Planner,
};
use crate::{
    library::archetypes::ARCHETYPES,
    library::beats::{self, LIBRARY},
    plan::{Request, DEFAULT_DURATION},
    spec::{Product, Reasoning, Spec, SpecBeat, Style, FPS, RESOLUTION},
};

const PROVIDER: &str = "the planner";

#[derive(Debug, Clone)]
pub struct OpenAiPlanner {
    pub client: reqwest::Client,
    /// For example `https://api.openai.com/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: Secret,
    /// USD per plan.
    pub price: f64,
}

/// What the model answers.
#[derive(Debug, Deserialize)]
struct Answer {
    template: String,
    duration: u32,
    product: Product,
    style: Style,
    beats: Vec<AnswerBeat>,
    reasoning: Reasoning,
}

#[derive(Debug, Deserialize)]
struct AnswerBeat {
    id: String,
    duration: u32,
    prompt: String,
}

#[async_trait]
impl Planner for OpenAiPlanner {
    fn price(&self) -> f64 {
        self.price
    }

    async fn plan(&self, request: &Request) -> Result<Spec, StepError> {
        let mut messages = vec![
            json!({"role": "system", "content": instructions()}),
            json!({"role": "user", "content": ask(request)}),
        ];
        let mut problem = String::new();
        for _ in 0..2 {
            let content = self.complete(&messages, request.creativity).await?;
            match spec_from(&content) {
                Ok(spec) => return Ok(spec),
                Err(reason) => {
                    problem = reason;
                    messages.push(json!({"role": "assistant", "content": content}));
                    messages.push(json!({"role": "user", "content": format!(
                        "That plan is not valid: {problem}. Answer again with a corrected plan."
                    )}));
                }
            }
        }
        Err(StepError::permanent(
            "invalid_plan",
            format!("the planner's answer was invalid twice: {problem}"),
        ))
    }
}

impl OpenAiPlanner {
    async fn complete(&self, messages: &[Value], creativity: f64) -> Result<String, StepError> {
        let body = json!({
            "model": self.model,
            "temperature": 0.2 + 0.6 * creativity.clamp(0.0, 1.0),
            "messages": messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "ad_plan", "schema": schema()}
            }
        });
        let url = format!("{}/chat/completions", self.base_url.trim_end_matches('/'));
        let response = self
            .client
            .post(url)
            .bearer_auth(self.api_key.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let answer: Value = checked(PROVIDER, response)
            .await?
            .json()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        answer["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                StepError::retryable("provider_garbled", "the planner's answer has no content")
            })
    }
}

/// The spec the model's answer describes, or why it does not describe a valid one.
fn spec_from(content: &str) -> Result<Spec, String> {
    let answer: Answer =
        serde_json::from_str(content).map_err(|e| format!("not the JSON asked for ({e})"))?;
    let mut start = 0;
    let mut spec_beats = Vec::with_capacity(answer.beats.len());
    for (index, beat) in answer.beats.iter().enumerate() {
        let library = beats::find(&beat.id)
            .ok_or_else(|| format!("beat {index} is {:?}, which is not in the library", beat.id))?;
        spec_beats.push(SpecBeat {
            id: library.id.to_owned(),
            position: library.position,
            shot_type: library.shot_type,
            action: library.action.to_owned(),
            camera_movement: library.camera,
            energy: library.energy,
            start,
            duration: beat.duration,
            prompt: beat.prompt.clone(),
        });
        start += beat.duration;
    }
    let spec = Spec {
        template: answer.template,
        duration: answer.duration,
        fps: FPS,
        resolution: RESOLUTION.to_owned(),
        product: answer.product,
        style: answer.style,
        beats: spec_beats,
        reasoning: answer.reasoning,
    };
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

fn instructions() -> String {
    let beats: Vec<String> = LIBRARY
        .iter()
        .map(|b| {
            format!(
                "- {} ({:?}, {} s, {:?}, camera {:?}): {}",
                b.id, b.position, b.duration, b.shot_type, b.camera, b.template
            )
        })
        .collect();
    let archetypes: Vec<String> = ARCHETYPES
        .iter()
        .map(|a| {
            let template: Vec<String> = a
                .template
                .iter()
                .map(|(id, d)| format!("{id} {d}s"))
                .collect();
            format!(
                "- {} ({}-{} s, {}): {}",
                a.id,
                a.min_duration,
                a.max_duration,
                a.narrative.join(", "),
                template.join(", ")
            )
        })
        .collect();
    format!(
        "You plan short video advertisements. Choose one archetype and fit its beats to the \
         requested duration exactly: every beat lasts 5, 10 or 15 seconds and the beats' lengths \
         add up to the duration. Use only beat ids from the library. Write each beat's prompt for \
         the product, in the chosen style. The palette has 3 to 5 colours as #rrggbb. The mood is \
         one of energetic, elegant, minimalist, emotional, informative.\n\nBeat library:\n{}\n\n\
         Archetypes:\n{}",
        beats.join("\n"),
        archetypes.join("\n")
    )
}

fn ask(request: &Request) -> String {
    let duration = request.duration.map_or(
        format!("the length the prompt names, else {DEFAULT_DURATION}"),
        |d| d.to_string(),
    );
    let archetype = request
        .archetype
        .as_deref()
        .map_or(String::from("the one that suits the prompt"), str::to_owned);
    format!(
        "Prompt: {}\nDuration in seconds: {duration}\nArchetype: {archetype}\nCreativity (0 follows \
         the archetype's template, 1 reinterprets it freely): {}",
        request.prompt, request.creativity
    )
}

fn schema() -> Value {
    let text = json!({"type": "string"});
    json!({
        "type": "object",
        "required": ["template", "duration", "product", "style", "beats", "reasoning"],
        "properties": {
            "template": {"type": "string", "enum": ARCHETYPES.iter().map(|a| a.id).collect::<Vec<_>>()},
            "duration": {"type": "integer"},
            "product": {"type": "object", "required": ["name", "category"],
                        "properties": {"name": text, "category": text}},
            "style": {"type": "object", "required": ["aesthetic", "color_palette", "mood", "lighting"],
                      "properties": {
                          "aesthetic": text,
                          "color_palette": {"type": "array", "items": text},
                          "mood": {"type": "string", "enum": ["energetic", "elegant", "minimalist", "emotional", "informative"]},
                          "lighting": text}},
            "beats": {"type": "array", "items": {"type": "object", "required": ["id", "duration", "prompt"],
                      "properties": {
                          "id": {"type": "string", "enum": LIBRARY.iter().map(|b| b.id).collect::<Vec<_>>()},
                          "duration": {"type": "integer", "enum": [5, 10, 15]},
                          "prompt": text}}},
            "reasoning": {"type": "object", "required": ["archetype", "beats"],
                          "properties": {"archetype": text, "beats": text}}
        }
    })
}

#[cfg(test)]
mod tests {
    use wiremock::{
        matchers::{body_partial_json, header, method, path},
        Mock, MockServer, ResponseTemplate,
    };

    use super::*;

    fn planner(server: &MockServer) -> OpenAiPlanner {
        OpenAiPlanner {
            client: reqwest::Client::new(),
            base_url: format!("{}/v1", server.uri()),
            model: "planner-small".into(),
            api_key: Secret::new("sk-test"),
            price: 0.02,
        }
    }

    fn completion(content: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"message": {"role": "assistant", "content": content}}]
        }))
    }

    fn valid_answer() -> String {
        json!({
            "template": "minimalist_reveal",
            "duration": 15,
            "product": {"name": "iPhone", "category": "tech"},
            "style": {"aesthetic": "clean", "color_palette": ["#ffffff", "#000000", "#0a84ff"],
                      "mood": "minimalist", "lighting": "soft daylight"},
            "beats": [
                {"id": "hero_shot", "duration": 5, "prompt": "the phone"},
                {"id": "detail_showcase", "duration": 5, "prompt": "its edge"},
                {"id": "call_to_action", "duration": 5, "prompt": "its name"}
            ],
            "reasoning": {"archetype": "clean", "beats": "three"}
        })
        .to_string()
    }

    #[tokio::test]
    async fn a_valid_answer_becomes_a_spec_at_the_creativity_temperature() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", "Bearer sk-test"))
            .and(body_partial_json(
                json!({"model": "planner-small", "temperature": 0.5,
                "response_format": {"type": "json_schema"}}),
            ))
            .respond_with(completion(&valid_answer()))
            .expect(1)
            .mount(&server)
            .await;
        let request = Request {
            creativity: 0.5,
            ..Request::new("20s iPhone minimalist")
        };
        let spec = planner(&server).plan(&request).await.unwrap();
        assert_eq!(spec.template, "minimalist_reveal");
        assert_eq!(spec.beats[2].start, 10);
        assert_eq!(spec.beats[0].camera_movement, beats::Camera::SlowDollyIn);
    }

    #[tokio::test]
    async fn an_invalid_answer_is_sent_back_once_with_the_reason() {
        let server = MockServer::start().await;
        let invalid = valid_answer().replace("\"duration\":15", "\"duration\":20");
        Mock::given(method("POST"))
            .respond_with(completion(&invalid))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(wiremock::matchers::body_string_contains(
                "That plan is not valid",
            ))
            .respond_with(completion(&valid_answer()))
            .expect(1)
            .mount(&server)
            .await;
        let spec = planner(&server)
            .plan(&Request::new("iPhone"))
            .await
            .unwrap();
        assert_eq!(spec.duration, 15);
    }

    #[tokio::test]
    async fn invalid_json_twice_fails_planning_for_good() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(completion(
                "{\"template\": \"luxury_showcase\", \"beats\": oops",
            ))
            .expect(2)
            .mount(&server)
            .await;
        let error = planner(&server)
            .plan(&Request::new("watch"))
            .await
            .unwrap_err();
        assert!(!error.retryable);
        assert_eq!(error.code, "invalid_plan");
    }

    #[tokio::test]
    async fn rate_limits_and_server_errors_are_retryable_and_other_4xx_permanent() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401).set_body_string("bad key"))
            .mount(&server)
            .await;
        let planner = planner(&server);
        let request = Request::new("watch");
        let limited = planner.plan(&request).await.unwrap_err();
        assert_eq!(
            (limited.code.as_str(), limited.retry_after),
            ("rate_limited", Some(std::time::Duration::from_secs(3)))
        );
        assert!(planner.plan(&request).await.unwrap_err().retryable);
        let refused = planner.plan(&request).await.unwrap_err();
        assert!(!refused.retryable);
        assert!(
            !refused.message.contains("sk-test"),
            "the key is not in the message"
        );
    }
}
