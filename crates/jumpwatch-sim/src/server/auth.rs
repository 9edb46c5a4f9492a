//! Authentication (`x-api-key`, or a bearer token from the OAuth client-credentials endpoint) and
//! organization selection (`x-org-id`), with JumpCloud's error bodies.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use serde_json::json;

use super::{Shared, json_response, lock, message, valid_org_id};
use crate::ids::hex;

/// The 403 for `x-org-id` on a route that refuses it.
pub(crate) fn org_header_refused() -> Response {
    let text = "Forbidden: organization selection not allowed via header";
    json_response(StatusCode::FORBIDDEN, &json!({"message": text, "error": text}))
}

/// Checks the credentials of an API request.
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    if let Some(key) = headers.get("x-api-key")
        && key.as_bytes() == shared.config.api_key.as_bytes()
    {
        return Ok(());
    }
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
    {
        let now = shared.server_now();
        if lock(&shared.tokens).get(token.trim()).is_some_and(|expires| *expires > now) {
            return Ok(());
        }
    }
    Err(message(StatusCode::UNAUTHORIZED, "Unauthorized"))
}

/// The organizations a request reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OrgSelection {
    /// One organization, by index.
    One(usize),
    /// Several (Directory Insights with repeated `x-org-id`).
    Many(Vec<usize>),
    /// Every organization of the key (routes that refuse `x-org-id`).
    All,
}

fn org_ids(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("x-org-id")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Applies JumpCloud's `x-org-id` rules: refused where the route refuses it (403), required with
/// a key that spans several organizations (401), and checked against the key's organizations.
pub(crate) fn select_orgs(
    shared: &Shared,
    headers: &HeaderMap,
    refuses: bool,
    several: bool,
) -> Result<OrgSelection, Response> {
    let ids = org_ids(headers);
    if refuses {
        return if ids.is_empty() { Ok(OrgSelection::All) } else { Err(org_header_refused()) };
    }
    if ids.is_empty() {
        if shared.multi_tenant() {
            return Err(message(
                StatusCode::UNAUTHORIZED,
                "Unauthorized: no organization selected",
            ));
        }
        return Ok(OrgSelection::One(0));
    }
    if ids.len() > 1 && !several {
        return Err(message(
            StatusCode::BAD_REQUEST,
            "Bad Request: only one x-org-id may be given",
        ));
    }
    let mut indices = Vec::new();
    for id in &ids {
        if !valid_org_id(id) {
            return Err(message(StatusCode::BAD_REQUEST, "Bad Request: malformed x-org-id"));
        }
        let Some(index) = shared.org_index(id) else {
            return Err(message(StatusCode::NOT_FOUND, "Not Found: organization not found"));
        };
        indices.push(index);
    }
    Ok(if indices.len() == 1 { OrgSelection::One(indices[0]) } else { OrgSelection::Many(indices) })
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response =
        json_response(status, &json!({"error": error, "error_description": description}));
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"oauth\""));
    }
    response
}

/// `POST /oauth2/token`: the client-credentials grant of JumpCloud service accounts.
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> =
        url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v.trim()).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.split_once(':').map(|(id, secret)| (id.to_owned(), secret.to_owned())));
    let credentials = basic.or_else(|| field("client_id").zip(field("client_secret")));
    let Some((id, secret)) = credentials else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication is required (HTTP Basic)",
        );
    };
    if id != shared.config.client_id || secret != shared.config.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    match field("grant_type").as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            );
        }
    }
    let token = format!("jcsim_{}", hex(&mut lock(&shared.token_rng), 24));
    let expires = shared.server_now() + chrono::Duration::seconds(3_600);
    lock(&shared.tokens).insert(token.clone(), expires);
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3_600,
            "scope": field("scope").unwrap_or_else(|| "api".into()),
        }),
    )
}
