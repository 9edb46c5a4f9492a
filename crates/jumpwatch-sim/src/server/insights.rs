//! `POST /insights/directory/v1/events`: Directory Insights with `search_after` paging and its
//! `X-` headers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

use super::auth::{OrgSelection, authenticate, select_orgs};
use super::{Shared, json_bytes, message};
use crate::events::{parse_query, run};

pub(crate) async fn events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = authenticate(&shared, &headers) {
        return response;
    }
    let selection = match select_orgs(&shared, &headers, false, true) {
        Ok(selection) => selection,
        Err(response) => return response,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return message(StatusCode::BAD_REQUEST, "Bad Request: the body is not valid JSON");
    };
    let query = match parse_query(&body, shared.server_now()) {
        Ok(query) => query,
        Err(text) => return message(StatusCode::BAD_REQUEST, &text),
    };
    let (items, last) = {
        let world = shared.read();
        let indices: Vec<usize> = match selection {
            OrgSelection::One(i) => vec![i],
            OrgSelection::Many(v) => v,
            OrgSelection::All => (0..world.orgs.len()).collect(),
        };
        let logs: Vec<_> =
            indices.iter().filter_map(|&i| world.orgs.get(i)).map(|o| &o.events).collect();
        run(&logs, &query)
    };
    let count = items.len();
    let mut body = Vec::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.push(b']');
    let mut response = json_bytes(StatusCode::OK, body);
    let search_after = last.unwrap_or_else(|| query.search_after_json());
    let headers = response.headers_mut();
    headers.insert("X-Result-Count", HeaderValue::from(count));
    headers.insert("X-Limit", HeaderValue::from(query.limit));
    headers
        .insert("X-Sort", HeaderValue::from_static(if query.descending { "DESC" } else { "ASC" }));
    if let Ok(value) = HeaderValue::from_str(&search_after.to_string()) {
        headers.insert("X-Search_after", value);
    }
    if let Ok(value) = HeaderValue::from_str(&shared.request_id()) {
        headers.insert("X-Request-Id", value);
    }
    response
}
