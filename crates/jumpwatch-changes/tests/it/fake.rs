//! A small fake JumpCloud tenant behind a stub transport: the kinds' list endpoints, with
//! `limit`/`skip`, envelopes, totals, and failures on demand.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use jumpwatch_api::transport::StubTransport;
use jumpwatch_api::{Client, RetryPolicy, SecretString};
use jumpwatch_model::ResourceKind;
use jumpwatch_model::catalog::Envelope;
use serde_json::{Value, json};

/// Documents of one kind, with their parent's id for child kinds.
pub(crate) type Docs = Vec<(Option<String>, Value)>;

#[derive(Default)]
pub(crate) struct FakeTenant {
    /// Documents by kind.
    pub(crate) docs: Mutex<BTreeMap<ResourceKind, Docs>>,
    /// Kinds whose list answers this status.
    pub(crate) failing: Mutex<BTreeMap<ResourceKind, u16>>,
}

fn matches(template: &str, path: &str) -> Option<Option<String>> {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    if t.len() != p.len() {
        return None;
    }
    let mut parent = None;
    for (t, p) in t.iter().zip(&p) {
        if t.starts_with('{') {
            parent = Some((*p).to_owned());
        } else if t != p {
            return None;
        }
    }
    Some(parent)
}

impl FakeTenant {
    pub(crate) fn set(&self, kind: ResourceKind, docs: Vec<Value>) {
        self.docs.lock().unwrap().insert(kind, docs.into_iter().map(|d| (None, d)).collect());
    }

    pub(crate) fn set_children(&self, kind: ResourceKind, docs: Vec<(&str, Value)>) {
        self.docs
            .lock()
            .unwrap()
            .insert(kind, docs.into_iter().map(|(p, d)| (Some(p.to_owned()), d)).collect());
    }

    pub(crate) fn edit(
        &self,
        kind: ResourceKind,
        f: impl FnOnce(&mut Vec<(Option<String>, Value)>),
    ) {
        f(self.docs.lock().unwrap().entry(kind).or_default());
    }

    pub(crate) fn fail(&self, kind: ResourceKind, status: Option<u16>) {
        let mut failing = self.failing.lock().unwrap();
        match status {
            Some(status) => failing.insert(kind, status),
            None => failing.remove(&kind),
        };
    }

    pub(crate) fn client(self: &Arc<Self>) -> Client {
        let tenant = Arc::clone(self);
        let stub = StubTransport::new(move |request| {
            let path = request.uri().path().to_owned();
            let query: BTreeMap<String, String> =
                url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            let limit: usize = query.get("limit").and_then(|v| v.parse().ok()).unwrap_or(10);
            let skip: usize = query.get("skip").and_then(|v| v.parse().ok()).unwrap_or(0);
            let respond = |status: u16, headers: Vec<(&str, String)>, body: String| {
                let mut builder = http::Response::builder().status(status);
                for (k, v) in headers {
                    builder = builder.header(k, v);
                }
                Ok(builder.body(Bytes::from(body)).unwrap())
            };
            for kind in ResourceKind::ALL {
                let meta = kind.meta();
                let Some(parent) =
                    matches(&format!("{}{}", meta.api.base_path(), meta.list_path), &path)
                else {
                    continue;
                };
                if meta.query.iter().any(|(k, v)| query.get(*k).map(String::as_str) != Some(*v)) {
                    continue;
                }
                if let Some(status) = tenant.failing.lock().unwrap().get(kind) {
                    return respond(*status, vec![], r#"{"message":"Forbidden"}"#.to_owned());
                }
                let docs = tenant.docs.lock().unwrap();
                let all: Vec<&Value> = docs
                    .get(kind)
                    .into_iter()
                    .flatten()
                    .filter(|(p, _)| *p == parent)
                    .map(|(_, d)| d)
                    .collect();
                let page: Vec<&Value> = all.iter().skip(skip).take(limit).copied().collect();
                return match meta.envelope {
                    Envelope::V1 => respond(
                        200,
                        vec![],
                        json!({"totalCount": all.len(), "results": page}).to_string(),
                    ),
                    _ => respond(
                        200,
                        vec![("x-total-count", all.len().to_string())],
                        serde_json::to_string(&page).unwrap(),
                    ),
                };
            }
            respond(404, vec![], r#"{"message":"Not Found"}"#.to_owned())
        });
        Client::builder()
            .api_key(SecretString::from("fake"))
            .transport(Arc::new(stub))
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap()
    }
}

pub(crate) fn user(i: usize) -> Value {
    json!({"_id": format!("u{i:03}"), "username": format!("user{i}"), "email": format!("user{i}@example.com"), "sudo": false, "badLoginAttempts": 0})
}

pub(crate) fn system(i: usize) -> Value {
    json!({"_id": format!("s{i:03}"), "displayName": format!("host{i}"), "os": "Mac OS X", "lastContact": "2026-11-01T00:00:00Z", "remoteIP": "203.0.113.1", "fde": {"active": true}})
}

pub(crate) fn group(i: usize) -> Value {
    json!({"id": format!("g{i:03}"), "name": format!("group{i}"), "attributes": {"sudo": {"enabled": false}}})
}

pub(crate) fn member(user: usize) -> Value {
    json!({"to": {"id": format!("u{user:03}"), "type": "user"}})
}
