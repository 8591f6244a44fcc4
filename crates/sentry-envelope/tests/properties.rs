//! Property tests: round trips, and no panics on arbitrary input.

#![allow(clippy::unwrap_used)]

use periscope_sentry_envelope::{
    Auth, ClientSdk, Dsn, Envelope, EnvelopeHeaders, Event, EventId, Item, ItemHeaders, ItemType,
    ParseLimits, Timestamp, bytes::Bytes, decode_store_body,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KNOWN_TYPES: &[&str] = &[
    "event",
    "transaction",
    "attachment",
    "session",
    "sessions",
    "client_report",
    "user_report",
    "feedback",
    "check_in",
    "profile",
    "profile_chunk",
    "replay_event",
    "replay_recording",
    "replay_video",
    "security",
    "raw_security",
    "nel",
    "form_data",
    "unreal_report",
    "statsd",
    "metric_buckets",
    "log",
    "span",
    "otel_span",
    "otel_log",
    "trace_metric",
];

fn small_map() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(
        "x_[a-z_]{1,8}",
        prop_oneof![
            any::<i32>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
        ],
        0..3,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn item_type() -> impl Strategy<Value = ItemType> {
    prop_oneof![
        prop::sample::select(KNOWN_TYPES).prop_map(ItemType::parse),
        "zz_[a-z]{1,8}".prop_map(|s| ItemType::parse(&s)),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    (
        item_type(),
        prop::option::of("[a-z]{1,8}/[a-z-]{1,8}"),
        prop::option::of("\\PC{1,16}"),
        prop::option::of(prop::sample::select(
            &["event.attachment", "event.minidump"][..],
        )),
        prop::option::of(0u64..1000),
        small_map(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(ty, content_type, filename, attachment_type, item_count, other, payload)| Item {
                headers: ItemHeaders {
                    ty,
                    content_type,
                    filename,
                    attachment_type: attachment_type.map(str::to_owned),
                    item_count,
                    other,
                },
                payload: Bytes::from(payload),
            },
        )
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        prop::option::of(any::<[u8; 16]>().prop_map(EventId::from_bytes)),
        prop::option::of("https://[a-f0-9]{32}@[a-z]{1,10}\\.example/[0-9]{1,5}"),
        prop::option::of((0i64..4_000_000_000, 0u32..1_000_000)),
        prop::option::of(("[a-z.]{1,12}", "[0-9.]{1,6}")),
        small_map(),
        prop::collection::vec(item(), 0..6),
    )
        .prop_map(|(event_id, dsn, sent_at, sdk, other, mut items)| {
            // At most one event or transaction item.
            let mut seen = false;
            items.retain(|i| !(i.headers.ty.is_event_like() && std::mem::replace(&mut seen, true)));
            Envelope {
                headers: EnvelopeHeaders {
                    event_id,
                    dsn,
                    sdk: sdk.map(|(name, version)| ClientSdk {
                        name: Some(name),
                        version: Some(version),
                        other: Map::new(),
                    }),
                    sent_at: sent_at.and_then(|(s, micros)| {
                        Timestamp::from_unix_f64(s as f64 + f64::from(micros) / 1e6)
                    }),
                    trace: None,
                    other,
                },
                items,
            }
        })
}

/// Arbitrary JSON, with keys that hit the typed parts of `Event`.
fn json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(
        &[
            "values",
            "type",
            "value",
            "frames",
            "stacktrace",
            "mechanism",
            "handled",
            "lineno",
            "in_app",
            "pre_context",
            "vars",
            "message",
            "formatted",
            "params",
            "id",
            "crashed",
            "name",
            "version",
            "exception_id",
            "x",
        ][..],
    );
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        // Floats with short decimal forms (serde_json's float parsing is not exact
        // for all 17-digit values, which is not what this test is about).
        any::<i32>().prop_map(|i| Value::from(f64::from(i) / 4.0)),
        "\\PC{0,10}".prop_map(Value::from),
        Just(Value::from("ValueError: boom")),
        Just(Value::from("2024-03-19T11:50:26.4997")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..5).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

const EVENT_KEYS: &[&str] = &[
    "event_id",
    "timestamp",
    "level",
    "platform",
    "logger",
    "logentry",
    "message",
    "sentry.interfaces.Message",
    "exception",
    "sentry.interfaces.Exception",
    "threads",
    "stacktrace",
    "fingerprint",
    "tags",
    "release",
    "dist",
    "environment",
    "transaction",
    "server_name",
    "sdk",
    "user",
    "request",
    "contexts",
    "extra",
    "breadcrumbs",
    "modules",
];

proptest! {
    // 256 cases by default; set PROPTEST_CASES for a longer run.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn envelopes_round_trip(env in envelope()) {
        let bytes = env.to_bytes();
        let parsed = Envelope::parse(Bytes::from(bytes.clone()), &ParseLimits::default()).unwrap();
        prop_assert_eq!(&parsed, &env);
        prop_assert_eq!(parsed.to_bytes(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let limits = ParseLimits { max_items: 8, max_item_size: 64, max_header_size: 128 };
        let _ = Envelope::parse_slice(&bytes, &limits);
        let _ = Event::from_slice(&bytes);
        let _ = decode_store_body(&bytes, 1024);
        let text = String::from_utf8_lossy(&bytes);
        let _ = Auth::from_header(&text);
        let _ = Auth::from_query(&text);
        let _ = Auth::from_request(Some(&text), Some(&text), Some(&text));
        let _ = Dsn::parse(&text);
    }

    #[test]
    fn envelope_like_bytes_never_panic(
        header in prop::sample::select(&["{}", "{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}", "{", ""][..]),
        parts in prop::collection::vec((
            prop::sample::select(&["event", "attachment", "transaction", "x"][..]),
            prop::option::of(0u64..40),
            prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'{'), Just(b'}'), any::<u8>()], 0..40),
        ), 0..5),
    ) {
        let mut body = header.as_bytes().to_vec();
        for (ty, length, payload) in parts {
            body.push(b'\n');
            match length {
                Some(n) => body.extend(format!("{{\"type\":\"{ty}\",\"length\":{n}}}").bytes()),
                None => body.extend(format!("{{\"type\":\"{ty}\"}}").bytes()),
            }
            body.push(b'\n');
            body.extend(payload);
        }
        if let Ok(env) = Envelope::parse_slice(&body, &ParseLimits::default()) {
            // Whatever parses, writes and parses back the same.
            let again = Envelope::parse_slice(&env.to_bytes(), &ParseLimits::default()).unwrap();
            prop_assert_eq!(again, env);
        }
    }

    #[test]
    fn any_json_object_is_an_event(fields in prop::collection::btree_map(prop::sample::select(EVENT_KEYS), json(), 0..8)) {
        let object: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let text = serde_json::to_vec(&Value::Object(object)).unwrap();
        let event = Event::from_slice(&text).unwrap();
        // Writing it and reading it back is stable.
        let again = Event::from_slice(&serde_json::to_vec(&event).unwrap()).unwrap();
        prop_assert_eq!(again, event);
    }

    #[test]
    fn auth_header_round_trip(
        key in "[a-f0-9]{32}|[A-Za-z0-9_-]{1,40}",
        version in prop::option::of(0u32..=7),
        client in prop::option::of("[a-zA-Z0-9./_-]{1,30}"),
    ) {
        let auth = Auth { public_key: key, version, client, project_id: None };
        prop_assert_eq!(Auth::from_header(&auth.to_header()).unwrap(), auth.clone());
        prop_assert_eq!(Auth::from_query(&auth.to_query()).unwrap(), auth.clone());
        prop_assert_eq!(
            Auth::from_request(Some(&auth.to_header()), None, Some(&auth.to_query())).unwrap(),
            Some(auth)
        );
    }

    #[test]
    fn auth_query_round_trip_any_client(key in "\\PC{1,20}", client in "\\PC{1,30}") {
        let auth = Auth { public_key: key, version: Some(7), client: Some(client), project_id: None };
        prop_assert_eq!(Auth::from_query(&auth.to_query()).unwrap(), auth);
    }

    #[test]
    fn dsn_round_trip(
        https in any::<bool>(),
        key in "[a-f0-9]{32}|[a-z0-9]{1,12}",
        secret in prop::option::of("[a-f0-9]{1,32}"),
        host in "[a-z][a-z0-9.-]{0,20}|\\[::1\\]|127\\.0\\.0\\.1",
        port in prop::option::of(any::<u16>()),
        path in prop::collection::vec("[a-z0-9_-]{1,8}", 0..3),
        project in any::<u64>(),
    ) {
        let scheme = if https { "https" } else { "http" };
        let mut text = format!("{scheme}://{key}");
        if let Some(s) = &secret { text.push_str(&format!(":{s}")); }
        text.push_str(&format!("@{host}"));
        if let Some(p) = port { text.push_str(&format!(":{p}")); }
        let prefix: String = path.iter().map(|p| format!("/{p}")).collect();
        text.push_str(&format!("{prefix}/{project}"));

        let dsn = Dsn::parse(&text).unwrap();
        prop_assert_eq!(dsn.to_string(), text.clone());
        prop_assert_eq!(dsn.public_key(), key.as_str());
        prop_assert_eq!(dsn.secret(), secret.as_deref());
        prop_assert_eq!(dsn.host(), host.as_str());
        prop_assert_eq!(dsn.port(), port);
        prop_assert_eq!(dsn.path(), prefix.as_str());
        prop_assert_eq!(dsn.project_id(), project);
        prop_assert_eq!(Dsn::parse(&dsn.to_string()).unwrap(), dsn.clone());
        let auth = Auth::from_dsn(&text).unwrap();
        prop_assert_eq!(auth.project_id, Some(project));
        prop_assert_eq!(auth.public_key, key);
    }

    #[test]
    fn event_ids_round_trip(bytes in any::<[u8; 16]>()) {
        let id = EventId::from_bytes(bytes);
        let text = id.to_string();
        prop_assert_eq!(text.len(), 32);
        prop_assert_eq!(text.parse::<EventId>().unwrap(), id);
        let dashed = format!("{}-{}-{}-{}-{}", &text[..8], &text[8..12], &text[12..16], &text[16..20], &text[20..]);
        prop_assert_eq!(EventId::parse(&dashed.to_uppercase()), Some(id));
    }
}
