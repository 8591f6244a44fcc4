//! Bad input against the real binary: each malformed, oversized, hostile or
//! unauthenticated request gets its documented status, the server keeps serving, the
//! events stored before are intact, and nothing of the bad requests is stored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use crate::common::{
    Server, auth_header, event_envelope, gzip, http, post, small_event, stored_event,
};

/// Limits small enough to test cheaply.
const MAX_EVENT: usize = 64 * 1024;
const MAX_ENVELOPE: usize = 256 * 1024;

/// Where a case is sent.
#[derive(Clone, Copy)]
enum To {
    Store,
    Envelope,
    Security,
    /// The store endpoint of a project that does not exist.
    UnknownProject,
    /// The store endpoint of the second project (the key is the first one's).
    OtherProject,
    /// `/api/abc/store/`.
    TextProjectId,
}

struct Case {
    name: &'static str,
    to: To,
    /// `None`: no credentials at all; `Some(h)`: this `X-Sentry-Auth` value.
    auth: Option<String>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn cases(key: &str) -> Vec<Case> {
    let auth = Some(auth_header(key));
    let (_, good) = small_event("never-stored");
    let bomb = gzip(&vec![b' '; 64 << 20]);
    assert!(bomb.len() < MAX_EVENT, "the bomb is small: {}", bomb.len());
    let envelope_bomb = gzip(&vec![b'\n'; 64 << 20]);
    let zeros = vec![0u8; 8 << 20];
    let deflate_bomb = zlib(&zeros);
    let zstd_bomb = zstd::encode_all(&zeros[..], 3).unwrap();
    let brotli_bomb = {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 1, 22);
            w.write_all(&zeros).unwrap();
        }
        out
    };
    for b in [&deflate_bomb, &zstd_bomb, &brotli_bomb] {
        assert!(b.len() < MAX_EVENT, "{}", b.len());
    }
    let legacy_bomb = base64(&zlib(&vec![b'{'; 32 << 20])).into_bytes();
    assert!(legacy_bomb.len() < MAX_EVENT, "{}", legacy_bomb.len());
    let oversized = {
        let pad = "x".repeat(MAX_EVENT);
        serde_json::to_vec(&serde_json::json!({"message": "big", "extra": {"pad": pad}})).unwrap()
    };
    let oversized_envelope = {
        let pad = "y".repeat(MAX_ENVELOPE);
        let payload =
            serde_json::to_vec(&serde_json::json!({"message": "big", "extra": {"pad": pad}}))
                .unwrap();
        event_envelope(&crate::common::new_event_id(), &payload)
    };
    let oversized_event_in_envelope = {
        let pad = "z".repeat(MAX_EVENT + 1000);
        let payload =
            serde_json::to_vec(&serde_json::json!({"message": "big", "extra": {"pad": pad}}))
                .unwrap();
        event_envelope(&crate::common::new_event_id(), &payload)
    };
    let two_events = {
        let mut e = event_envelope(&crate::common::new_event_id(), &good);
        e.extend_from_slice(
            format!("{{\"type\":\"event\",\"length\":{}}}\n", good.len()).as_bytes(),
        );
        e.extend_from_slice(&good);
        e.push(b'\n');
        e
    };
    let truncated_envelope = {
        let e = event_envelope(&crate::common::new_event_id(), &good);
        e[..e.len() - 40].to_vec()
    };
    let event_and_transaction = {
        let mut e = event_envelope(&crate::common::new_event_id(), &good);
        let tx = br#"{"type":"transaction","transaction":"/"}"#;
        e.extend_from_slice(
            format!("{{\"type\":\"transaction\",\"length\":{}}}\n", tx.len()).as_bytes(),
        );
        e.extend_from_slice(tx);
        e
    };
    let deep = {
        let mut v = b"{\"extra\":".to_vec();
        v.extend(std::iter::repeat_n(b'[', 20_000));
        v.extend(std::iter::repeat_n(b']', 20_000));
        v.push(b'}');
        v
    };
    let too_many_items = {
        let mut e = b"{}\n".to_vec();
        for _ in 0..2000 {
            e.extend_from_slice(b"{\"type\":\"client_report\"}\n{}\n");
        }
        e
    };
    let text = |s: &str| s.as_bytes().to_vec();
    let c = |name, to, auth: &Option<String>, body: Vec<u8>, status| Case {
        name,
        to,
        auth: auth.clone(),
        headers: Vec::new(),
        body,
        status,
    };
    let with = |mut case: Case, k: &'static str, v: &str| {
        case.headers.push((k, v.to_owned()));
        case
    };
    vec![
        c(
            "invalid JSON",
            To::Store,
            &auth,
            text("{\"message\": \"unterminated"),
            400,
        ),
        c(
            "invalid JSON, not an object",
            To::Store,
            &auth,
            text("{]"),
            400,
        ),
        c(
            "a list instead of an object",
            To::Store,
            &auth,
            text("[]"),
            400,
        ),
        c(
            "a string instead of an object",
            To::Store,
            &auth,
            text("\"x\""),
            400,
        ),
        c("a number", To::Store, &auth, text("42"), 400),
        c(
            "JSON nested 20000 deep",
            To::Store,
            &auth,
            deep.clone(),
            400,
        ),
        c("empty store body", To::Store, &auth, Vec::new(), 400),
        c("only blanks", To::Store, &auth, text("  \n "), 400),
        c(
            "legacy body that is not base64",
            To::Store,
            &auth,
            text("not-base64!!"),
            400,
        ),
        c(
            "legacy base64+zlib bomb",
            To::Store,
            &auth,
            legacy_bomb,
            413,
        ),
        c("empty envelope body", To::Envelope, &auth, Vec::new(), 400),
        c(
            "envelope header not JSON",
            To::Envelope,
            &auth,
            text("nonsense\n{\"type\":\"event\"}\n{}"),
            400,
        ),
        c(
            "truncated envelope",
            To::Envelope,
            &auth,
            truncated_envelope,
            400,
        ),
        c(
            "envelope with two events",
            To::Envelope,
            &auth,
            two_events,
            400,
        ),
        c(
            "envelope with an event and a transaction",
            To::Envelope,
            &auth,
            event_and_transaction,
            400,
        ),
        c(
            "envelope item without a type",
            To::Envelope,
            &auth,
            text("{}\n{\"length\":2}\n{}\n"),
            400,
        ),
        c(
            "envelope event that is not JSON",
            To::Envelope,
            &auth,
            text("{}\n{\"type\":\"event\"}\nnot json\n"),
            400,
        ),
        c(
            "envelope event that is a list",
            To::Envelope,
            &auth,
            text("{}\n{\"type\":\"event\"}\n[1,2]\n"),
            400,
        ),
        c(
            "envelope event nested 20000 deep",
            To::Envelope,
            &auth,
            {
                let mut e = text("{}\n{\"type\":\"event\"}\n");
                e.extend_from_slice(&deep);
                e
            },
            400,
        ),
        c(
            "envelope with too many items",
            To::Envelope,
            &auth,
            too_many_items,
            400,
        ),
        c(
            "binary garbage envelope",
            To::Envelope,
            &auth,
            vec![0xff, 0xfe, 0x00, 0x01, 0x80, b'\n', 0x00],
            400,
        ),
        c(
            "oversized store body",
            To::Store,
            &auth,
            oversized.clone(),
            413,
        ),
        c(
            "oversized envelope",
            To::Envelope,
            &auth,
            oversized_envelope,
            413,
        ),
        c(
            "oversized event inside an envelope",
            To::Envelope,
            &auth,
            oversized_event_in_envelope,
            413,
        ),
        with(
            c("gzip bomb to store", To::Store, &auth, bomb.clone(), 413),
            "content-encoding",
            "gzip",
        ),
        with(
            c("deflate bomb", To::Store, &auth, deflate_bomb, 413),
            "content-encoding",
            "deflate",
        ),
        with(
            c("zstd bomb", To::Envelope, &auth, zstd_bomb, 413),
            "content-encoding",
            "zstd",
        ),
        with(
            c("brotli bomb", To::Envelope, &auth, brotli_bomb, 413),
            "content-encoding",
            "br",
        ),
        with(
            c(
                "gzip bomb to envelope",
                To::Envelope,
                &auth,
                envelope_bomb,
                413,
            ),
            "content-encoding",
            "gzip",
        ),
        with(
            c(
                "gzip that is not gzip",
                To::Store,
                &auth,
                text("{\"message\":\"plain\"}"),
                400,
            ),
            "content-encoding",
            "gzip",
        ),
        with(
            c(
                "truncated gzip",
                To::Store,
                &auth,
                gzip(&good)[..20].to_vec(),
                400,
            ),
            "content-encoding",
            "gzip",
        ),
        with(
            c("unknown encoding", To::Store, &auth, good.clone(), 415),
            "content-encoding",
            "lzma",
        ),
        with(
            c("two encodings", To::Store, &auth, good.clone(), 415),
            "content-encoding",
            "gzip, br",
        ),
        c("missing key", To::Store, &None, good.clone(), 401),
        c(
            "missing key on an envelope",
            To::Envelope,
            &None,
            event_envelope(&crate::common::new_event_id(), &good),
            401,
        ),
        c(
            "malformed auth header",
            To::Store,
            &Some("garbage".into()),
            good.clone(),
            401,
        ),
        c(
            "auth header without a key",
            To::Store,
            &Some("Sentry sentry_version=7".into()),
            good.clone(),
            401,
        ),
        c(
            "sentry_version 8",
            To::Store,
            &Some(format!("Sentry sentry_key={key}, sentry_version=8")),
            good.clone(),
            400,
        ),
        c(
            "wrong key",
            To::Store,
            &Some(auth_header("0123456789abcdef0123456789abcdef")),
            good.clone(),
            403,
        ),
        c(
            "wrong key on an envelope",
            To::Envelope,
            &Some(auth_header("0123456789abcdef0123456789abcdef")),
            event_envelope(&crate::common::new_event_id(), &good),
            403,
        ),
        c(
            "unknown project",
            To::UnknownProject,
            &auth,
            good.clone(),
            403,
        ),
        c(
            "another project's key",
            To::OtherProject,
            &auth,
            good.clone(),
            403,
        ),
        c(
            "project id that is not a number",
            To::TextProjectId,
            &auth,
            good.clone(),
            400,
        ),
        with(
            c(
                "query key and header key differ",
                To::Store,
                &auth,
                good.clone(),
                401,
            ),
            "x-query",
            "sentry_key=0123456789abcdef0123456789abcdef&sentry_version=7",
        ),
        c(
            "CSP endpoint with a non-report",
            To::Security,
            &auth,
            text("{\"hello\":1}"),
            400,
        ),
        c(
            "CSP endpoint with invalid JSON",
            To::Security,
            &auth,
            text("{"),
            400,
        ),
    ]
}

#[test]
fn bad_input_table() {
    let mut server = Server::sqlite();
    server.set("PERISCOPE_MAX_EVENT_BYTES", &MAX_EVENT.to_string());
    server.set("PERISCOPE_MAX_ENVELOPE_BYTES", &MAX_ENVELOPE.to_string());
    server.set("PERISCOPE_MAX_ENVELOPE_ITEMS", "100");
    let (project, _dsn, key) = server.create_project("bad-input");
    let (other, _, _) = server.create_project("other");
    server.start();
    let client = http();
    let store = server.store();

    // Events stored before the bad input.
    let mut earlier = Vec::new();
    for group in ["before-a", "before-b"] {
        let (id, body) = small_event(group);
        let a = post(
            &client,
            &server.store_url(project),
            &[("x-sentry-auth", &auth_header(&key))],
            body.clone(),
        );
        assert_eq!(a.status, 200, "{}", a.body);
        earlier.push((id, body));
    }
    let issues_before = server.issues(project);
    assert_eq!(issues_before.len(), 2);

    let mut failures = Vec::new();
    for case in cases(&key) {
        let mut url = match case.to {
            To::Store => server.store_url(project),
            To::Envelope => server.envelope_url(project),
            To::Security => format!("{}/api/{project}/security/", server.base()),
            To::UnknownProject => server.store_url(987_654),
            To::OtherProject => server.store_url(other),
            To::TextProjectId => format!("{}/api/abc/store/", server.base()),
        };
        let mut headers: Vec<(&str, String)> = Vec::new();
        if let Some(a) = &case.auth {
            headers.push(("x-sentry-auth", a.clone()));
        }
        for (k, v) in &case.headers {
            if *k == "x-query" {
                url = format!("{url}?{v}");
            } else {
                headers.push((k, v.clone()));
            }
        }
        let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = post(&client, &url, &refs, case.body);
        if answer.status != case.status {
            failures.push(format!(
                "{}: expected {}, got {} {}",
                case.name, case.status, answer.status, answer.body
            ));
        } else {
            let detail: serde_json::Value =
                serde_json::from_str(&answer.body).unwrap_or_else(|e| {
                    panic!(
                        "{}: the answer is not JSON ({e}): {}",
                        case.name, answer.body
                    )
                });
            assert!(
                detail["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{}: no detail in {}",
                case.name,
                answer.body
            );
        }
        assert!(
            server.is_running(),
            "the server died on {:?}: {}",
            case.name,
            server.log()
        );
        assert!(
            server.healthy(),
            "the server stopped serving after {:?}",
            case.name
        );
    }
    assert!(
        failures.is_empty(),
        "unexpected answers:\n{}",
        failures.join("\n")
    );

    // A GET on an ingest endpoint is refused, not served.
    let get = client.get(server.store_url(project)).send().unwrap();
    assert_eq!(get.status().as_u16(), 405);

    // Earlier events intact, byte for byte; nothing of the bad input stored.
    for (id, body) in &earlier {
        let stored = stored_event(&store, project, id).expect("an earlier event vanished");
        assert_eq!(&stored.payload, body);
    }
    let issues_after = server.issues(project);
    assert_eq!(
        issues_after.len(),
        2,
        "bad input created issues: {:?}",
        issues_after.iter().map(|i| &i.title).collect::<Vec<_>>()
    );
    assert_eq!(issues_after.iter().map(|i| i.count).sum::<u64>(), 2);
    assert!(server.issues(other).is_empty());

    // And it still takes good events.
    let (id, body) = small_event("after");
    let a = post(
        &client,
        &server.store_url(project),
        &[("x-sentry-auth", &auth_header(&key))],
        body,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(stored_event(&store, project, &id).is_some());
    server.stop();
}

/// Tolerated shapes: odd but valid input is accepted, not refused.
#[test]
fn tolerated_input() {
    let mut server = Server::sqlite();
    let (project, _dsn, key) = server.create_project("tolerant");
    server.start();
    let client = http();
    let auth = auth_header(&key);
    let store = server.store();
    let ok_store = [
        r#"{"message": null, "exception": {}, "tags": [["a", "b"], ["c", 1]], "user": {"id": 42}}"#,
        r#"{"level": "critical", "timestamp": "2026-01-02T03:04:05", "fingerprint": ["x", 1, null, true]}"#,
        r#"{"exception": "boom", "level": 7, "tags": 5, "breadcrumbs": "nope"}"#,
        "\u{feff}{\"message\": \"with a byte-order mark\"}",
        r#"{"event_id": "not-an-id", "message": "bad id"}"#,
        r#"{"timestamp": 99999999999999, "message": "far future"}"#,
    ];
    for body in ok_store {
        let a = post(
            &client,
            &server.store_url(project),
            &[("x-sentry-auth", &auth)],
            body.as_bytes().to_vec(),
        );
        assert_eq!(a.status, 200, "{body}: {}", a.body);
        let id = a.id().expect("an id");
        assert!(
            stored_event(&store, project, &id).is_some(),
            "{body} answered 200 but is not stored"
        );
    }
    // An envelope without an event, and one of only unknown / non-event items.
    for body in [
        "{}\n".to_owned(),
        "{}".to_owned(),
        "{}\n{\"type\":\"client_report\"}\n{\"discarded_events\":[]}\n{\"type\":\"session\"}\n{\"sid\":\"x\"}\n{\"type\":\"whatever_new\",\"length\":3}\nabc\n".to_owned(),
    ] {
        let a = post(&client, &server.envelope_url(project), &[("x-sentry-auth", &auth)], body.clone().into_bytes());
        assert_eq!(a.status, 200, "{body:?}: {}", a.body);
        assert_eq!(a.body.trim(), "{}");
    }
    // Credentials in the query string and in the envelope header's DSN.
    let (id, body) = small_event("query");
    let a = post(
        &client,
        &format!(
            "{}?sentry_key={key}&sentry_version=7",
            server.store_url(project)
        ),
        &[],
        body,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.id().as_deref(), Some(id.as_str()));
    let (id, payload) = small_event("dsn-header");
    let mut env = format!(
        "{{\"event_id\":\"{id}\",\"dsn\":\"http://{key}@{}/{project}\"}}\n",
        server.addr()
    )
    .into_bytes();
    env.extend_from_slice(b"{\"type\":\"event\"}\n");
    env.extend_from_slice(&payload);
    let a = post(
        &client,
        &server.envelope_url(project),
        &[("content-type", "text/plain;charset=UTF-8")],
        env,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(stored_event(&store, project, &id).is_some());
    // The same event id twice: 200 both times, stored and counted once.
    let (id, body) = small_event("twice");
    for _ in 0..2 {
        let a = post(
            &client,
            &server.store_url(project),
            &[("x-sentry-auth", &auth)],
            body.clone(),
        );
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let twice: Vec<_> = server
        .issues(project)
        .into_iter()
        .filter(|i| i.title.contains("twice"))
        .collect();
    assert_eq!(twice.len(), 1);
    assert_eq!(twice[0].count, 1, "a repeated event id is counted once");
    assert!(stored_event(&store, project, &id).is_some());
    // CORS pre-flight of a browser SDK.
    let pre = client
        .request(reqwest::Method::OPTIONS, server.store_url(project))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "x-sentry-auth, content-type",
        )
        .send()
        .unwrap();
    assert!(pre.status().is_success(), "{}", pre.status());
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    server.stop();
}

/// Clients that stall in the middle of a body (slowloris) hold an in-flight permit
/// only until the body timeout: they get 408 and ingest is open again.
#[test]
fn stalled_bodies_time_out() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let mut server = Server::sqlite();
    server.set("PERISCOPE_MAX_INFLIGHT_REQUESTS", "2");
    server.set("PERISCOPE_BODY_TIMEOUT_SECONDS", "3");
    let (project, _dsn, key) = server.create_project("slowloris");
    server.start();
    let stalled: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
            write!(
                s,
                "POST /api/{project}/store/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Sentry-Auth: {}\r\nContent-Length: 1000\r\n\r\n{{\"mess",
                auth_header(&key)
            )
            .unwrap();
            s.flush().unwrap();
            s
        })
        .collect();
    // Wait until both stalled requests hold their permits: a probe sent before
    // the second one arrived would take its place.
    let deadline = Instant::now() + Duration::from_secs(10);
    while crate::common::metric(&server.metrics(), "periscope_ingest_requests_in_flight")
        != Some(2.0)
    {
        assert!(
            Instant::now() < deadline,
            "the stalled requests never arrived: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let client = http();
    let send = || {
        let (_, body) = small_event("slowloris");
        post(
            &client,
            &server.store_url(project),
            &[("x-sentry-auth", &auth_header(&key))],
            body,
        )
    };
    // Both permits held: refused at once (the stalled requests are in flight).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let a = send();
        if a.status == 503 {
            assert!(!a.header("retry-after").is_empty());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled requests never took the permits (last answer {} {}): {}",
            a.status,
            a.body,
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Within the body timeout (3 s here) and some slack, ingest opens again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = send();
        if a.status == 200 {
            break;
        }
        assert_eq!(a.status, 503, "{}", a.body);
        assert!(
            Instant::now() < deadline,
            "stalled clients block ingest for good"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    for mut s in stalled {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    }
    server.stop();
}

/// Every `Content-Encoding`, CSP reports and the browser SDK's way of sending.
#[test]
fn encodings_csp_and_browser_requests() {
    let mut server = Server::sqlite();
    let (project, _dsn, key) = server.create_project("encodings");
    server.start();
    let client = http();
    let auth = auth_header(&key);
    let store = server.store();
    let (_, sample) = small_event("encoded");
    let deflate = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&sample).unwrap();
        e.finish().unwrap()
    };
    let brotli = {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(&sample).unwrap();
        }
        out
    };
    let zstd = zstd::encode_all(&sample[..], 3).unwrap();
    for (encoding, body) in [
        ("gzip", gzip(&sample)),
        ("x-gzip", gzip(&sample)),
        ("deflate", deflate),
        ("br", brotli),
        ("zstd", zstd),
        ("identity", sample.clone()),
        ("utf-8", sample.clone()),
    ] {
        let id = crate::common::new_event_id();
        let a = post(
            &client,
            &server.envelope_url(project),
            &[("x-sentry-auth", &auth), ("content-encoding", encoding)],
            if encoding == "identity" || encoding == "utf-8" {
                event_envelope(&id, &body)
            } else {
                // Compress the whole envelope, as SDKs do.
                let plain = event_envelope(&id, &sample);
                match encoding {
                    "gzip" | "x-gzip" => gzip(&plain),
                    "zstd" => zstd::encode_all(&plain[..], 3).unwrap(),
                    "br" => {
                        let mut out = Vec::new();
                        {
                            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                            w.write_all(&plain).unwrap();
                        }
                        out
                    }
                    _ => {
                        let mut e = flate2::write::ZlibEncoder::new(
                            Vec::new(),
                            flate2::Compression::default(),
                        );
                        e.write_all(&plain).unwrap();
                        e.finish().unwrap()
                    }
                }
            },
        );
        assert_eq!(a.status, 200, "{encoding}: {}", a.body);
        let stored =
            stored_event(&store, project, &id).unwrap_or_else(|| panic!("{encoding}: not stored"));
        assert_eq!(stored.payload, sample, "{encoding}");
        // The same encoding on the store endpoint.
        let a = post(
            &client,
            &server.store_url(project),
            &[("x-sentry-auth", &auth), ("content-encoding", encoding)],
            body,
        );
        assert_eq!(a.status, 200, "store {encoding}: {}", a.body);
    }

    // A browser's CSP report, key in the query string.
    let report = br#"{"csp-report":{"document-uri":"https://shop.example/cart","violated-directive":"script-src 'self'","effective-directive":"script-src","blocked-uri":"https://evil.example/x.js"}}"#;
    let a = post(
        &client,
        &format!(
            "{}/api/{project}/security/?sentry_key={key}&sentry_version=7",
            server.base()
        ),
        &[("content-type", "application/csp-report")],
        report.to_vec(),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let id = a.id().unwrap();
    assert!(stored_event(&store, project, &id).is_some());
    // The same report as an envelope `security` item; and an event sent as an
    // `event.payload` attachment.
    let mut env = b"{}\n".to_vec();
    env.extend_from_slice(
        format!("{{\"type\":\"security\",\"length\":{}}}\n", report.len()).as_bytes(),
    );
    env.extend_from_slice(report);
    let a = post(
        &client,
        &server.envelope_url(project),
        &[("x-sentry-auth", &auth)],
        env,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let (id, payload) = small_event("attachment-payload");
    let mut env = format!("{{\"event_id\":\"{id}\"}}\n").into_bytes();
    env.extend_from_slice(
        format!(
            "{{\"type\":\"attachment\",\"attachment_type\":\"event.payload\",\"length\":{}}}\n",
            payload.len()
        )
        .as_bytes(),
    );
    env.extend_from_slice(&payload);
    let a = post(
        &client,
        &server.envelope_url(project),
        &[("x-sentry-auth", &auth)],
        env,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(stored_event(&store, project, &id).is_some());
    let csp: Vec<_> = server
        .issues(project)
        .into_iter()
        .filter(|i| i.title == "Blocked 'script' from 'evil.example'")
        .collect();
    assert_eq!(
        csp.len(),
        1,
        "{:?}",
        server
            .issues(project)
            .iter()
            .map(|i| &i.title)
            .collect::<Vec<_>>()
    );
    assert_eq!(csp[0].count, 2);

    // The browser SDK: text/plain, key in the query, CORS headers on the answer.
    let (id, payload) = small_event("browser");
    let resp = client
        .post(format!(
            "{}?sentry_key={key}&sentry_version=7&sentry_client=sentry.javascript.browser%2F8.0.0",
            server.envelope_url(project)
        ))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("origin", "https://shop.example")
        .body(event_envelope(&id, &payload))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let exposed = resp.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for h in ["x-sentry-rate-limits", "retry-after", "x-sentry-error"] {
        assert!(exposed.contains(h), "{exposed}");
    }
    assert!(stored_event(&store, project, &id).is_some());
    server.stop();
}

/// NUL characters (`\u0000`, valid JSON) in the message, tags, release, environment,
/// exception type and frames: accepted and stored on every backend (PostgreSQL
/// refuses NUL in text columns; such an event must not fail its digest batch).
fn nul_characters_are_stored(mut server: Server) {
    let (project, _dsn, key) = server.create_project("nul");
    server.start();
    let client = http();
    let auth = auth_header(&key);
    let bodies = [
        r#"{"message": "nul \u0000 in the message"}"#,
        r#"{"message": "tags", "tags": {"k\u0000": "v\u0000"}}"#,
        r#"{"message": "env", "environment": "prod\u0000", "release": "1.0\u0000", "level": "error\u0000"}"#,
        r#"{"exception": {"values": [{"type": "Err\u0000or", "value": "x\u0000", "stacktrace": {"frames": [{"function": "f\u0000", "module": "m\u0000", "in_app": true}]}}]}}"#,
    ];
    let store = server.store();
    let mut ids = Vec::new();
    for body in bodies {
        let id = crate::common::new_event_id();
        let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["event_id"] = id.clone().into();
        let payload = serde_json::to_vec(&v).unwrap();
        let a = post(
            &client,
            &server.store_url(project),
            &[("x-sentry-auth", &auth)],
            payload.clone(),
        );
        assert_eq!(a.status, 200, "{body}: {}", a.body);
        let stored =
            stored_event(&store, project, &id).unwrap_or_else(|| panic!("{body}: not stored"));
        assert_eq!(stored.payload, payload, "the payload is kept as sent");
        ids.push(id);
    }
    let titles: Vec<String> = server
        .issues(project)
        .into_iter()
        .map(|i| i.title)
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("nul \u{fffd} in the message")),
        "{titles:?}"
    );
    // A NUL event in the same batch as others does not fail them.
    let metrics = server.metrics();
    assert_eq!(
        crate::common::metric(&metrics, "periscope_digest_failures_total"),
        Some(0.0),
        "{metrics}"
    );
    server.stop();
}

#[test]
fn nul_characters_sqlite() {
    nul_characters_are_stored(Server::sqlite());
}

#[test]
fn nul_characters_postgres() {
    if let Some(server) = Server::postgres("nul") {
        nul_characters_are_stored(server);
    }
}

/// An answer given before the body was read says `Connection: close`, so a
/// client does not send its next request on a connection the server drops (the
/// race this table hit: the next case failed with an incomplete message).
#[test]
fn early_refusals_close_the_connection() {
    let mut server = Server::sqlite();
    server.set("PERISCOPE_MAX_EVENT_BYTES", &MAX_EVENT.to_string());
    let (project, _dsn, key) = server.create_project("close");
    server.start();
    let client = http();
    let auth = auth_header(&key);
    let big = post(
        &client,
        &server.store_url(project),
        &[("x-sentry-auth", &auth)],
        vec![b'x'; MAX_EVENT * 4],
    );
    assert_eq!(big.status, 413);
    assert_eq!(big.header("connection"), "close");
    // The same client goes on with a fresh connection.
    let (_, body) = small_event("after the refusal");
    let ok = post(
        &client,
        &server.store_url(project),
        &[("x-sentry-auth", &auth)],
        body,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_ne!(
        ok.header("connection"),
        "close",
        "a read body keeps the connection"
    );
    // A refusal after the whole body was read keeps it too.
    let bad = post(
        &client,
        &server.store_url(project),
        &[("x-sentry-auth", &auth)],
        b"{not json".to_vec(),
    );
    assert_eq!(bad.status, 400);
    assert_ne!(bad.header("connection"), "close");
}
