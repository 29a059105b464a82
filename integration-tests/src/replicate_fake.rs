//! A fake of Replicate's predictions API that answers as the real one does, for tests that never
//! reach the internet. Shapes and rules follow the HTTP reference
//! (https://replicate.com/docs/reference/http, and its OpenAPI document):
//! - `POST /v1/predictions` takes exactly `version` and `input` (another top-level key: 422
//!   `additional_property_not_allowed`); `version` is `owner/name` for official models only,
//!   `owner/name:id` or an id (else 422 "Invalid version or not permitted"); it answers 201 with
//!   the prediction, and honours `Cancel-After` (`deadline`);
//! - `POST /v1/models/{owner}/{name}/predictions` serves official models only: a community model
//!   answers 404 `{"detail":"The requested resource could not be found.","status":404}`;
//! - an input the model's schema refuses answers 422 "Input validation failed" with
//!   `invalid_fields` (an image input must be a URI: an https URL or a data URI);
//! - statuses go `starting`, `processing`, then `succeeded`, `failed`, `canceled` or `aborted`
//!   (a deadline reached before the prediction started);
//! - `GET /v1/predictions` lists the newest first, `{next, previous, results}`, each with its
//!   input, filtered by `created_after`;
//! - `POST /v1/files` takes a multipart `content` and answers the file with `urls.get`;
//! - outputs are deleted after about an hour: after [`FakeReplicate::delete_outputs`], the outputs
//!   of the predictions that had succeeded answer 404, and those predictions show
//!   `data_removed: true`, `output: null` and an empty input.
//!
//! Each model family has a fixture: its owner/name, whether it is official, its version id, the
//! inputs its schema requires or restricts, those that take an image, and the shape of its output (SDXL and FLUX schnell/dev
//! answer a list, the others one URL), from each model's API page on replicate.com.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::Utc;
use serde_json::{json, Value};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

/// A small PNG, as an image model's output.
pub fn sample_png() -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(16, 9)
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("writing to memory");
    bytes.into_inner()
}

/// A model family as the service knows it.
#[derive(Debug, Clone)]
pub struct Family {
    pub model: &'static str,
    pub official: bool,
    pub version_id: &'static str,
    /// Inputs that must be present.
    pub required: &'static [&'static str],
    /// Inputs restricted to these values.
    pub allowed: &'static [(&'static str, &'static [i64])],
    /// Inputs that take an image, as a URI (an https URL or a data URI).
    pub images: &'static [&'static str],
    pub list_output: bool,
    /// The output file's extension.
    pub extension: &'static str,
}

/// The families of the supported models (each model's API page on replicate.com).
pub const FAMILIES: [Family; 9] = [
    Family {
        model: "stability-ai/sdxl",
        official: false,
        version_id: "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc",
        required: &["prompt"],
        allowed: &[],
        images: &["image", "mask"],
        list_output: true,
        extension: "png",
    },
    Family {
        model: "black-forest-labs/flux-schnell",
        official: true,
        version_id: "hidden",
        required: &["prompt"],
        allowed: &[],
        images: &[],
        list_output: true,
        extension: "png",
    },
    Family {
        model: "black-forest-labs/flux-dev",
        official: true,
        version_id: "hidden",
        required: &["prompt"],
        allowed: &[],
        images: &["image"],
        list_output: true,
        extension: "png",
    },
    Family {
        model: "black-forest-labs/flux-1.1-pro",
        official: true,
        version_id: "hidden",
        required: &["prompt"],
        allowed: &[],
        images: &["image_prompt"],
        list_output: false,
        extension: "png",
    },
    Family {
        model: "minimax/hailuo-02",
        official: true,
        version_id: "hidden",
        required: &["prompt", "first_frame_image"],
        allowed: &[("duration", &[6, 10])],
        images: &["first_frame_image", "last_frame_image"],
        list_output: false,
        extension: "mp4",
    },
    Family {
        model: "minimax/hailuo-2.3",
        official: true,
        version_id: "hidden",
        required: &["prompt", "first_frame_image"],
        allowed: &[("duration", &[6, 10])],
        images: &["first_frame_image"],
        list_output: false,
        extension: "mp4",
    },
    Family {
        model: "minimax/video-01",
        official: true,
        version_id: "hidden",
        required: &["prompt", "first_frame_image"],
        allowed: &[],
        images: &["first_frame_image", "subject_reference"],
        list_output: false,
        extension: "mp4",
    },
    Family {
        model: "kwaivgi/kling-v2.5-turbo-pro",
        official: true,
        version_id: "hidden",
        required: &["prompt", "start_image"],
        allowed: &[("duration", &[5, 10])],
        images: &["start_image", "end_image"],
        list_output: false,
        extension: "mp4",
    },
    Family {
        model: "meta/musicgen",
        official: false,
        version_id: "671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb",
        required: &["prompt"],
        allowed: &[],
        images: &["input_audio"],
        list_output: false,
        extension: "wav",
    },
];

/// How a prediction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Succeeds,
    /// It succeeds, and its output is deleted before anyone fetches it.
    SucceedsThenDeleted,
    Fails,
    /// Its deadline passed before it started.
    Aborted,
    /// It stays `processing` until told otherwise.
    Held,
}

#[derive(Debug)]
struct Stored {
    id: String,
    family: Family,
    input: Value,
    status: &'static str,
    ending: Ending,
    created_at: chrono::DateTime<Utc>,
    /// When the service stops it (`Cancel-After`).
    deadline: Option<chrono::DateTime<Utc>>,
    /// Its output was deleted.
    removed: bool,
}

#[derive(Default)]
struct State {
    predictions: Vec<Stored>,
    endings: VecDeque<Ending>,
    /// Faults for the next creates: a status to answer instead, after storing the prediction
    /// (a create that the service made but whose answer was lost), or before (refused).
    create_faults: VecDeque<Fault>,
    /// Requests for outputs answered 404.
    gone_served: usize,
    uploads: usize,
    media: Vec<(&'static str, Vec<u8>)>,
    counter: usize,
}

/// A fault injected into a create.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// The prediction is made, but the answer is this status (a 500, or a lost connection).
    MadeButAnswered(u16),
    /// A 429 before anything is made, with `retry-after` seconds.
    Throttled(u64),
    /// The prediction is made, and the answer is delayed this long.
    MadeSlowly(Duration),
    /// The input is refused: 422 "Input validation failed" for `duration`.
    Refused,
}

/// The fake service, on a local port.
pub struct FakeReplicate {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeReplicate {
    /// A fake that serves `media` (per output extension: png, mp4, wav) as outputs.
    pub async fn start(media: Vec<(&'static str, Vec<u8>)>) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            media,
            ..State::default()
        }));
        Mock::given(Everything)
            .respond_with(Responder {
                state: state.clone(),
                base: server.uri(),
            })
            .mount(&server)
            .await;
        Self { server, state }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// How the next predictions end (after that, they succeed).
    pub fn then_end(&self, endings: &[Ending]) {
        self.state.lock().unwrap().endings.extend(endings);
    }

    pub fn fault_next_create(&self, fault: Fault) {
        self.state.lock().unwrap().create_faults.push_back(fault);
    }

    /// Ends the held predictions as `ending`.
    pub fn release(&self, ending: Ending) {
        for p in &mut self.state.lock().unwrap().predictions {
            if p.ending == Ending::Held {
                p.ending = ending;
            }
        }
    }

    /// The service deletes the outputs of the predictions that have succeeded so far (as it
    /// does about an hour after each).
    pub fn delete_outputs(&self) {
        for p in &mut self.state.lock().unwrap().predictions {
            if p.status == "succeeded" {
                p.removed = true;
            }
        }
    }

    /// The statuses of the predictions made so far, oldest first.
    pub fn statuses(&self) -> Vec<&'static str> {
        let state = self.state.lock().unwrap();
        state.predictions.iter().map(|p| p.status).collect()
    }

    /// Predictions made so far.
    pub fn created(&self) -> usize {
        self.state.lock().unwrap().predictions.len()
    }

    /// The inputs of the predictions made so far.
    pub fn inputs(&self) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state.predictions.iter().map(|p| p.input.clone()).collect()
    }

    /// The inputs of the predictions of `model` (`owner/name`) made so far.
    pub fn inputs_of(&self, model: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        let of_model = state.predictions.iter().filter(|p| p.family.model == model);
        of_model.map(|p| p.input.clone()).collect()
    }

    pub fn uploads(&self) -> usize {
        self.state.lock().unwrap().uploads
    }

    /// Requests for deleted outputs.
    pub fn gone_served(&self) -> usize {
        self.state.lock().unwrap().gone_served
    }
}

struct Everything;

impl Match for Everything {
    fn matches(&self, _: &Request) -> bool {
        true
    }
}

struct Responder {
    state: Arc<Mutex<State>>,
    base: String,
}

fn problem(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/problem+json")
}

fn not_found() -> ResponseTemplate {
    problem(
        404,
        json!({"detail": "The requested resource could not be found.", "status": 404}),
    )
}

fn invalid(field: &str, kind: &str, description: &str) -> ResponseTemplate {
    problem(
        422,
        json!({
            "detail": format!("- {field}: {description}\n"),
            "status": 422,
            "title": "Input validation failed",
            "invalid_fields": [{"type": kind, "field": field, "description": description}]
        }),
    )
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_owned();
        let method = request.method.as_str();
        let mut state = self.state.lock().unwrap();
        if let Some(rest) = path.strip_prefix("/delivery/") {
            let id = rest.split('/').next().unwrap_or("");
            if state.predictions.iter().any(|p| p.id == id && p.removed) {
                state.gone_served += 1;
                return not_found();
            }
            let extension = rest.rsplit('.').next().unwrap_or("");
            let media = state.media.iter().find(|(e, _)| *e == extension);
            return media.map_or_else(not_found, |(_, bytes)| {
                ResponseTemplate::new(200).set_body_bytes(bytes.clone())
            });
        }
        let authorised = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer r8_"));
        if !authorised {
            return problem(
                401,
                json!({"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401}),
            );
        }
        match (method, path.as_str()) {
            ("POST", "/v1/predictions") => self.create(&mut state, request),
            ("POST", p) if p.starts_with("/v1/models/") => {
                let model = p
                    .trim_start_matches("/v1/models/")
                    .trim_end_matches("/predictions");
                match FAMILIES.iter().find(|f| f.model == model && f.official) {
                    Some(_) => problem(
                        501,
                        json!({"detail": "the fake serves creates at /v1/predictions"}),
                    ),
                    None => not_found(),
                }
            }
            ("GET", "/v1/predictions") => self.list(&state, request),
            ("GET", p) if p.starts_with("/v1/predictions/") => {
                let id = p.trim_start_matches("/v1/predictions/");
                let base = self.base.clone();
                match state.predictions.iter_mut().find(|s| s.id == id) {
                    Some(p) => {
                        advance(p);
                        ResponseTemplate::new(200).set_body_json(view(p, &base))
                    }
                    None => not_found(),
                }
            }
            ("POST", p) if p.starts_with("/v1/predictions/") && p.ends_with("/cancel") => {
                let id = p
                    .trim_start_matches("/v1/predictions/")
                    .trim_end_matches("/cancel");
                let base = self.base.clone();
                match state.predictions.iter_mut().find(|s| s.id == id) {
                    Some(p) => {
                        if !matches!(p.status, "succeeded" | "failed" | "canceled" | "aborted") {
                            p.status = "canceled";
                        }
                        ResponseTemplate::new(200).set_body_json(view(p, &base))
                    }
                    None => not_found(),
                }
            }
            ("POST", "/v1/files") => {
                let multipart = String::from_utf8_lossy(&request.body);
                if !multipart.contains("name=\"content\"") {
                    return invalid("content", "required", "content is required");
                }
                state.uploads += 1;
                let id = format!("file{}", state.uploads);
                let now = Utc::now();
                ResponseTemplate::new(201).set_body_json(json!({
                    "id": id,
                    "name": "first-frame.jpg",
                    "content_type": "image/jpeg",
                    "size": request.body.len(),
                    "etag": "x",
                    "checksums": {"sha256": "x", "md5": "x"},
                    "metadata": {},
                    "created_at": now,
                    "expires_at": now + chrono::Duration::hours(24),
                    "urls": {"get": format!("{}/v1/files/{id}", self.base)}
                }))
            }
            _ => not_found(),
        }
    }
}

impl Responder {
    fn create(&self, state: &mut State, request: &Request) -> ResponseTemplate {
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return problem(400, json!({"detail": "invalid JSON", "status": 400}));
        };
        let fields = body.as_object().cloned().unwrap_or_default();
        if let Some(extra) = fields.keys().find(|k| {
            ![
                "version",
                "input",
                "webhook",
                "webhook_events_filter",
                "stream",
            ]
            .contains(&k.as_str())
        }) {
            return invalid(
                "",
                "additional_property_not_allowed",
                &format!("Additional property {extra} is not allowed"),
            );
        }
        let version = fields.get("version").and_then(Value::as_str).unwrap_or("");
        let family = FAMILIES.iter().find(|f| {
            (f.official && version == f.model)
                || version == format!("{}:{}", f.model, f.version_id)
                || (!f.official && version == f.version_id)
        });
        let Some(family) = family else {
            return problem(
                422,
                json!({"title": "Invalid version or not permitted", "detail": "The specified version does not exist (or perhaps you don't have permission to use it?)", "status": 422}),
            );
        };
        let input = fields.get("input").cloned().unwrap_or(json!({}));
        for field in family.required {
            if input.get(field).is_none() {
                return invalid("input", "required", &format!("{field} is required"));
            }
        }
        for field in family.images {
            let uri = |v: &str| {
                ["https://", "http://", "data:"]
                    .iter()
                    .any(|p| v.starts_with(p))
            };
            if let Some(value) = input.get(field) {
                if !value.as_str().is_some_and(uri) {
                    return invalid(
                        &format!("input.{field}"),
                        "format",
                        &format!("input.{field}: Does not match format 'uri'"),
                    );
                }
            }
        }
        for (field, values) in family.allowed {
            if let Some(value) = input.get(field) {
                if !value.as_i64().is_some_and(|v| values.contains(&v)) {
                    let list: Vec<String> = values.iter().map(i64::to_string).collect();
                    return invalid(
                        &format!("input.{field}"),
                        "enum",
                        &format!(
                            "input.{field} must be one of the following: {}",
                            list.join(", ")
                        ),
                    );
                }
            }
        }
        let fault = state.create_faults.pop_front();
        if let Some(Fault::Refused) = fault {
            return invalid(
                "input.duration",
                "maximum",
                "input.duration must be less than or equal to 30",
            );
        }
        if let Some(Fault::Throttled(seconds)) = fault {
            return ResponseTemplate::new(429)
                .insert_header("retry-after", seconds.to_string().as_str())
                .set_body_json(
                    json!({"detail": "Request was throttled. Expected available in 1 second."}),
                );
        }
        state.counter += 1;
        let stored = Stored {
            id: format!("pred{:04}", state.counter),
            family: family.clone(),
            input,
            status: "starting",
            ending: state.endings.pop_front().unwrap_or(Ending::Succeeds),
            created_at: Utc::now(),
            deadline: request
                .headers
                .get("cancel-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_suffix('s')?.parse::<i64>().ok())
                .map(|seconds| Utc::now() + chrono::Duration::seconds(seconds)),
            removed: false,
        };
        let answer = ResponseTemplate::new(201).set_body_json(view(&stored, &self.base));
        state.predictions.push(stored);
        match fault {
            Some(Fault::MadeButAnswered(status)) => problem(
                status,
                json!({"detail": "Internal server error", "status": status}),
            ),
            Some(Fault::MadeSlowly(delay)) => answer.set_delay(delay),
            _ => answer,
        }
    }

    fn list(&self, state: &State, request: &Request) -> ResponseTemplate {
        let after = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "created_after")
            .and_then(|(_, v)| chrono::DateTime::parse_from_rfc3339(&v).ok());
        let results: Vec<Value> = state
            .predictions
            .iter()
            .rev()
            .filter(|p| after.is_none_or(|a| p.created_at >= a))
            .map(|p| view(p, &self.base))
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"previous": null, "next": null, "results": results}))
    }
}

/// One poll moves a prediction on: starting, processing, then its ending; past its deadline the
/// service stops it (aborted if it had not started, canceled if it had).
fn advance(p: &mut Stored) {
    if p.deadline.is_some_and(|d| Utc::now() > d) {
        p.status = match p.status {
            "starting" => "aborted",
            "processing" => "canceled",
            done => done,
        };
        return;
    }
    p.status = match (p.status, p.ending) {
        ("starting", Ending::Aborted) => "aborted",
        ("starting", _) => "processing",
        ("processing", Ending::Succeeds) => "succeeded",
        ("processing", Ending::SucceedsThenDeleted) => {
            p.removed = true;
            "succeeded"
        }
        ("processing", Ending::Fails) => "failed",
        ("processing", Ending::Aborted) => "aborted",
        (status, _) => status,
    };
}

/// A prediction as the service shows it.
fn view(p: &Stored, base: &str) -> Value {
    let deleted = p.removed;
    let url = format!("{base}/delivery/{}/output.{}", p.id, p.family.extension);
    let output = match (p.status, deleted) {
        ("succeeded", false) if p.family.list_output => json!([url]),
        ("succeeded", false) => json!(url),
        _ => Value::Null,
    };
    let done = matches!(p.status, "succeeded" | "failed" | "canceled" | "aborted");
    json!({
        "id": p.id,
        "model": p.family.model,
        "version": p.family.version_id,
        "input": if deleted { json!({}) } else { p.input.clone() },
        "logs": "",
        "output": output,
        "data_removed": deleted,
        "error": if p.status == "failed" { json!("CUDA out of memory") } else { Value::Null },
        "status": p.status,
        "source": "api",
        "created_at": p.created_at,
        "completed_at": if done { json!(Utc::now()) } else { Value::Null },
        "deadline": p.deadline,
        "urls": {
            "get": format!("{base}/v1/predictions/{}", p.id),
            "cancel": format!("{base}/v1/predictions/{}/cancel", p.id),
            "web": format!("https://replicate.com/p/{}", p.id),
        }
    })
}
