//! Helpers: a simulator with a fixed clock, and a plain HTTP client.

use std::sync::Once;

use jumpwatch_sim::{Simulator, SimulatorBuilder, Size};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The clock of every test simulator.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    jumpwatch_sim::fixtures::now()
}

/// A small simulator with a fixed clock.
pub(crate) fn builder() -> SimulatorBuilder {
    Simulator::builder().seed(42).size(Size::Small).now(now())
}

pub(crate) async fn sim() -> Simulator {
    builder().start().await.unwrap()
}

/// A plain HTTP client (reqwest without TLS; plain http to 127.0.0.1).
pub(crate) fn http() -> reqwest::Client {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A response read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn total(&self) -> u64 {
        self.header("x-total-count").and_then(|v| v.parse().ok()).unwrap()
    }

    pub(crate) fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().to_owned()
    }
}

/// A client of one simulator.
pub(crate) struct Api<'a> {
    pub(crate) sim: &'a Simulator,
    pub(crate) http: reqwest::Client,
    pub(crate) org: Option<String>,
}

impl<'a> Api<'a> {
    pub(crate) fn new(sim: &'a Simulator) -> Self {
        Self { sim, http: http(), org: None }
    }

    pub(crate) fn with_org(sim: &'a Simulator, org: &str) -> Self {
        Self { sim, http: http(), org: Some(org.to_owned()) }
    }

    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap().to_vec();
        Reply { status, headers, body }
    }

    /// GET with the API key (and the organization, if set).
    pub(crate) async fn get(&self, path: &str) -> Reply {
        let mut request = self
            .http
            .get(format!("{}{path}", self.sim.base_url()))
            .header("x-api-key", self.sim.api_key());
        if let Some(org) = &self.org {
            request = request.header("x-org-id", org);
        }
        self.send(request).await
    }

    /// GET that must succeed; the JSON body.
    pub(crate) async fn ok(&self, path: &str) -> Value {
        let reply = self.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", String::from_utf8_lossy(&reply.body));
        reply.json()
    }

    /// POST JSON with the API key.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Reply {
        let mut request = self
            .http
            .post(format!("{}{path}", self.sim.base_url()))
            .header("x-api-key", self.sim.api_key())
            .json(body);
        if let Some(org) = &self.org {
            request = request.header("x-org-id", org);
        }
        self.send(request).await
    }

    /// A request to the admin API.
    pub(crate) async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}/__sim{path}", self.sim.base_url()));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// Every item of a list, paging with `skip` at `limit=100`.
    pub(crate) async fn all(&self, path: &str) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        loop {
            let page = self.ok(&format!("{path}{separator}limit=100&skip={}", items.len())).await;
            let page = match page {
                Value::Array(items) => items,
                Value::Object(mut object) => match object.remove("results") {
                    Some(Value::Array(items)) => items,
                    _ => panic!("{path}: no results"),
                },
                other => panic!("{path}: {other}"),
            };
            let full = page.len() == 100;
            items.extend(page);
            if !full {
                return items;
            }
        }
    }
}
