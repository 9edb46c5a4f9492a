//! The admin API under `/__sim/` (never part of JumpCloud's API): mutations, scenarios, faults,
//! statistics, reset and the clock. JSON in and out; no authentication (the simulator listens on
//! 127.0.0.1).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Shared, json_response, lock, message};
use crate::clock::rfc3339;
use crate::faults::Faults;
use crate::mutation::Mutation;
use crate::scenario::Scenario;

fn bad(text: &str) -> Response {
    message(StatusCode::BAD_REQUEST, text)
}

/// A batch of mutations: a bare array, or an object with the array and defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    mutations: Vec<Value>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    org: Option<String>,
}

/// `POST /__sim/mutations`.
pub(crate) async fn mutations(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return bad("the body is not valid JSON");
    };
    let batch = match value {
        Value::Array(mutations) => Batch { mutations, actor: None, org: None },
        Value::Object(_) => match serde_json::from_value::<Batch>(value) {
            Ok(batch) => batch,
            Err(error) => return bad(&format!("invalid batch: {error}")),
        },
        _ => {
            return bad(
                "the body must be an array of mutations or {\"mutations\": [...], \"actor\": ..., \"org\": ...}",
            );
        }
    };
    let mut parsed = Vec::with_capacity(batch.mutations.len());
    for (index, raw) in batch.mutations.into_iter().enumerate() {
        match serde_json::from_value::<Mutation>(raw) {
            Ok(m) => parsed.push(m),
            Err(error) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"message": format!("mutation {index}: {error}"), "index": index, "applied": []}),
                );
            }
        }
    }
    match shared.apply(&parsed, batch.actor.as_deref(), batch.org.as_deref()) {
        Ok(applied) => json_response(StatusCode::OK, &json!({"applied": applied})),
        Err((index, text, applied)) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": format!("mutation {index}: {text}"), "index": index, "applied": applied}),
        ),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioOptions {
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    org: Option<String>,
}

/// `POST /__sim/scenarios/{name}`.
pub(crate) async fn scenario(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(scenario) = name.parse::<Scenario>() else {
        return message(
            StatusCode::NOT_FOUND,
            &format!(
                "unknown scenario {name:?}; known: {}",
                Scenario::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
            ),
        );
    };
    let options = if body.iter().all(u8::is_ascii_whitespace) {
        ScenarioOptions::default()
    } else {
        match serde_json::from_slice::<ScenarioOptions>(&body) {
            Ok(options) => options,
            Err(error) => return bad(&format!("invalid options: {error}")),
        }
    };
    match shared.scenario(scenario, options.actor.as_deref(), options.org.as_deref()) {
        Ok(report) => {
            json_response(StatusCode::OK, &serde_json::to_value(report).unwrap_or(Value::Null))
        }
        Err(text) => bad(&text),
    }
}

/// `GET /__sim/faults`.
pub(crate) async fn get_faults(State(shared): State<Arc<Shared>>) -> Response {
    let faults = lock(&shared.faults).config.clone();
    json_response(StatusCode::OK, &serde_json::to_value(faults).unwrap_or(Value::Null))
}

/// `PUT /__sim/faults`: replaces the fault settings; omitted options are off.
pub(crate) async fn put_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let faults = match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => faults,
        Err(error) => return bad(&format!("invalid faults: {error}")),
    };
    match shared.set_faults(faults.clone()) {
        Ok(()) => {
            json_response(StatusCode::OK, &serde_json::to_value(faults).unwrap_or(Value::Null))
        }
        Err(text) => bad(&format!("invalid faults: {text}")),
    }
}

/// `GET /__sim/stats`.
pub(crate) async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let stats = lock(&shared.stats).clone();
    json_response(StatusCode::OK, &serde_json::to_value(stats).unwrap_or(Value::Null))
}

/// `POST /__sim/reset`.
pub(crate) async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    shared.reset();
    json_response(StatusCode::OK, &json!({"reset": true}))
}

/// `GET /__sim/clock`.
pub(crate) async fn clock(State(shared): State<Arc<Shared>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"now": rfc3339(shared.clock.now()), "server_now": rfc3339(shared.server_now()), "fixed": shared.clock.is_fixed()}),
    )
}

/// The most the clock moves in one step: ten years.
const MAX_ADVANCE_S: i64 = 10 * 366 * 86_400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    advance_s: i64,
}

/// `POST /__sim/clock` with `{"advance_s": n}`.
pub(crate) async fn advance_clock(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Advance>(&body) {
        Ok(Advance { advance_s }) if (0..=MAX_ADVANCE_S).contains(&advance_s) => {
            shared.clock.advance(chrono::Duration::seconds(advance_s));
            clock(State(shared)).await
        }
        Ok(_) => bad(&format!("advance_s must be between 0 and {MAX_ADVANCE_S} (ten years)")),
        Err(error) => {
            bad(&format!("invalid body: {error} (expected {{\"advance_s\": <seconds>}})"))
        }
    }
}

/// `GET /__sim/info`.
pub(crate) async fn info(State(shared): State<Arc<Shared>>) -> Response {
    let counts: Vec<Value> = {
        let world = shared.read();
        world
            .orgs
            .iter()
            .map(|org| {
                let kinds: serde_json::Map<String, Value> = jumpwatch_model::ResourceKind::ALL
                    .iter()
                    .map(|k| (k.name().to_owned(), json!(org.count(*k))))
                    .collect();
                json!({"id": org.id, "counts": kinds})
            })
            .collect()
    };
    json_response(
        StatusCode::OK,
        &json!({
            "seed": shared.config.seed,
            "size": shared.config.size.to_string(),
            "now": rfc3339(shared.clock.now()),
            "start": rfc3339(shared.clock.start()),
            "orgs": counts,
        }),
    )
}
