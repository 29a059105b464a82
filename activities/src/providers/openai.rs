//! The OpenAI-compatible planner: a chat completion with a strict JSON-schema response, at
//! temperature 0.2 + 0.6 x creativity. The model chooses the archetype, the beats (ids from the
//! library), their lengths and prompts, and the style; the beats' framing and camera come from the
//! library. An answer that is not a valid spec is sent back once with the reason; a second invalid
//! answer fails planning for good.
//!
//! Models differ in what they accept. Reasoning models (the o-series, gpt-5) refuse any temperature
//! but their default, and some models or servers refuse `json_schema` response formats: each is
//! left out from the start for the models known to refuse it, and a refusal (400 naming the
//! parameter) leaves it out of that request and every later one. An API key is sent only when one
//! is configured (local servers such as Ollama or llama.cpp need none).

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use slate_engine::StepError;

use super::{
    http::{checked, status_error, transport_error, Secret},
    Planner,
};
use crate::{
    library::archetypes::ARCHETYPES,
    library::beats::{self, LIBRARY},
    plan::{Request, DEFAULT_DURATION},
    spec::{
        max_voiceover_words, AdCopy, Product, Reasoning, Spec, SpecBeat, Style, FPS,
        MAX_HEADLINE_CHARS, MAX_LINE_CHARS, WORDS_PER_SECOND,
    },
};

const PROVIDER: &str = "the planner";

#[derive(Debug, Clone)]
pub struct OpenAiPlanner {
    client: reqwest::Client,
    /// For example `https://api.openai.com/v1`.
    base_url: String,
    model: String,
    api_key: Option<Secret>,
    /// USD per plan.
    price: f64,
    sends: Arc<Sends>,
}

/// The optional parameters the model accepts, as far as is known.
#[derive(Debug)]
struct Sends {
    temperature: AtomicBool,
    schema: AtomicBool,
}

impl OpenAiPlanner {
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        model: &str,
        api_key: Option<Secret>,
        price: f64,
    ) -> Self {
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key,
            price,
            sends: Arc::new(Sends {
                temperature: AtomicBool::new(takes_temperature(model)),
                schema: AtomicBool::new(true),
            }),
        }
    }
}

/// Whether `model` takes a temperature: reasoning models (o1, o3, o4-mini, gpt-5 and its minis)
/// take only their default; gpt-5's chat models take one.
fn takes_temperature(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    let reasoning = ["o1", "o3", "o4"].iter().any(|p| name.starts_with(p))
        || (name.starts_with("gpt-5") && !name.contains("chat"));
    !reasoning
}

/// What the model answers.
#[derive(Debug, Deserialize)]
struct Answer {
    template: String,
    duration: u32,
    product: Product,
    style: Style,
    beats: Vec<AnswerBeat>,
    /// The words are asked for; a model that leaves them out (one that refused the schema) still
    /// plans a video, lettered with the product's name alone.
    #[serde(default)]
    copy: AdCopy,
    reasoning: Reasoning,
}

#[derive(Debug, Deserialize)]
struct AnswerBeat {
    id: String,
    duration: u32,
    prompt: String,
    #[serde(default)]
    headline: String,
    #[serde(default)]
    voiceover: String,
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
            match spec_from(&content, request) {
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
        let response = loop {
            let temperature = self.sends.temperature.load(Ordering::Relaxed);
            let schema = self.sends.schema.load(Ordering::Relaxed);
            let mut body = json!({"model": self.model, "messages": messages});
            if temperature {
                body["temperature"] = json!(0.2 + 0.6 * creativity.clamp(0.0, 1.0));
            }
            if schema {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {"name": "ad_plan", "strict": true, "schema": strict(schema_of_plan())}
                });
            } else {
                body["messages"]
                    .as_array_mut()
                    .expect("messages are a list")
                    .push(json!({"role": "system", "content": format!(
                        "Answer with one JSON object, and nothing else, that follows this JSON schema: {}",
                        schema_of_plan()
                    )}));
            }
            let mut request = self
                .client
                .post(format!("{}/chat/completions", self.base_url))
                .json(&body);
            if let Some(key) = &self.api_key {
                request = request.bearer_auth(key.expose());
            }
            let response = request
                .send()
                .await
                .map_err(|e| transport_error(PROVIDER, e))?;
            if response.status() != reqwest::StatusCode::BAD_REQUEST {
                break response;
            }
            let (status, headers) = (response.status(), response.headers().clone());
            let text = response.text().await.unwrap_or_default();
            let refused: Value = serde_json::from_str(&text).unwrap_or_default();
            let sends = match refused["error"]["param"].as_str() {
                Some("temperature") if temperature => &self.sends.temperature,
                Some("response_format") if schema => &self.sends.schema,
                _ => return Err(status_error(PROVIDER, status, &headers, &text)),
            };
            tracing::info!(model = %self.model, refused = %refused["error"]["param"], "the planner's model refused a parameter; leaving it out");
            sends.store(false, Ordering::Relaxed);
        };
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

/// The spec the model's answer to `request` describes (in the request's aspect ratio, with its
/// voice-over and captions), or why it does not describe a valid one.
fn spec_from(content: &str, request: &Request) -> Result<Spec, String> {
    let aspect_ratio = request.aspect_ratio;
    let answer: Answer =
        serde_json::from_str(content).map_err(|e| format!("not the JSON asked for ({e})"))?;
    let mut start = 0;
    let mut spec_beats = Vec::with_capacity(answer.beats.len());
    for (index, beat) in answer.beats.iter().enumerate() {
        let library = beats::find(&beat.id)
            .ok_or_else(|| format!("beat {index} is {:?}, which is not in the library", beat.id))?;
        spec_beats.push(SpecBeat {
            prompt: beat.prompt.clone(),
            headline: beat.headline.clone(),
            voiceover: beat.voiceover.clone(),
            ..SpecBeat::of(library, start, beat.duration)
        });
        start += beat.duration;
    }
    let mut product = answer.product;
    if let Some(title) = &request.title {
        product.name = title.trim().to_owned();
    }
    let spec = Spec {
        template: answer.template,
        duration: answer.duration,
        fps: FPS,
        aspect_ratio,
        resolution: aspect_ratio.resolution(),
        product,
        style: answer.style,
        beats: spec_beats,
        copy: answer.copy,
        voiceover: request.voiceover,
        captions: request.captions,
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
         the product, in the chosen style, for a frame of the requested aspect ratio. The palette \
         has 3 to 5 colours as #rrggbb. The mood is one of energetic, elegant, minimalist, \
         emotional, informative.\n\nWrite the words of the ad too. The product's name is its \
         brand name when the prompt gives one (\"Ember, a smart mug\" is named Ember, and its noun \
         is \"smart mug\"; leave the noun empty when the name says what it is). Each beat has a \
         headline of at most {MAX_HEADLINE_CHARS} characters that serves its role (a reveal names \
         the product, a feature or benefit beat says what it does, the last beat names it as \
         the end card), and a voice-over line said at {WORDS_PER_SECOND} words per second with \
         a second to spare: at most {} words for a 5 s beat, {} for 10 s, {} for 15 s. The copy \
         has a tagline and a call to action of at most {MAX_LINE_CHARS} characters each; the \
         call to action names the web address or handle when the prompt gives one, which is also \
         the contact (else the contact is empty).\n\nBeat library:\n{}\n\n\
         Archetypes:\n{}",
        max_voiceover_words(5),
        max_voiceover_words(10),
        max_voiceover_words(15),
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
    let title = request
        .title
        .as_deref()
        .map_or(String::new(), |t| format!("Product name: {t}\n"));
    format!(
        "Prompt: {}\n{title}Duration in seconds: {duration}\nArchetype: {archetype}\n\
         Aspect ratio: {}\n\
         Creativity (0 follows the archetype's template, 1 reinterprets it freely): {}",
        request.prompt,
        request.aspect_ratio.name(),
        request.creativity
    )
}

/// `schema` as strict structured outputs require it: every object closed
/// (`additionalProperties: false`), every property required.
fn strict(mut schema: Value) -> Value {
    if let Some(object) = schema.as_object_mut() {
        if object.get("type") == Some(&json!("object")) {
            object.insert("additionalProperties".into(), json!(false));
            let names: Vec<Value> = object
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().map(|k| json!(k)).collect())
                .unwrap_or_default();
            object.insert("required".into(), Value::Array(names));
        }
        for value in object.values_mut() {
            *value = strict(value.take());
        }
    } else if let Some(items) = schema.as_array_mut() {
        for value in items {
            *value = strict(value.take());
        }
    }
    schema
}

fn schema_of_plan() -> Value {
    let text = json!({"type": "string"});
    json!({
        "type": "object",
        "required": ["template", "duration", "product", "style", "beats", "copy", "reasoning"],
        "properties": {
            "template": {"type": "string", "enum": ARCHETYPES.iter().map(|a| a.id).collect::<Vec<_>>()},
            "duration": {"type": "integer"},
            "product": {"type": "object", "required": ["name", "category", "noun"],
                        "properties": {"name": text, "category": text, "noun": text}},
            "style": {"type": "object", "required": ["aesthetic", "color_palette", "mood", "lighting"],
                      "properties": {
                          "aesthetic": text,
                          "color_palette": {"type": "array", "items": text},
                          "mood": {"type": "string", "enum": ["energetic", "elegant", "minimalist", "emotional", "informative"]},
                          "lighting": text}},
            "beats": {"type": "array", "items": {"type": "object",
                      "required": ["id", "duration", "prompt", "headline", "voiceover"],
                      "properties": {
                          "id": {"type": "string", "enum": LIBRARY.iter().map(|b| b.id).collect::<Vec<_>>()},
                          "duration": {"type": "integer", "enum": [5, 10, 15]},
                          "prompt": text,
                          "headline": text,
                          "voiceover": text}}},
            "copy": {"type": "object", "required": ["tagline", "call_to_action", "contact"],
                     "properties": {"tagline": text, "call_to_action": text, "contact": text}},
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

    fn planner_of(server: &MockServer, model: &str, key: Option<&str>) -> OpenAiPlanner {
        let base = format!("{}/v1", server.uri());
        OpenAiPlanner::new(
            reqwest::Client::new(),
            &base,
            model,
            key.map(Secret::new),
            0.02,
        )
    }

    fn planner(server: &MockServer) -> OpenAiPlanner {
        planner_of(server, "planner-small", Some("sk-test"))
    }

    /// A chat completion as the API reference shows it
    /// (https://platform.openai.com/docs/api-reference/chat/object).
    fn completion(content: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_764_547_200, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": content, "refusal": null}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        }))
    }

    fn valid_answer() -> String {
        json!({
            "template": "minimalist_reveal",
            "duration": 15,
            "product": {"name": "iPhone", "category": "tech", "noun": ""},
            "style": {"aesthetic": "clean", "color_palette": ["#ffffff", "#000000", "#0a84ff"],
                      "mood": "minimalist", "lighting": "soft daylight"},
            "beats": [
                {"id": "hero_shot", "duration": 5, "prompt": "the phone",
                 "headline": "Meet iPhone.", "voiceover": "Meet iPhone."},
                {"id": "detail_showcase", "duration": 5, "prompt": "its edge",
                 "headline": "Thin. Light. Fast.", "voiceover": "Thinner and lighter than ever."},
                {"id": "call_to_action", "duration": 5, "prompt": "its name",
                 "headline": "iPhone", "voiceover": "iPhone. Get yours at apple.com."}
            ],
            "copy": {"tagline": "Simply better.", "call_to_action": "Get yours at apple.com",
                     "contact": "apple.com"},
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
            aspect_ratio: crate::spec::AspectRatio::Square,
            ..Request::new("20s iPhone minimalist")
        };
        let spec = planner(&server).plan(&request).await.unwrap();
        assert_eq!(spec.template, "minimalist_reveal");
        assert_eq!(spec.resolution, "1080x1080");
        assert_eq!(spec.beats[1].headline, "Thin. Light. Fast.");
        assert_eq!(spec.copy.contact, "apple.com");
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

    /// The bodies the planner sent.
    async fn bodies(server: &MockServer) -> Vec<Value> {
        let requests = server.received_requests().await.unwrap();
        requests
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    /// The error body OpenAI answers for a parameter the model does not support.
    fn unsupported(param: &str) -> ResponseTemplate {
        ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": format!("Unsupported value: '{param}' does not support 0.5 with this model. Only the default (1) value is supported."),
            "type": "invalid_request_error", "param": param, "code": "unsupported_value"}}))
    }

    #[tokio::test]
    async fn a_reasoning_model_is_sent_no_temperature_and_the_schema_is_strict_on_every_object() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(completion(&valid_answer()))
            .mount(&server)
            .await;
        planner_of(&server, "gpt-5-mini", Some("sk-test"))
            .plan(&Request::new("iPhone"))
            .await
            .unwrap();
        let body = &bodies(&server).await[0];
        assert!(body.get("temperature").is_none());
        let format = &body["response_format"]["json_schema"];
        assert_eq!(format["strict"], true);
        fn every_object_is_closed(schema: &Value) -> bool {
            let closed = schema["type"] != "object" || schema["additionalProperties"] == false;
            closed
                && match schema {
                    Value::Object(map) => map.values().all(every_object_is_closed),
                    Value::Array(items) => items.iter().all(every_object_is_closed),
                    _ => true,
                }
        }
        assert!(every_object_is_closed(&format["schema"]));
    }

    #[tokio::test]
    async fn a_refused_temperature_or_schema_is_left_out_once_refused_and_afterwards() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(unsupported("temperature"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
                "message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
                "type": "invalid_request_error", "param": "response_format", "code": null}})))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(completion(&valid_answer()))
            .mount(&server)
            .await;
        let planner = planner(&server);
        planner.plan(&Request::new("iPhone")).await.unwrap();
        planner.plan(&Request::new("iPhone")).await.unwrap();
        let bodies = bodies(&server).await;
        assert_eq!(bodies.len(), 4, "each refusal cost one request, once");
        assert!(bodies[0].get("temperature").is_some());
        assert!(
            bodies[1].get("temperature").is_none() && bodies[1].get("response_format").is_some()
        );
        for body in &bodies[2..] {
            assert!(body.get("temperature").is_none() && body.get("response_format").is_none());
            let last = body["messages"].as_array().unwrap().last().unwrap()["content"].to_string();
            assert!(
                last.contains("JSON schema"),
                "the schema is asked for in words"
            );
        }
    }

    #[tokio::test]
    async fn a_server_that_needs_no_key_is_sent_none() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(completion(&valid_answer()))
            .mount(&server)
            .await;
        planner_of(&server, "llama3.1", None)
            .plan(&Request::new("iPhone"))
            .await
            .unwrap();
        let requests = server.received_requests().await.unwrap();
        assert!(requests[0].headers.get("authorization").is_none());
    }

    #[tokio::test]
    async fn a_rate_limit_waits_as_long_as_retry_after_ms_says_and_an_empty_quota_is_permanent() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after-ms", "250")
                    .set_body_json(json!({"error": {"message": "Rate limit reached for gpt-4o. Please try again in 250ms.",
                        "type": "requests", "param": null, "code": "rate_limit_exceeded"}})),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error": {
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}})))
            .mount(&server)
            .await;
        let planner = planner(&server);
        let limited = planner.plan(&Request::new("iPhone")).await.unwrap_err();
        assert_eq!(
            (
                limited.code.as_str(),
                limited.retryable,
                limited.retry_after
            ),
            (
                "rate_limited",
                true,
                Some(std::time::Duration::from_millis(250))
            )
        );
        let spent = planner.plan(&Request::new("iPhone")).await.unwrap_err();
        assert_eq!(
            (spent.code.as_str(), spent.retryable),
            ("quota_exceeded", false)
        );
    }
}
