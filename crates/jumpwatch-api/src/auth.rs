//! Authentication: an administrator's API key (`x-api-key`), or an OAuth 2.0 service account
//! (client credentials; the token is fetched, cached and refreshed before it expires, and sent as
//! `Authorization: Bearer`). Secrets are `SecretString`s, exposed only where a header is built,
//! and those headers are marked sensitive.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::Error;
use crate::transport::Transport;

/// The token endpoint of JumpCloud's service accounts.
pub const DEFAULT_TOKEN_URL: &str = "https://admin-oauth.id.jumpcloud.com/oauth2/token";

/// How long before its expiry a token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// What the client authenticates with.
pub enum Credentials {
    /// An administrator's API key, sent as `x-api-key`.
    ApiKey(SecretString),
    /// A service account (OAuth 2.0 client credentials).
    ServiceAccount {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: SecretString,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey([redacted])"),
            Self::ServiceAccount { client_id, .. } => f
                .debug_struct("ServiceAccount")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

pub(crate) struct Token {
    value: SecretString,
    refresh_at: Instant,
}

/// Credentials in use, with the cached token of a service account.
pub(crate) enum Auth {
    ApiKey(SecretString),
    ServiceAccount {
        client_id: String,
        client_secret: SecretString,
        token_url: String,
        token: Mutex<Option<Token>>,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey([redacted])"),
            Self::ServiceAccount { client_id, token_url, .. } => f
                .debug_struct("ServiceAccount")
                .field("client_id", client_id)
                .field("token_url", token_url)
                .finish_non_exhaustive(),
        }
    }
}

fn sensitive(value: &str) -> Result<HeaderValue, Error> {
    let mut header = HeaderValue::from_str(value)
        .map_err(|_| Error::Config("a credential holds characters a header cannot carry".into()))?;
    header.set_sensitive(true);
    Ok(header)
}

impl Auth {
    pub(crate) fn new(credentials: Credentials, token_url: String) -> Self {
        match credentials {
            Credentials::ApiKey(key) => Self::ApiKey(key),
            Credentials::ServiceAccount { client_id, client_secret } => Self::ServiceAccount {
                client_id,
                client_secret,
                token_url,
                token: Mutex::new(None),
            },
        }
    }

    pub(crate) fn is_bearer(&self) -> bool {
        matches!(self, Self::ServiceAccount { .. })
    }

    /// Adds the credentials to a request's headers.
    pub(crate) async fn apply(
        &self,
        transport: &dyn Transport,
        headers: &mut HeaderMap,
    ) -> Result<(), Error> {
        match self {
            Self::ApiKey(key) => {
                headers.insert("x-api-key", sensitive(key.expose_secret())?);
            }
            Self::ServiceAccount { client_id, client_secret, token_url, token } => {
                let mut cached = token.lock().await;
                let fresh = cached.as_ref().is_some_and(|t| Instant::now() < t.refresh_at);
                if !fresh {
                    *cached =
                        Some(fetch_token(transport, client_id, client_secret, token_url).await?);
                }
                let value =
                    cached.as_ref().map(|t| t.value.expose_secret().to_owned()).unwrap_or_default();
                headers.insert(AUTHORIZATION, sensitive(&format!("Bearer {value}"))?);
            }
        }
        Ok(())
    }

    /// Forgets a token the API refused, so the next request fetches a new one.
    pub(crate) async fn invalidate(&self) {
        if let Self::ServiceAccount { token, .. } = self {
            *token.lock().await = None;
        }
    }
}

async fn fetch_token(
    transport: &dyn Transport,
    client_id: &str,
    client_secret: &SecretString,
    token_url: &str,
) -> Result<Token, Error> {
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{client_id}:{}", client_secret.expose_secret()));
    let request = http::Request::post(token_url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(http::header::ACCEPT, "application/json")
        .header(AUTHORIZATION, sensitive(&format!("Basic {basic}"))?)
        .body(Bytes::from_static(b"grant_type=client_credentials&scope=api"))
        .map_err(|e| Error::Config(format!("token URL: {e}")))?;
    let response =
        transport.send(request).await.map_err(|e| Error::Auth(format!("token request: {e}")))?;
    if !response.status().is_success() {
        let body = crate::error::ApiErrorBody::parse(response.body());
        return Err(Error::Auth(format!(
            "the token endpoint answered {}: {}",
            response.status().as_u16(),
            body.summary()
        )));
    }
    let body: Value = serde_json::from_slice(response.body()).map_err(|e| Error::Decode {
        kind: None,
        what: "a token response".into(),
        path: format!("line {} column {}", e.line(), e.column()),
        message: e.to_string(),
    })?;
    let Some(access_token) =
        body.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty())
    else {
        return Err(Error::Decode {
            kind: None,
            what: "a token response".into(),
            path: "$.access_token".into(),
            message: "missing".into(),
        });
    };
    // jc-cli assumes an hour when `expires_in` is missing.
    let lifetime = body.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
    let lifetime = Duration::from_secs(lifetime);
    let margin = REFRESH_MARGIN.min(lifetime / 2);
    Ok(Token {
        value: SecretString::from(access_token.to_owned()),
        refresh_at: Instant::now() + lifetime - margin,
    })
}
