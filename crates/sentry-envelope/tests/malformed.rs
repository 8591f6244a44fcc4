//! Each malformed form gives its own error variant, with a message that says where.

#![allow(clippy::unwrap_used)]

use periscope_sentry_envelope::{
    Auth, Dsn, Envelope, Error, Event, ParseLimits, decode_store_body,
};

fn parse(body: &[u8]) -> Result<Envelope, Error> {
    Envelope::parse_slice(body, &ParseLimits::default())
}

#[test]
fn empty_body() {
    assert!(matches!(parse(b""), Err(Error::EmptyBody)));
    assert!(matches!(decode_store_body(b"", 10), Err(Error::EmptyBody)));
}

#[test]
fn bad_json_envelope_header() {
    let err = parse(b"{\"event_id\":\n{\"type\":\"event\"}\n{}\n").unwrap_err();
    assert!(matches!(err, Error::EnvelopeHeader(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("envelope header (first line) is not a valid JSON object")
    );
}

#[test]
fn bad_event_id_in_envelope_header() {
    let err = parse(b"{\"event_id\":\"not-an-id\"}\n").unwrap_err();
    assert!(matches!(err, Error::EnvelopeEventId { .. }), "{err:?}");
}

#[test]
fn bad_json_item_header() {
    let err = parse(b"{}\n{\"type\":\"event\",}\n{}\n").unwrap_err();
    assert!(matches!(err, Error::ItemHeader { index: 0, .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("item 0: header is not a valid JSON object")
    );
}

#[test]
fn item_without_type() {
    let err = parse(b"{}\n{\"length\":2}\n{}\n").unwrap_err();
    assert!(
        matches!(err, Error::MissingItemType { index: 0 }),
        "{err:?}"
    );
    let err = parse(b"{}\n{\"type\":5}\n{}\n").unwrap_err();
    assert!(
        matches!(err, Error::MissingItemType { index: 0 }),
        "{err:?}"
    );
}

#[test]
fn length_not_a_number() {
    let err = parse(b"{}\n{\"type\":\"event\",\"length\":\"2\"}\n{}\n").unwrap_err();
    assert!(
        matches!(err, Error::InvalidItemLength { index: 0 }),
        "{err:?}"
    );
}

#[test]
fn length_past_the_end() {
    let body = b"{}\n{\"type\":\"attachment\",\"length\":3}\nabc\n{\"type\":\"event\",\"length\":120}\n{\"message\":\"short\"}\n";
    let err = parse(body).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ItemLengthPastEnd {
                index: 1,
                length: 120,
                left: 20
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "item 1: length 120 runs past the end of the body (20 bytes left)"
    );
}

#[test]
fn missing_newline_after_length_delimited_payload() {
    let err = parse(b"{}\n{\"type\":\"attachment\",\"length\":3}\nabcd\n").unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingNewlineAfterPayload {
                index: 0,
                length: 3,
                found: b'd'
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("is \"length\" right?"));
}

#[test]
fn two_event_items() {
    let body =
        b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"attachment\"}\nx\n{\"type\":\"event\"}\n{}\n";
    let err = parse(body).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DuplicateEventItem {
                first: 0,
                second: 2
            }
        ),
        "{err:?}"
    );
    let body = b"{}\n{\"type\":\"transaction\"}\n{}\n{\"type\":\"event\"}\n{}\n";
    assert!(matches!(
        parse(body),
        Err(Error::DuplicateEventItem {
            first: 0,
            second: 1
        })
    ));
}

#[test]
fn limits_exceeded() {
    let limits = ParseLimits {
        max_items: 2,
        max_item_size: 10,
        max_header_size: 100,
    };
    let p = |b: &[u8]| Envelope::parse_slice(b, &limits);
    assert!(matches!(
        p(b"{}\n{\"type\":\"a\"}\n1\n{\"type\":\"a\"}\n2\n{\"type\":\"a\"}\n3\n"),
        Err(Error::TooManyItems { max: 2 })
    ));
    assert!(matches!(
        p(b"{}\n{\"type\":\"a\",\"length\":11}\n01234567890\n"),
        Err(Error::ItemTooLarge {
            index: 0,
            size: 11,
            max: 10
        })
    ));
    let long_header = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(200));
    assert!(matches!(
        p(long_header.as_bytes()),
        Err(Error::HeaderTooLong { .. })
    ));
}

#[test]
fn event_not_an_object() {
    assert!(matches!(
        Event::from_slice(b"[]"),
        Err(Error::InvalidEvent(_))
    ));
    assert!(matches!(
        Event::from_slice(b"{\"a\":1"),
        Err(Error::InvalidEvent(_))
    ));
    assert!(matches!(
        Event::from_slice(b"{\"a\":\"\xff\"}"),
        Err(Error::InvalidEvent(_))
    ));
}

#[test]
fn bad_store_bodies() {
    assert!(matches!(
        decode_store_body(b"!!!", 100),
        Err(Error::StoreBodyBase64(_))
    ));
    assert!(matches!(
        decode_store_body(b"aGVsbG8=", 100),
        Err(Error::StoreBodyUnknownFormat { .. })
    ));
    assert!(matches!(
        decode_store_body(b"{\"a\":1}", 3),
        Err(Error::StoreBodyTooLarge { max: 3 })
    ));
}

#[test]
fn wrong_auth_forms() {
    type Check = fn(&Error) -> bool;
    let cases: &[(&str, Check)] = &[
        ("Basic dXNlcjpwYXNz", |e| matches!(e, Error::AuthNotSentry)),
        ("", |e| matches!(e, Error::AuthNotSentry)),
        ("Sentry sentry_key", |e| {
            matches!(e, Error::AuthMalformedPair { .. })
        }),
        ("Sentry sentry_version=7, sentry_client=x", |e| {
            matches!(e, Error::AuthMissingKey)
        }),
        ("Sentry sentry_key=", |e| matches!(e, Error::AuthMissingKey)),
        ("Sentry sentry_key=k, sentry_version=latest", |e| {
            matches!(e, Error::AuthInvalidVersion { .. })
        }),
        ("Sentry sentry_key=k, sentry_version=8", |e| {
            matches!(e, Error::AuthUnsupportedVersion { version: 8 })
        }),
    ];
    for (header, is_expected) in cases {
        let err = Auth::from_header(header).unwrap_err();
        assert!(is_expected(&err), "{header:?} gave {err:?}");
    }
    assert!(matches!(
        Auth::from_query("sentry_key=&sentry_version=7"),
        Err(Error::AuthMissingKey)
    ));
    assert!(matches!(
        Auth::from_query("sentry_key=k&sentry_version=9"),
        Err(Error::AuthUnsupportedVersion { version: 9 })
    ));
    assert!(matches!(
        Auth::from_request(Some("Sentry sentry_key=a"), None, Some("sentry_key=b")),
        Err(Error::AuthConflict { .. })
    ));
    assert!(matches!(
        Auth::resolve(Some(Auth::new("a")), Some("https://b@host/1"), 1),
        Err(Error::AuthDsnMismatch { what: "key" })
    ));
    assert!(matches!(
        Auth::resolve(None, None, 1),
        Err(Error::AuthMissingKey)
    ));
}

#[test]
fn wrong_dsn_forms() {
    for dsn in [
        "",
        "example.com/1",
        "gopher://k@h/1",
        "https://h/1",
        "https://k@h",
        "https://k@h/x",
    ] {
        assert!(
            matches!(Dsn::parse(dsn), Err(Error::InvalidDsn { .. })),
            "{dsn:?}"
        );
    }
    assert_eq!(
        Dsn::parse("https://k@h/x").unwrap_err().to_string(),
        "invalid DSN: the project id is not a number"
    );
}
