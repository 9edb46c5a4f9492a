//! The [`Transport`] seam: how requests reach JumpCloud. Requests and responses are plain `http`
//! types with the whole body in memory, so a test, a proxy or a recorder can stand in for the
//! network. [`ReqwestTransport`] (rustls) is the default; [`StubTransport`] answers from a function
//! and records what it was asked.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

/// A request as the client sends it. Credentials are in headers marked sensitive, so `Debug`
/// does not show them.
pub type HttpRequest = http::Request<Bytes>;

/// A response with its whole body.
pub type HttpResponse = http::Response<Bytes>;

/// A request that got no HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No response within the timeout.
    #[error("timed out")]
    Timeout,
    /// The connection could not be made.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The connection broke while the response was being read (a reset mid-body).
    #[error("the connection broke while reading the response: {0}")]
    Body(String),
    /// Anything else the transport reports.
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// Whether sending the request again may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Timeout | Self::Connect(_) | Self::Body(_))
    }
}

/// Sends HTTP requests. Implement it to route the client through something of your own.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Sends one request and reads the whole response.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// The default transport: reqwest over rustls (the ring provider and the platform's
/// certificate verifier), HTTP/1.1 and HTTP/2.
#[derive(Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    timeout: Duration,
}

impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl ReqwestTransport {
    /// A transport with a timeout for each request and one for connecting.
    pub fn new(timeout: Duration, connect_timeout: Duration) -> Result<Self, TransportError> {
        use rustls_platform_verifier::BuilderVerifierExt;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TransportError::Other(format!("TLS configuration: {e}")))?
            .with_platform_verifier()
            .map_err(|e| TransportError::Other(format!("TLS certificate verifier: {e}")))?
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TransportError::Other(e.without_url().to_string()))?;
        Ok(Self { client, timeout })
    }
}

fn classify(error: &reqwest::Error) -> TransportError {
    // reqwest's messages name the URL; ours are built without it (paths are in our own errors).
    let text = format!("{}", SourceChain(error));
    if error.is_timeout() {
        TransportError::Timeout
    } else if error.is_connect() {
        TransportError::Connect(text)
    } else if error.is_body() || error.is_decode() || error.is_request() {
        TransportError::Body(text)
    } else {
        TransportError::Other(text)
    }
}

/// An error and its sources, without the URL reqwest adds.
struct SourceChain<'a>(&'a reqwest::Error);

impl fmt::Display for SourceChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut source = std::error::Error::source(self.0);
        let mut first = true;
        while let Some(error) = source {
            if !first {
                f.write_str(": ")?;
            }
            write!(f, "{error}")?;
            first = false;
            source = error.source();
        }
        if first {
            f.write_str("request failed")?;
        }
        Ok(())
    }
}

#[async_trait]
impl Transport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let response = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let mut builder = http::Response::builder().status(response.status());
        if let Some(headers) = builder.headers_mut() {
            *headers = response.headers().clone();
        }
        let body = response.bytes().await.map_err(|e| classify(&e))?;
        builder.body(body).map_err(|e| TransportError::Other(e.to_string()))
    }
}

type Handler = dyn Fn(&HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync;

/// A transport that answers from a function and records every request: the test double of the
/// seam.
///
/// ```
/// use jumpwatch_api::transport::{StubTransport, Transport};
/// # tokio_test();
/// # fn tokio_test() {
/// let stub = StubTransport::new(|_request| {
///     Ok(http::Response::builder().status(200).body(bytes::Bytes::from_static(b"[]")).unwrap())
/// });
/// # }
/// ```
#[derive(Clone)]
pub struct StubTransport {
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<HttpRequest>>>,
}

impl fmt::Debug for StubTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StubTransport").field("requests", &self.requests().len()).finish()
    }
}

impl StubTransport {
    /// A stub that answers each request with `handler`.
    pub fn new(
        handler: impl Fn(&HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync + 'static,
    ) -> Self {
        Self { handler: Arc::new(handler), requests: Arc::default() }
    }

    /// The requests received so far.
    #[must_use]
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Transport for StubTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let response = (self.handler)(&request);
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(request);
        }
        response
    }
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Arc<T> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(request).await
    }
}
