//! Tests: the email channel — configuration, the message (parts, subject, Message-ID, HTML
//! escaping), lettre's stub transport, and a tiny SMTP sink on 127.0.0.1.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use chrono::{TimeZone as _, Utc};
use jumpwatch_notify::channel::email::{self, EmailChannel, EmailConfig, TlsMode};
use jumpwatch_notify::channel::fields::Fields;
use jumpwatch_notify::{
    Alert, AlertKind, Channel, Notification, Reason, SendError, Severity, Status,
};
use lettre::transport::stub::AsyncStubTransport;

const PASSWORD: &str = "smtp-hunter2-password";

fn notification() -> Notification {
    let at = Utc.with_ymd_and_hms(2025, 3, 14, 9, 26, 53).unwrap();
    let later = Utc.with_ymd_and_hms(2025, 3, 14, 10, 0, 0).unwrap();
    let firing = Alert::new(
        AlertKind::Finding,
        "fp-mfa-1",
        Status::Firing,
        Severity::High,
        "MFA disabled for alice@example.com",
        at,
    )
    .summary("User alice has no MFA enrolled.\nShe is an administrator.")
    .label("tenant", "acme")
    .label("rule", "users.mfa_required")
    .link("User in JumpCloud", "https://console.jumpcloud.com/#/users/abc123/details");
    let resolved = Alert::new(
        AlertKind::Finding,
        "fp-admin-2",
        Status::Firing,
        Severity::Critical,
        "Too many administrators",
        at,
    )
    .label("tenant", "acme")
    .resolved(later);
    Notification::new(
        "01957a3c-0000-7000-8000-000000000002",
        "secops-mail",
        "{}:{tenant=\"acme\"}",
        BTreeMap::from([("tenant".to_owned(), "acme".to_owned())]),
        Reason::New,
        vec![resolved, firing],
        later,
    )
}

fn config_from(text: &str) -> Result<EmailConfig, String> {
    let table: toml::Table = text.parse().unwrap();
    let expand = |s: &str| Ok::<_, String>(s.to_owned());
    let mut fields = Fields::new(&table, &expand);
    let config = EmailConfig::from_fields(&mut fields).map_err(|e| e.to_string())?;
    fields.finish().map_err(|e| e.to_string())?;
    Ok(config)
}

fn config() -> EmailConfig {
    config_from(
        r#"
        name = "secops-mail"
        type = "email"
        host = "smtp.example.com"
        username = "jumpwatch"
        password = "smtp-hunter2-password"
        from = "Jumpwatch <jumpwatch@example.com>"
        to = ["secops@example.com", "Bob <bob@example.com>"]
        "#,
    )
    .unwrap()
}

/// The decoded parts of a multipart message: (content type, body).
fn parts(raw: &str) -> Vec<(String, String)> {
    let boundary = regex::Regex::new(r#"boundary="?([^";\r\n]+)"?"#)
        .unwrap()
        .captures(raw)
        .unwrap()
        .get(1)
        .unwrap()
        .as_str()
        .to_owned();
    raw.split(&format!("--{boundary}"))
        .skip(1)
        .filter_map(|chunk| {
            let (head, body) = chunk.split_once("\r\n\r\n")?;
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default()
            };
            let content_type = header("Content-Type");
            let body = match header("Content-Transfer-Encoding").to_ascii_lowercase().as_str() {
                "base64" => {
                    let compact: String = body.split_whitespace().collect();
                    String::from_utf8(
                        base64::engine::general_purpose::STANDARD.decode(compact).unwrap(),
                    )
                    .unwrap()
                }
                "quoted-printable" => quoted_printable(body),
                _ => body.to_owned(),
            };
            Some((content_type, body))
        })
        .collect()
}

fn quoted_printable(text: &str) -> String {
    let text = text.replace("=\r\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn text_and_html(raw: &str) -> (String, String) {
    let parts = parts(raw);
    let find = |kind: &str| {
        parts.iter().find(|(t, _)| t.starts_with(kind)).map(|(_, b)| b.clone()).unwrap()
    };
    (find("text/plain"), find("text/html"))
}

#[test]
fn config_defaults_and_modes() {
    let config = config();
    assert_eq!(config.tls, TlsMode::StartTls);
    assert_eq!(config.port, 587);
    assert_eq!(config.subject_prefix, "[jumpwatch]");
    assert_eq!(config.to.len(), 2);

    let tls = config_from(
        r#"host = "smtp.example.com"
        tls = "tls"
        from = "a@example.com"
        to = ["b@example.com"]"#,
    )
    .unwrap();
    assert_eq!((tls.tls, tls.port), (TlsMode::Tls, 465));

    let plain = config_from(
        r#"host = "127.0.0.1"
        tls = "none"
        port = 2525
        from = "a@example.com"
        to = ["b@example.com"]
        subject_prefix = "[test]""#,
    )
    .unwrap();
    assert_eq!(
        (plain.tls, plain.port, plain.subject_prefix.as_str()),
        (TlsMode::None, 2525, "[test]")
    );
}

#[test]
fn config_errors_name_their_field() {
    let base = r#"host = "smtp.example.com"
        from = "a@example.com""#;
    let error = |extra: &str| config_from(&format!("{base}\n{extra}")).unwrap_err();
    assert!(error(r#"to = ["b@example.com", "not an address"]"#).starts_with("to[1]:"));
    assert!(error("to = []").starts_with("to:"));
    assert!(error("").starts_with("to:"));
    assert!(
        error(
            r#"to = ["b@example.com"]
        tls = "ssl""#
        )
        .starts_with("tls:")
    );
    assert!(
        error(
            r#"to = ["b@example.com"]
        port = 70000"#
        )
        .starts_with("port:")
    );
    let no_password = error(
        r#"to = ["b@example.com"]
        username = "u""#,
    );
    assert!(no_password.starts_with("password:"), "{no_password}");
    let no_username = error(&format!(
        r#"to = ["b@example.com"]
        password = "{PASSWORD}""#
    ));
    assert!(no_username.starts_with("username:"), "{no_username}");
    assert!(!no_username.contains(PASSWORD));
    let bad_from = config_from(
        r#"host = "h"
        from = "nobody"
        to = ["b@example.com"]"#,
    )
    .unwrap_err();
    assert!(bad_from.starts_with("from:"), "{bad_from}");
}

#[test]
fn debug_redacts_the_password() {
    let config = config();
    let channel = EmailChannel::with_transport(config.clone(), AsyncStubTransport::new_ok());
    for text in [format!("{config:?}"), format!("{channel:?}")] {
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}

#[test]
fn message_has_subject_parts_and_a_stable_message_id() {
    let notification = notification();
    let config = config();
    let first = email::message(&notification, &config).unwrap();
    let second = email::message(&notification, &config).unwrap();
    let id = first.headers().get_raw("Message-ID").unwrap().to_owned();
    assert_eq!(id, "<01957a3c-0000-7000-8000-000000000002@jumpwatch>");
    assert_eq!(second.headers().get_raw("Message-ID"), Some(id.as_str()));
    assert_eq!(
        first.headers().get_raw("Subject"),
        Some("[jumpwatch] acme: 1 finding firing, 1 finding resolved")
    );
    let recipients: Vec<String> = first.envelope().to().iter().map(ToString::to_string).collect();
    assert_eq!(recipients, ["secops@example.com", "bob@example.com"]);

    let raw = String::from_utf8(first.formatted()).unwrap();
    assert!(raw.contains("multipart/alternative"), "{raw}");
    let (text, html) = text_and_html(&raw);
    for part in [&text, &html] {
        assert!(part.contains("MFA disabled for alice@example.com"), "{part}");
        assert!(part.contains("Too many administrators"), "{part}");
        assert!(part.contains("FIRING") && part.contains("RESOLVED"), "{part}");
        assert!(part.contains("users.mfa_required"), "{part}");
        assert!(part.contains("https://console.jumpcloud.com/#/users/abc123/details"), "{part}");
    }
    // Firing first.
    assert!(text.find("MFA disabled").unwrap() < text.find("Too many administrators").unwrap());
}

#[test]
fn html_escapes_alert_text() {
    let at = Utc.with_ymd_and_hms(2025, 3, 14, 9, 26, 53).unwrap();
    let alert = Alert::new(
        AlertKind::Change,
        "evil",
        Status::Firing,
        Severity::Medium,
        "<script>alert('x')</script> renamed",
        at,
    )
    .summary("a & b < c")
    .label("group", "<b>admins</b>")
    .link("click", "javascript:alert(1)");
    let notification =
        Notification::new("n-1", "mail", "g", BTreeMap::new(), Reason::New, vec![alert], at);
    let html = email::html_body(&notification);
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; renamed"), "{html}");
    assert!(html.contains("a &amp; b &lt; c"), "{html}");
    assert!(html.contains("&lt;b&gt;admins&lt;/b&gt;"), "{html}");
    assert!(!html.contains("href=\"javascript:"), "{html}");
    // The text part keeps the text as it is.
    assert!(email::text_body(&notification).contains("<script>alert('x')</script> renamed"));
}

#[test]
fn subject_is_one_short_line() {
    let at = Utc.with_ymd_and_hms(2025, 3, 14, 9, 26, 53).unwrap();
    let labels =
        BTreeMap::from([("tenant".to_owned(), format!("a\r\nBcc: x@y {}", "z".repeat(300)))]);
    let notification = Notification::new("n", "mail", "g", labels, Reason::New, Vec::new(), at);
    let subject = email::subject(&notification, "[jumpwatch]");
    assert!(subject.chars().count() <= email::MAX_SUBJECT_CHARS);
    assert!(!subject.contains('\n') && !subject.contains('\r'));
    assert!(subject.starts_with("[jumpwatch] a  Bcc"), "{subject}");
}

#[tokio::test]
async fn stub_transport_receives_the_message() {
    let stub = AsyncStubTransport::new_ok();
    let channel = EmailChannel::with_transport(config(), stub.clone());
    assert_eq!(channel.kind(), "email");
    assert_eq!(channel.default_rate(), None);
    let notification = notification();
    channel.send(&notification).await.unwrap();
    channel.send(&notification).await.unwrap();
    let messages = stub.messages().await;
    assert_eq!(messages.len(), 2);
    let ids: Vec<String> = messages
        .iter()
        .map(|(_, raw)| {
            raw.lines().find_map(|l| l.strip_prefix("Message-ID: ")).unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
    let (envelope, raw) = &messages[0];
    assert_eq!(envelope.from().unwrap().to_string(), "jumpwatch@example.com");
    assert!(raw.contains("Subject: [jumpwatch] acme: 1 finding firing, 1 finding resolved"));
    let (text, html) = text_and_html(raw);
    assert!(text.contains("MFA disabled"));
    assert!(html.contains("<h2>"));
}

#[tokio::test]
async fn stub_transport_errors_are_retried() {
    let channel = EmailChannel::with_transport(config(), AsyncStubTransport::new_error());
    let error = channel.send(&notification()).await.unwrap_err();
    assert!(matches!(error, SendError::Retry { .. }), "{error:?}");
}

#[test]
fn smtp_transports_build_for_each_mode() {
    for tls in ["starttls", "tls", "none"] {
        let config = config_from(&format!(
            r#"host = "smtp.example.com"
            tls = "{tls}"
            username = "u"
            password = "{PASSWORD}"
            from = "a@example.com"
            to = ["b@example.com"]"#
        ))
        .unwrap();
        let channel = EmailChannel::new(config).unwrap();
        assert!(!format!("{channel:?}").contains(PASSWORD));
    }
}

/// A tiny SMTP server on 127.0.0.1 that answers RCPT with `rcpt_reply` and records each DATA.
fn smtp_sink(rcpt_reply: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let _ = session(stream, rcpt_reply, &log);
            });
        }
    });
    (port, received)
}

fn session(stream: TcpStream, rcpt_reply: &str, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    out.write_all(b"220 sink.test ESMTP ready\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply = if command.starts_with("EHLO") || command.starts_with("HELO") {
            "250 sink.test\r\n"
        } else if command.starts_with("MAIL")
            || command.starts_with("RSET")
            || command.starts_with("NOOP")
        {
            "250 OK\r\n"
        } else if command.starts_with("RCPT") {
            rcpt_reply
        } else if command.starts_with("DATA") {
            out.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            log.lock().unwrap().push(data);
            "250 OK queued\r\n"
        } else if command.starts_with("QUIT") {
            out.write_all(b"221 Bye\r\n")?;
            return Ok(());
        } else {
            "502 Command not implemented\r\n"
        };
        out.write_all(reply.as_bytes())?;
    }
}

fn sink_config(port: u16, credentials: bool) -> EmailConfig {
    let credentials = if credentials {
        format!("username = \"u\"\npassword = \"{PASSWORD}\"")
    } else {
        String::new()
    };
    config_from(&format!(
        r#"host = "127.0.0.1"
        port = {port}
        tls = "none"
        from = "Jumpwatch <jumpwatch@example.com>"
        to = ["secops@example.com"]
        {credentials}"#
    ))
    .unwrap()
}

#[tokio::test]
async fn smtp_sink_receives_subject_and_both_parts() {
    let (port, received) = smtp_sink("250 OK\r\n");
    let channel = EmailChannel::new(sink_config(port, false)).unwrap();
    channel.send(&notification()).await.unwrap();
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let data = &received[0];
    assert!(
        data.contains("Subject: [jumpwatch] acme: 1 finding firing, 1 finding resolved"),
        "{data}"
    );
    assert!(
        data.contains("Message-ID: <01957a3c-0000-7000-8000-000000000002@jumpwatch>"),
        "{data}"
    );
    let (text, html) = text_and_html(data);
    assert!(text.contains("MFA disabled for alice@example.com"), "{text}");
    assert!(html.contains("MFA disabled for alice@example.com"), "{html}");
}

#[tokio::test]
async fn smtp_permanent_refusal_is_permanent() {
    let (port, received) = smtp_sink("550 5.1.1 No such user\r\n");
    let channel = EmailChannel::new(sink_config(port, false)).unwrap();
    let error = channel.send(&notification()).await.unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error:?}");
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn smtp_transient_refusal_is_retried() {
    let (port, _received) = smtp_sink("451 4.3.0 Try again later\r\n");
    let channel = EmailChannel::new(sink_config(port, false)).unwrap();
    let error = channel.send(&notification()).await.unwrap_err();
    assert!(matches!(error, SendError::Retry { .. }), "{error:?}");
}

#[tokio::test]
async fn smtp_connection_refused_is_retried() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let channel = EmailChannel::new(sink_config(port, true)).unwrap();
    let error = channel.send(&notification()).await.unwrap_err();
    assert!(matches!(error, SendError::Retry { .. }), "{error:?}");
    assert!(!error.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn errors_never_show_the_password() {
    // The sink offers no AUTH mechanism: lettre refuses to send the credentials.
    let (port, received) = smtp_sink("250 OK\r\n");
    let channel = EmailChannel::new(sink_config(port, true)).unwrap();
    let error = channel.send(&notification()).await.unwrap_err();
    assert!(matches!(error, SendError::Permanent { .. }), "{error:?}");
    assert!(!error.to_string().contains(PASSWORD), "{error}");
    assert!(!format!("{error:?}").contains(PASSWORD), "{error:?}");
    assert!(received.lock().unwrap().is_empty());
}
