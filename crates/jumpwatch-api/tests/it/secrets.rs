//! Credentials never appear in `Debug`, errors, logs or URLs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use jumpwatch_api::{Client, Credentials, RetryPolicy, SecretString};
use jumpwatch_model::ResourceKind;
use mockito::Matcher;

const KEY: &str = "jc-key-SUPER-SECRET-4b1d";
const CLIENT_SECRET: &str = "svc-secret-DO-NOT-LEAK-77";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary, at every level. The subscriber is global: a thread-local
/// one misses events whose call sites other test threads already registered without it.
fn captured_logs() -> Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}

#[tokio::test]
async fn secrets_stay_out_of_debug_errors_logs_and_urls() {
    let logs = captured_logs();

    let mut server = mockito::Server::new_async().await;
    let _fail = server
        .mock("GET", "/api/systemusers")
        .match_query(Matcher::Any)
        .with_status(503)
        .with_body("down")
        .create_async()
        .await;
    let _token = server
        .mock("POST", "/oauth2/token")
        .with_status(401)
        .with_body(r#"{"error":"invalid_client"}"#)
        .create_async()
        .await;
    let fast =
        RetryPolicy::default().max_attempts(2).min_delay(std::time::Duration::from_millis(1));
    let client = Client::builder()
        .api_key(SecretString::from(KEY))
        .base_url(server.url())
        .retry_policy(fast.clone())
        .build()
        .unwrap();
    let error = client.list(ResourceKind::User).collect().await.unwrap_err();
    let service = Client::builder()
        .service_account("svc-id", SecretString::from(CLIENT_SECRET))
        .base_url(server.url())
        .retry_policy(fast)
        .build()
        .unwrap();
    let auth_error = service.list(ResourceKind::User).collect().await.unwrap_err();

    let builder = Client::builder().api_key(SecretString::from(KEY));
    let credentials = Credentials::ServiceAccount {
        client_id: "svc-id".into(),
        client_secret: SecretString::from(CLIENT_SECRET),
    };
    let texts = [
        format!("{client:?}"),
        format!("{service:?}"),
        format!("{builder:?}"),
        format!("{credentials:?}"),
        format!("{error} {error:?}"),
        format!("{auth_error} {auth_error:?}"),
        String::from_utf8(logs.0.lock().unwrap().clone()).unwrap(),
    ];
    assert!(texts[6].contains("jumpwatch.request"), "the logs were captured: {}", texts[6]);
    for text in &texts {
        assert!(!text.contains(KEY), "the API key leaked: {text}");
        assert!(!text.contains(CLIENT_SECRET), "the client secret leaked: {text}");
        assert!(!text.contains("U1VQRVItU0VDUkVU"), "a base64 secret leaked: {text}");
    }
}

#[tokio::test]
async fn the_key_travels_only_in_a_sensitive_header() {
    let stub = jumpwatch_api::transport::StubTransport::new(|_| {
        Ok(http::Response::builder()
            .body(bytes::Bytes::from_static(br#"{"totalCount": 0, "results": []}"#))
            .unwrap())
    });
    let client = Client::builder()
        .api_key(SecretString::from(KEY))
        .transport(Arc::new(stub.clone()))
        .build()
        .unwrap();
    client.list(ResourceKind::User).collect().await.unwrap();
    let request = &stub.requests()[0];
    assert!(!request.uri().to_string().contains(KEY));
    let header = request.headers().get("x-api-key").unwrap();
    assert!(header.is_sensitive());
    assert_eq!(header.to_str().unwrap(), KEY);
    assert!(!format!("{request:?}").contains(KEY));
}
