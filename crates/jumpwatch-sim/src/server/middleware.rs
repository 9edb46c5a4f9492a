//! The layers around every route: fault injection (API routes only) and observation (the `Date`
//! header from the simulator's clock, and statistics).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::{Shared, lock, message};
use crate::faults::{Plan, Refusal};
use crate::ids::hash_bytes;

/// The number of body bytes actually sent, when it differs from the body's length.
#[derive(Debug, Clone, Copy)]
struct BytesSent(u64);

/// Largest request or response body the fault layer reads.
const MAX_BODY: usize = 256 * 1024 * 1024;

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/api" || path.starts_with("/insights/")
}

/// Injects the faults planned for each API request.
pub(crate) async fn faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if !is_api(request.uri().path()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return message(StatusCode::BAD_REQUEST, "Bad Request: the body could not be read");
    };
    let mut key = format!("{} {}", parts.method, parts.uri);
    if !body.is_empty() {
        key.push_str(&format!(" {:016x}", hash_bytes(&body)));
    }
    let plan = lock(&shared.faults).plan(&key);
    if !plan.latency.is_zero() {
        lock(&shared.stats).faults.delayed += 1;
        tokio::time::sleep(plan.latency).await;
    }
    if let Some(refusal) = plan.refusal {
        return refuse(&shared, refusal);
    }
    parts.extensions.insert(plan);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if response.status() != StatusCode::OK || !(plan.reset || plan.truncate) {
        return response;
    }
    break_body(&shared, &plan, response).await
}

fn refuse(shared: &Shared, refusal: Refusal) -> Response {
    let too_many = |retry_after: Option<u64>| {
        let mut response = message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    };
    let mut stats = lock(&shared.stats);
    match refusal {
        Refusal::RateLimited { retry_after } => {
            stats.faults.rate_limited += 1;
            too_many(retry_after)
        }
        Refusal::Burst { retry_after } => {
            stats.faults.burst_429 += 1;
            too_many(retry_after)
        }
        Refusal::ServerError(code) => {
            stats.faults.server_errors += 1;
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            match code {
                // A gateway in front of the API answers in HTML.
                502 | 504 => {
                    let reason = status.canonical_reason().unwrap_or("Error");
                    let html = format!(
                        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
                    );
                    let mut response = (status, html).into_response();
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
                    response
                }
                503 => message(status, "Service Unavailable"),
                _ => message(status, "Internal Server Error"),
            }
        }
    }
}

/// Cuts the body short (truncation) or resets the connection half-way through it.
async fn break_body(shared: &Shared, plan: &Plan, response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    if bytes.len() < 2 {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let cut = bytes.len() / 2;
    let head = bytes.slice(..cut);
    if plan.reset {
        lock(&shared.stats).faults.resets += 1;
        // The headers promise the whole body; the connection dies after half of it.
        parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(head),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected connection reset",
            )),
        ];
        parts.extensions.insert(BytesSent(cut as u64));
        return Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)));
    }
    lock(&shared.stats).faults.truncated += 1;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(head))
}

/// Sets the `Date` header from the simulator's clock and records statistics.
pub(crate) async fn observe(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let mut response = next.run(request).await;
    let now = shared.server_now();
    let time: SystemTime =
        UNIX_EPOCH + Duration::from_secs(u64::try_from(now.timestamp()).unwrap_or(0));
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(time)) {
        response.headers_mut().insert(header::DATE, date);
    }
    if path.starts_with("/__sim") {
        return response;
    }
    let label = match shared.routes.resolve(&path) {
        Some(matched) => format!("{method} {}", matched.route.label.trim_start_matches("GET ")),
        None if path == "/insights/directory/v1/events" || path == "/oauth2/token" => {
            format!("{method} {path}")
        }
        None => format!("{method} (no route)"),
    };
    let bytes = response
        .extensions()
        .get::<BytesSent>()
        .map(|b| b.0)
        .or_else(|| axum::body::HttpBody::size_hint(response.body()).exact())
        .unwrap_or(0);
    lock(&shared.stats).record(&label, response.status().as_u16(), bytes);
    response
}
