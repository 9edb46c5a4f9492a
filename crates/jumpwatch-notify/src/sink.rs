//! [`WebhookSink`]: a webhook receiver on 127.0.0.1 that checks Standard Webhooks signatures and
//! keeps what arrives — for the demo, for our tests, and for yours (feature `sink`).
//!
//! It can be told to fail: answer the next requests with a status (`503`, `429` with a
//! `Retry-After`, `410`...), or fail a share of them at random, to see retries and dead letters
//! happen. It can also hold its answers ([`WebhookSink::hold`]): a request arrives and is
//! recorded, but its response waits — to kill a sender between sending and hearing back.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use jumpwatch_notify::sink::WebhookSink;
//! let sink = WebhookSink::start(None).await?;
//! // ... configure a webhook receiver with url = sink.url() ...
//! for delivery in sink.deliveries() {
//!     println!("{} {}", delivery.id, delivery.body["headline"]);
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::channel::webhook::{SigningSecret, verify};

/// One request the sink accepted: signed with its secret (when it has one), and not failed on
/// purpose. It is answered with a 200 at once, or, while the sink [holds](WebhookSink::hold)
/// its answers, when the hold ends.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Delivery {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// Whether the signature checked out (always false without a secret).
    pub verified: bool,
    /// The body, parsed (`Value::Null` when it is not JSON).
    pub body: Value,
    /// When it arrived, since the sink started.
    pub at: Duration,
    /// Whether the sink answered it (200). False while its answer is held, and for good when the
    /// sender hung up before the hold ended: the sender never heard that it was delivered.
    pub answered: bool,
}

#[derive(Debug, Default)]
struct Behaviour {
    /// Statuses to answer the next requests with (and a `Retry-After`, in seconds).
    script: VecDeque<(u16, Option<u64>)>,
    /// The share of requests to fail with 503 at random.
    failure_rate: f64,
}

#[derive(Debug)]
struct Shared {
    secret: Option<SigningSecret>,
    deliveries: Mutex<Vec<Delivery>>,
    attempts: Mutex<usize>,
    behaviour: Mutex<Behaviour>,
    started: tokio::time::Instant,
    arrived: tokio::sync::Notify,
    /// Whether answers are held.
    hold: tokio::sync::watch::Sender<bool>,
}

/// A local webhook receiver.
#[derive(Debug)]
pub struct WebhookSink {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Ok(mut attempts) = shared.attempts.lock() {
        *attempts += 1;
    }
    let scripted = shared.behaviour.lock().ok().and_then(|mut b| {
        b.script.pop_front().or_else(|| (fastrand::f64() < b.failure_rate).then_some((503, None)))
    });
    if let Some((status, retry_after)) = scripted {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response = (status, "scripted failure").into_response();
        if let Some(seconds) = retry_after.and_then(|s| s.to_string().parse().ok()) {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds);
        }
        return response;
    }
    let header =
        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (id, timestamp, signature) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let verified = shared.secret.as_ref().is_some_and(|secret| {
        verify(secret, &id, &timestamp, &signature, &body, chrono::Utc::now().timestamp()).is_ok()
    });
    if shared.secret.is_some() && !verified {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let delivery = Delivery {
        id,
        timestamp,
        verified,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: shared.started.elapsed(),
        answered: false,
    };
    let index = shared.deliveries.lock().ok().map(|mut deliveries| {
        deliveries.push(delivery);
        deliveries.len() - 1
    });
    shared.arrived.notify_waiters();
    // While answers are held, wait for the hold to end. When the sender hangs up first, the
    // server drops this future here, and the delivery stays unanswered.
    let _ = shared.hold.subscribe().wait_for(|held| !held).await;
    if let (Some(index), Ok(mut deliveries)) = (index, shared.deliveries.lock())
        && let Some(delivery) = deliveries.get_mut(index)
    {
        delivery.answered = true;
    }
    (StatusCode::OK, "ok").into_response()
}

impl WebhookSink {
    /// Starts a sink on 127.0.0.1 (a free port); with a secret, it refuses (401) what is not
    /// signed with it.
    pub async fn start(secret: Option<SigningSecret>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            secret,
            deliveries: Mutex::new(Vec::new()),
            attempts: Mutex::new(0),
            behaviour: Mutex::new(Behaviour::default()),
            started: tokio::time::Instant::now(),
            arrived: tokio::sync::Notify::new(),
            hold: tokio::sync::watch::Sender::new(false),
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { address, shared, task })
    }

    /// The URL to configure (`http://127.0.0.1:PORT/hook`).
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    /// The requests accepted, in order of arrival — answered or not (see
    /// [`Delivery::answered`]). A retry of the same notification is a new delivery with the
    /// same `id`.
    #[must_use]
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.deliveries.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Every request, failed ones included.
    #[must_use]
    pub fn attempts(&self) -> usize {
        self.shared.attempts.lock().map_or(0, |a| *a)
    }

    /// Answers the next requests with these statuses (and `Retry-After` seconds), in order.
    pub fn fail_next(&self, statuses: impl IntoIterator<Item = (u16, Option<u64>)>) {
        if let Ok(mut behaviour) = self.shared.behaviour.lock() {
            behaviour.script.extend(statuses);
        }
    }

    /// Fails this share of requests (0 to 1) with 503, at random.
    pub fn fail_at_random(&self, rate: f64) {
        if let Ok(mut behaviour) = self.shared.behaviour.lock() {
            behaviour.failure_rate = rate.clamp(0.0, 1.0);
        }
    }

    /// Holds the answers (`true`) or stops holding them (`false`, the default). While held, each
    /// request the sink accepts is recorded in [`deliveries`](Self::deliveries) at once, and its
    /// answer waits until the hold ends; a sender that hangs up (or is killed) meanwhile is never
    /// answered. Ending the hold answers those still waiting. Failures asked for with
    /// [`fail_next`](Self::fail_next) and [`fail_at_random`](Self::fail_at_random) are answered
    /// at once, held or not.
    pub fn hold(&self, on: bool) {
        self.shared.hold.send_replace(on);
    }

    /// Waits until at least `count` deliveries arrived (answered or not), or `timeout` passed;
    /// returns how many did.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let now = self.deliveries().len();
            if now >= count {
                return now;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.deliveries().len();
            }
        }
    }
}
