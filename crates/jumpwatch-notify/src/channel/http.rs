//! What the HTTP channels share: one rustls client, a POST whose outcome is classified into
//! [`SendError`]s (honouring `Retry-After`), and error messages that never carry the URL (a
//! webhook URL is a secret).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::SendError;

/// The longest a request may take (Standard Webhooks advises 15 to 30 seconds).
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// An HTTP client: rustls with the platform's verifier, no redirects (a redirect is a failure),
/// a timeout.
pub fn client() -> Result<reqwest::Client, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_platform_verifier()
        .map_err(|e| format!("TLS certificate verifier: {e}"))?
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.without_url().to_string())
}

/// The response to a successful POST.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status (2xx).
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

/// Reads `Retry-After`: seconds, or an HTTP date.
#[must_use]
pub fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// What a status means for delivery: `Ok` for 2xx, else the [`SendError`].
pub fn classify(
    status: u16,
    retry_after_header: Option<&str>,
    body: &str,
) -> Result<(), SendError> {
    let snippet: String = body.chars().take(200).collect();
    let message = if snippet.trim().is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {}", snippet.trim())
    };
    let after = retry_after_header.and_then(|v| retry_after(v, std::time::SystemTime::now()));
    match status {
        200..=299 => Ok(()),
        410 => Err(SendError::Gone { message }),
        408 | 425 | 429 | 500..=599 => Err(SendError::Retry { after, message }),
        _ => Err(SendError::Permanent { message }),
    }
}

/// POSTs `body` with `headers` to the secret `url`; 2xx is success, the rest is classified.
pub async fn post(
    client: &reqwest::Client,
    url: &SecretString,
    headers: &[(String, String)],
    content_type: &str,
    body: Vec<u8>,
) -> Result<Response, SendError> {
    let mut request = client
        .post(url.expose_secret())
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "failed"
        };
        SendError::retry(format!("the request {kind}: {}", e.without_url()))
    })?;
    let status = response.status().as_u16();
    let after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    classify(status, after.as_deref(), &body)?;
    Ok(Response { status, body })
}
