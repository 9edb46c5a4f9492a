//! [`Client`] and [`ClientBuilder`]: where JumpCloud is, who we are, and how hard we may push.
//! Every request goes through [`Client::execute`]: credentials, `x-org-id` where the route accepts
//! it, the client-wide rate limit and concurrency limit, retries, and counters.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method};
use jumpwatch_model::{Resource, ResourceId, ResourceKind, TypedResource};
use secrecy::SecretString;
use tracing::{Instrument, debug, warn};

use crate::auth::{Auth, Credentials, DEFAULT_TOKEN_URL};
use crate::error::{ApiError, ApiErrorBody};
use crate::limiter::{AdaptiveConcurrency, LearnedRate, RateLimit};
use crate::retry::{RetryPolicy, full_jitter, parse_retry_after, retryable_status};
use crate::transport::{HttpResponse, ReqwestTransport, Transport};
use crate::{Error, ListRequest};

/// A JumpCloud region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Region {
    /// The United States (`console.jumpcloud.com`).
    #[default]
    Us,
    /// The European Union (`console.eu.jumpcloud.com`).
    Eu,
    /// India (`console.in.jumpcloud.com`).
    In,
}

impl Region {
    /// The origin of the console API (`/api`, `/api/v2`).
    #[must_use]
    pub const fn console_origin(self) -> &'static str {
        match self {
            Self::Us => "https://console.jumpcloud.com",
            Self::Eu => "https://console.eu.jumpcloud.com",
            Self::In => "https://console.in.jumpcloud.com",
        }
    }

    /// The origin of the Directory Insights API (`/insights/directory/v1`).
    #[must_use]
    pub const fn insights_origin(self) -> &'static str {
        match self {
            Self::Us => "https://api.jumpcloud.com",
            Self::Eu => "https://api.eu.jumpcloud.com",
            Self::In => "https://api.in.jumpcloud.com",
        }
    }
}

impl std::str::FromStr for Region {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "us" => Ok(Self::Us),
            "eu" => Ok(Self::Eu),
            "in" => Ok(Self::In),
            other => Err(Error::Config(format!("unknown region {other:?}: expected us, eu or in"))),
        }
    }
}

/// Routes that refuse `x-org-id` (JumpCloud answers 403), besides catalog kinds marked so.
const NO_ORG_HEADER: &[&str] = &[
    "/api/organizations",
    "/api/search/organizations",
    "/api/users",
    "/api/v2/organizations",
    "/api/v2/administrators",
    "/api/v2/providers",
    "/api/v2/integrations",
];

/// Whether a request path may carry `x-org-id`.
#[must_use]
pub fn accepts_org_header(path: &str) -> bool {
    !NO_ORG_HEADER.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
    })
}

/// Counters of a client's traffic, since it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Requests sent, retries included.
    pub requests: u64,
    /// Requests sent again after a failure.
    pub retries: u64,
    /// 429 responses received.
    pub throttled: u64,
    /// Response bytes received.
    pub bytes: u64,
    /// List items received.
    pub items: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    bytes: AtomicU64,
    pub(crate) items: AtomicU64,
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host {
    Console,
    Insights,
}

/// One request to make, before credentials.
#[derive(Debug, Clone)]
pub(crate) struct RequestSpec {
    pub(crate) method: Method,
    pub(crate) host: Host,
    /// The path from the origin (`/api/systemusers`).
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Option<Bytes>,
    /// The route takes `x-org-id`.
    pub(crate) org_header: bool,
    /// Extra headers (Directory Insights may repeat `x-org-id`).
    pub(crate) headers: HeaderMap,
    /// Sending it twice is harmless (reads, including Directory Insights queries).
    pub(crate) idempotent: bool,
}

impl RequestSpec {
    pub(crate) fn get(path: String) -> Self {
        Self {
            method: Method::GET,
            host: Host::Console,
            org_header: accepts_org_header(&path),
            path,
            query: Vec::new(),
            body: None,
            headers: HeaderMap::new(),
            idempotent: true,
        }
    }
}

struct Inner {
    transport: Arc<dyn Transport>,
    auth: Auth,
    org_id: Option<HeaderValue>,
    console_origin: String,
    insights_origin: String,
    user_agent: HeaderValue,
    retry: RetryPolicy,
    rate_limit: Option<RateLimit>,
    concurrency: AdaptiveConcurrency,
    learned: LearnedRate,
    max_concurrency: usize,
    counters: Counters,
}

/// A JumpCloud API client. Cheap to clone; clones share the limits and counters.
///
/// ```no_run
/// # async fn example() -> Result<(), jumpwatch_api::Error> {
/// use futures::TryStreamExt;
/// use jumpwatch_api::Client;
/// use jumpwatch_model::ResourceKind;
///
/// let client = Client::builder().api_key_from_env()?.concurrency(8).build()?;
/// let users = client.list(ResourceKind::User).collect().await?;
/// println!("{} users", users.resources.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("auth", &self.inner.auth)
            .field("org_id", &self.inner.org_id.as_ref().map(|_| "[set]"))
            .field("console_origin", &self.inner.console_origin)
            .field("insights_origin", &self.inner.insights_origin)
            .field("retry", &self.inner.retry)
            .field("concurrency", &self.inner.max_concurrency)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
#[must_use]
pub struct ClientBuilder {
    credentials: Option<Credentials>,
    org_id: Option<String>,
    region: Region,
    base_url: Option<String>,
    token_url: Option<String>,
    user_agent: String,
    timeout: Duration,
    connect_timeout: Duration,
    concurrency: usize,
    rate_limit: Option<NonZeroU32>,
    retry: RetryPolicy,
    transport: Option<Arc<dyn Transport>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .field("base_url", &self.base_url)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            credentials: None,
            org_id: None,
            region: Region::Us,
            base_url: None,
            token_url: None,
            user_agent: format!("jumpwatch/{}", env!("CARGO_PKG_VERSION")),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            concurrency: 8,
            rate_limit: None,
            retry: RetryPolicy::default(),
            transport: None,
        }
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl ClientBuilder {
    /// Authenticates with an administrator's API key.
    pub fn api_key(mut self, key: SecretString) -> Self {
        self.credentials = Some(Credentials::ApiKey(key));
        self
    }

    /// Authenticates with the API key in `JUMPCLOUD_API_KEY`.
    pub fn api_key_from_env(self) -> Result<Self, Error> {
        let key = env_var("JUMPCLOUD_API_KEY")
            .ok_or_else(|| Error::Config("JUMPCLOUD_API_KEY is not set".into()))?;
        Ok(self.api_key(SecretString::from(key)))
    }

    /// Authenticates as a service account (OAuth 2.0 client credentials).
    pub fn service_account(
        mut self,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Self {
        self.credentials =
            Some(Credentials::ServiceAccount { client_id: client_id.into(), client_secret });
        self
    }

    /// The token endpoint of service accounts (default: JumpCloud's, or `{base_url}/oauth2/token`
    /// with an explicit base URL).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The organization to act on (`x-org-id`), for administrators of several.
    pub fn org_id(mut self, org_id: impl Into<String>) -> Self {
        self.org_id = Some(org_id.into());
        self
    }

    /// The organization from `JUMPCLOUD_ORG_ID`, if set.
    pub fn org_id_from_env(mut self) -> Self {
        if let Some(org) = env_var("JUMPCLOUD_ORG_ID") {
            self.org_id = Some(org);
        }
        self
    }

    /// The region (default: `us`).
    pub fn region(mut self, region: Region) -> Self {
        self.region = region;
        self
    }

    /// One origin serving `/api`, `/api/v2` and `/insights/directory/v1` (the simulator, a proxy).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// The timeout of one request (default: 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The timeout of connecting (default: 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The most requests in flight at once across the client (default: 8). The client lowers it
    /// when the API answers 429 and raises it back slowly.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// At most `per_second` requests a second across the client (default: no limit).
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = NonZeroU32::new(per_second);
        self
    }

    /// How failed requests are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Sends requests through `transport` instead of reqwest.
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let credentials = self.credentials.ok_or_else(|| {
            Error::Config(
                "no credentials: set an API key (JUMPCLOUD_API_KEY) or a service account".into(),
            )
        })?;
        let (console_origin, insights_origin) = match &self.base_url {
            Some(url) => {
                let parsed = url::Url::parse(url)
                    .map_err(|e| Error::Config(format!("base URL {url:?}: {e}")))?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                    return Err(Error::Config(format!(
                        "base URL {url:?}: expected http(s)://host[:port]"
                    )));
                }
                let origin = url.trim_end_matches('/').to_owned();
                (origin.clone(), origin)
            }
            None => {
                (self.region.console_origin().to_owned(), self.region.insights_origin().to_owned())
            }
        };
        let token_url = self.token_url.unwrap_or_else(|| match &self.base_url {
            Some(_) => format!("{console_origin}/oauth2/token"),
            None => DEFAULT_TOKEN_URL.to_owned(),
        });
        let org_id = match self.org_id {
            Some(org) => Some(HeaderValue::from_str(org.trim()).map_err(|_| {
                Error::Config("the org id holds characters a header cannot carry".into())
            })?),
            None => None,
        };
        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            Error::Config("the user agent holds characters a header cannot carry".into())
        })?;
        let transport: Arc<dyn Transport> = match self.transport {
            Some(t) => t,
            None => Arc::new(
                ReqwestTransport::new(self.timeout, self.connect_timeout)
                    .map_err(|e| Error::Config(format!("HTTP client: {e}")))?,
            ),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                auth: Auth::new(credentials, token_url),
                org_id,
                console_origin,
                insights_origin,
                user_agent,
                retry: self.retry,
                rate_limit: self.rate_limit.map(RateLimit::per_second),
                concurrency: AdaptiveConcurrency::new(self.concurrency),
                learned: LearnedRate::new(),
                max_concurrency: self.concurrency,
                counters: Counters::default(),
            }),
        })
    }
}

impl Client {
    /// A builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client from the environment: `JUMPCLOUD_API_KEY`, and `JUMPCLOUD_ORG_ID` if set.
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().api_key_from_env()?.org_id_from_env().build()
    }

    /// Lists the resources of a kind; see [`ListRequest`].
    pub fn list(&self, kind: ResourceKind) -> ListRequest {
        ListRequest::new(self.clone(), kind)
    }

    /// Gets one resource by id (kinds with a get path).
    pub async fn get(&self, kind: ResourceKind, id: &ResourceId) -> Result<Resource, Error> {
        let meta = kind.meta();
        let path = meta
            .get_path
            .ok_or_else(|| Error::InvalidRequest(format!("{kind} has no get-by-id endpoint")))?;
        let path = format!(
            "{}{}",
            meta.api.base_path(),
            path.replace("{id}", &encode_segment(id.as_str()))
        );
        let mut spec = RequestSpec::get(path);
        spec.org_header &= meta.org_header;
        let doc = self
            .execute(&spec, |response| {
                serde_json::from_slice::<serde_json::Value>(response.body()).map_err(|e| {
                    Error::Decode {
                        kind: Some(kind),
                        what: format!("a {kind}"),
                        path: format!("line {} column {}", e.line(), e.column()),
                        message: e.to_string(),
                    }
                })
            })
            .await?;
        Resource::from_doc(kind, doc).map_err(|error| Error::Decode {
            kind: Some(kind),
            what: format!("a {kind}"),
            path: "$".into(),
            message: error.to_string(),
        })
    }

    /// Gets one resource by id, typed.
    pub async fn get_typed<T: TypedResource>(&self, id: &ResourceId) -> Result<T, Error> {
        let resource = self.get(T::KIND, id).await?;
        resource.typed::<T>().map_err(|error| Error::Decode {
            kind: Some(T::KIND),
            what: format!("a {}", T::KIND),
            path: "$".into(),
            message: error.to_string(),
        })
    }

    /// The counters of this client's traffic.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            items: c.items.load(Ordering::Relaxed),
        }
    }

    /// The current concurrency limit (lowered after 429s).
    #[must_use]
    pub fn current_concurrency(&self) -> usize {
        self.inner.concurrency.limit()
    }

    /// The pace learned from 429s, in requests a second (`None` until the server throttled).
    #[must_use]
    pub fn learned_rate(&self) -> Option<f64> {
        self.inner.learned.rate()
    }

    pub(crate) fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    fn url(&self, spec: &RequestSpec) -> Result<String, Error> {
        let origin = match spec.host {
            Host::Console => &self.inner.console_origin,
            Host::Insights => &self.inner.insights_origin,
        };
        let mut url = url::Url::parse(&format!("{origin}{}", spec.path))
            .map_err(|e| Error::InvalidRequest(format!("{}: {e}", spec.path)))?;
        if !spec.query.is_empty() {
            url.query_pairs_mut().extend_pairs(spec.query.iter());
        }
        Ok(url.into())
    }

    async fn build_request(&self, spec: &RequestSpec) -> Result<http::Request<Bytes>, Error> {
        let mut headers = spec.headers.clone();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, self.inner.user_agent.clone());
        if spec.body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if spec.org_header
            && let Some(org) = &self.inner.org_id
            && !headers.contains_key("x-org-id")
        {
            headers.insert("x-org-id", org.clone());
        }
        self.inner.auth.apply(self.inner.transport.as_ref(), &mut headers).await?;
        let mut request = http::Request::builder()
            .method(spec.method.clone())
            .uri(self.url(spec)?)
            .body(spec.body.clone().unwrap_or_default())
            .map_err(|e| Error::InvalidRequest(format!("{}: {e}", spec.path)))?;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Sends a request with retries, and decodes the response with `decode`. A decode failure is
    /// retried like a broken connection: a body cut short decodes on the next try.
    pub(crate) async fn execute<T>(
        &self,
        spec: &RequestSpec,
        decode: impl Fn(&HttpResponse) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let inner = &self.inner;
        let policy = &inner.retry;
        let method = spec.method.to_string();
        let idempotent = spec.idempotent;
        let started = tokio::time::Instant::now();
        let mut schedule = policy.schedule();
        let mut refreshed_token = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let span = tracing::debug_span!("jumpwatch.request", method = %method, path = %spec.path, attempt);
            let outcome = async {
                if let Some(limit) = &inner.rate_limit {
                    let waited = limit.until_ready().await;
                    if !waited.is_zero() {
                        debug!(wait_ms = waited.as_millis() as u64, "rate limit");
                    }
                }
                let request = self.build_request(spec).await?;
                let permit = inner.concurrency.acquire().await;
                // Right before sending, holding the permit: a request that waited for a permit
                // while a 429 taught the pace is paced too.
                let paced = inner.learned.until_ready().await;
                if !paced.is_zero() {
                    debug!(wait_ms = paced.as_millis() as u64, "pace learned from 429s");
                }
                inner.counters.requests.fetch_add(1, Ordering::Relaxed);
                let sent = tokio::time::Instant::now();
                let result = inner.transport.send(request).await;
                drop(permit);
                Ok::<_, Error>((result, sent.elapsed()))
            }
            .instrument(span.clone())
            .await?;
            let (outcome, round_trip) = outcome;
            let _entered = span.enter();
            // What to do: done, give up, or wait and try again.
            let (error, retry_after, retryable) = match outcome {
                Ok(response) => {
                    inner.counters.bytes.fetch_add(response.body().len() as u64, Ordering::Relaxed);
                    let status = response.status().as_u16();
                    debug!(status, bytes = response.body().len(), "response");
                    if response.status().is_success() {
                        inner.concurrency.on_success();
                        inner.learned.on_success(round_trip);
                        match decode(&response) {
                            Ok(value) => return Ok(value),
                            Err(error) => {
                                warn!(%error, "response did not decode");
                                (error, None, true)
                            }
                        }
                    } else {
                        let retry_after = response
                            .headers()
                            .get(http::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| parse_retry_after(v, SystemTime::now()))
                            .map(|wait| wait.min(policy.max_retry_after));
                        if status == 429 {
                            inner.counters.throttled.fetch_add(1, Ordering::Relaxed);
                            inner.concurrency.on_throttled();
                            inner.learned.on_throttled(round_trip);
                        }
                        if status == 401 && inner.auth.is_bearer() && !refreshed_token {
                            // A token refused before its expiry: fetch a new one, once.
                            refreshed_token = true;
                            inner.auth.invalidate().await;
                            attempt -= 1;
                            continue;
                        }
                        let api_error = ApiError {
                            status,
                            method: method.clone(),
                            path: spec.path.clone(),
                            request_id: response
                                .headers()
                                .get("x-request-id")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned),
                            body: ApiErrorBody::parse(response.body()),
                        };
                        let error = if status == 429 {
                            Error::RateLimited {
                                method: method.clone(),
                                path: spec.path.clone(),
                                attempts: attempt,
                                retry_after,
                            }
                        } else {
                            Error::from_response(api_error)
                        };
                        (error, retry_after, retryable_status(status, idempotent))
                    }
                }
                Err(transport) => {
                    debug!(error = %transport, "no response");
                    let retryable = transport.is_retryable();
                    (
                        Error::Transport {
                            method: method.clone(),
                            path: spec.path.clone(),
                            source: transport,
                        },
                        None,
                        retryable,
                    )
                }
            };
            if !retryable || attempt >= policy.max_attempts {
                return Err(error);
            }
            let backoff = full_jitter(schedule.next().unwrap_or(policy.max_delay));
            let wait = retry_after.unwrap_or(backoff);
            if started.elapsed() + wait > policy.max_elapsed {
                return Err(error);
            }
            debug!(wait_ms = wait.as_millis() as u64, %error, "retrying");
            inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            drop(_entered);
            tokio::time::sleep(wait).await;
        }
    }
}

/// Percent-encodes one path segment (ids are hex, but a parent id from a caller may be anything).
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_header_routes() {
        for path in [
            "/api/organizations",
            "/api/organizations/5f",
            "/api/users",
            "/api/v2/providers/p/organizations",
        ] {
            assert!(!accepts_org_header(path), "{path}");
        }
        for path in [
            "/api/systemusers",
            "/api/v2/usergroups",
            "/api/usersx",
            "/insights/directory/v1/events",
        ] {
            assert!(accepts_org_header(path), "{path}");
        }
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("5f0c1b"), "5f0c1b");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn regions() {
        assert_eq!(
            "EU".parse::<Region>().unwrap().console_origin(),
            "https://console.eu.jumpcloud.com"
        );
        assert_eq!(Region::In.insights_origin(), "https://api.in.jumpcloud.com");
        assert!("mars".parse::<Region>().is_err());
    }
}
