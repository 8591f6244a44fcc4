//! Email delivery against a local SMTP server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use periscope_notify::{
    ConfigError, DeliveryError, Destination, Dispatcher, DispatcherConfig, EmailNotifier, Notifier,
    SmtpConfig,
};
use periscope_test_support::smtp::Session;
use support::{RefusingPort, SmtpOptions, SmtpRecorder, alert};

fn mailer(smtp_url: String) -> Dispatcher {
    Dispatcher::new(DispatcherConfig {
        smtp: Some(SmtpConfig::new(
            smtp_url,
            "Periscope <alerts@periscope.test>",
        )),
        timeout: Duration::from_secs(10),
        ..DispatcherConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn email_reaches_every_recipient_with_subject_and_both_bodies() {
    let server = SmtpRecorder::start();
    let destination = Destination::Email {
        to: vec!["oncall@shop.test".into(), "Dev Team <dev@shop.test>".into()],
    };
    mailer(server.url())
        .deliver(&alert(), &destination)
        .await
        .unwrap();

    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "alerts@periscope.test");
    assert_eq!(mail.to, vec!["oncall@shop.test", "dev@shop.test"]);
    let data = &mail.decoded();
    assert!(
        data.contains(
            "Subject: [Periscope] New issue in shop: ZeroDivisionError: division by zero"
        ),
        "{data}"
    );
    assert!(
        data.contains("From: Periscope <alerts@periscope.test>"),
        "{data}"
    );
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(data.contains("text/plain"), "{data}");
    assert!(data.contains("text/html"), "{data}");
    assert!(data.contains("in app.views.divide"), "{data}");
    assert!(
        data.contains("Open in Periscope: http://periscope.test/issues/42"),
        "{data}"
    );
    assert!(
        data.contains("<a href=\"http://periscope.test/issues/42\">Open in Periscope</a>"),
        "{data}"
    );
    assert!(
        data.contains("<td>Environment</td><td>production</td>")
            || data.contains(">Environment</td><td>production</td>"),
        "{data}"
    );
}

#[tokio::test]
async fn rejected_recipient_is_a_permanent_smtp_error() {
    let server = SmtpRecorder::with(SmtpOptions {
        reject_recipient: Some("gone@shop.test".into()),
        ..SmtpOptions::default()
    });
    let destination = Destination::Email {
        to: vec!["gone@shop.test".into()],
    };
    let err = mailer(server.url())
        .deliver(&alert(), &destination)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "smtp: 550 mailbox unavailable");
    assert!(err.is_permanent());
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn unreachable_smtp_server_is_retryable() {
    // Bound and never listening: refused at once, and no one else can take the port.
    let refusing = RefusingPort::new();
    let port = refusing.port();
    let err = mailer(format!("smtp://127.0.0.1:{port}?tls=none"))
        .deliver(
            &alert(),
            &Destination::Email {
                to: vec!["a@shop.test".into()],
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Connect { .. }), "{err:?}");
    assert!(!err.is_permanent());
    assert!(
        err.to_string()
            .starts_with(&format!("smtp: cannot connect to 127.0.0.1:{port}: ")),
        "{err}"
    );
}

#[tokio::test]
async fn silent_smtp_server_times_out() {
    // Accepts the connection but never greets.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let dispatcher = Dispatcher::new(DispatcherConfig {
        smtp: Some(SmtpConfig::new(
            format!("smtp://{addr}?tls=none"),
            "alerts@periscope.test",
        )),
        timeout: Duration::from_millis(300),
        ..DispatcherConfig::default()
    })
    .unwrap();
    let err = dispatcher
        .deliver(
            &alert(),
            &Destination::Email {
                to: vec!["a@shop.test".into()],
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Timeout { .. }), "{err:?}");
    assert!(!err.is_permanent());
}

#[tokio::test]
async fn email_without_smtp_configuration_is_refused_clearly() {
    let dispatcher = Dispatcher::new(DispatcherConfig::default()).unwrap();
    let err = dispatcher
        .deliver(
            &alert(),
            &Destination::Email {
                to: vec!["a@shop.test".into()],
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent());
    assert!(err.to_string().contains("PERISCOPE_SMTP_URL"), "{err}");
}

#[tokio::test]
async fn bad_recipient_is_a_configuration_error() {
    let server = SmtpRecorder::start();
    let err = mailer(server.url())
        .deliver(
            &alert(),
            &Destination::Email {
                to: vec!["not an address".into()],
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeliveryError::Misconfigured { .. }),
        "{err:?}"
    );
    assert!(err.is_permanent());
    assert!(server.mails().is_empty());
}

#[test]
fn bad_smtp_configuration_stops_the_dispatcher() {
    let err = Dispatcher::new(DispatcherConfig {
        smtp: Some(SmtpConfig::new(
            "smtp://mail.test?tls=sometimes",
            "a@b.test",
        )),
        ..DispatcherConfig::default()
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::SmtpUrl(_)), "{err}");
    let err = Dispatcher::new(DispatcherConfig {
        smtp: Some(SmtpConfig::new("smtps://mail.test", "nobody")),
        ..DispatcherConfig::default()
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::EmailAddress { .. }), "{err}");
}

#[test]
fn tls_modes_build() {
    for url in [
        "smtps://user:pass@mail.test",
        "smtp://user:pass@mail.test:587",
        "smtp://mail.test?tls=opportunistic",
    ] {
        Dispatcher::new(DispatcherConfig {
            smtp: Some(SmtpConfig::new(url, "a@b.test")),
            ..DispatcherConfig::default()
        })
        .unwrap();
    }
}

// The TLS modes observed on the wire. The recorder has no certificate a client
// would trust (the dispatcher trusts the web PKI roots only), so a handshake never
// completes: what these tests see is that the client turned to TLS, when, and that
// no mail went over plain text before it.

/// Delivers one mail through `url`; the error, if any.
async fn send_via(url: String) -> Option<DeliveryError> {
    mailer(url)
        .deliver(
            &alert(),
            &Destination::Email {
                to: vec!["a@shop.test".into()],
            },
        )
        .await
        .err()
}

/// The first session the recorder saw end (sessions end after the client gave up).
fn first_session(server: &SmtpRecorder) -> Session {
    periscope_test_support::wait::until("the SMTP session", Duration::from_secs(10), || {
        server.sessions().into_iter().next()
    })
}

fn offering_starttls() -> SmtpRecorder {
    SmtpRecorder::with(SmtpOptions {
        offer_starttls: true,
        ..SmtpOptions::default()
    })
}

#[tokio::test]
async fn starttls_mode_upgrades_before_sending_anything() {
    let server = offering_starttls();
    let err = send_via(format!("smtp://{}", server.addr)).await;
    assert!(err.is_some(), "no handshake can complete here");
    let session = first_session(&server);
    assert_eq!(session.commands, ["EHLO", "STARTTLS"], "{session:?}");
    assert!(
        session.tls_after_starttls,
        "a ClientHello followed STARTTLS"
    );
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn opportunistic_mode_upgrades_when_offered_and_sends_plain_otherwise() {
    let server = offering_starttls();
    let err = send_via(format!("smtp://{}?tls=opportunistic", server.addr)).await;
    assert!(err.is_some(), "no handshake can complete here");
    let session = first_session(&server);
    assert_eq!(session.commands, ["EHLO", "STARTTLS"], "{session:?}");
    assert!(session.tls_after_starttls);
    assert!(
        server.mails().is_empty(),
        "no fallback to plain text once offered"
    );

    let plain = SmtpRecorder::start();
    let err = send_via(format!("smtp://{}?tls=opportunistic", plain.addr)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(plain.mails().len(), 1);
    assert!(
        !first_session(&plain)
            .commands
            .iter()
            .any(|c| c == "STARTTLS")
    );
}

#[tokio::test]
async fn none_mode_never_starts_tls_even_when_offered() {
    let server = offering_starttls();
    let err = send_via(server.url()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(server.mails().len(), 1);
    let session = first_session(&server);
    assert!(
        !session.commands.iter().any(|c| c == "STARTTLS"),
        "{session:?}"
    );
}

#[tokio::test]
async fn smtps_mode_speaks_tls_from_the_first_byte() {
    let server = SmtpRecorder::with(SmtpOptions {
        detect_implicit_tls: Some(Duration::from_secs(5)),
        ..SmtpOptions::default()
    });
    let err = send_via(format!("smtps://{}", server.addr)).await;
    assert!(err.is_some(), "no handshake can complete here");
    let session = first_session(&server);
    assert!(
        session.implicit_tls,
        "a ClientHello before any SMTP: {session:?}"
    );
    assert!(session.commands.is_empty());
}

#[tokio::test]
async fn internal_logger_always_succeeds() {
    let dispatcher = Dispatcher::new(DispatcherConfig::default()).unwrap();
    dispatcher
        .deliver(&alert(), &Destination::InternalLogger)
        .await
        .unwrap();
}

#[tokio::test]
async fn credentials_from_the_url_are_used() {
    let server = SmtpRecorder::with(SmtpOptions {
        auth: true,
        ..SmtpOptions::default()
    });
    let url = format!(
        "smtp://alert%40shop.test:p%40ss%2Fword@{}?tls=none",
        server.addr
    );
    mailer(url)
        .deliver(
            &alert(),
            &Destination::Email {
                to: vec!["a@shop.test".into()],
            },
        )
        .await
        .unwrap();
    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].auth.as_deref(),
        Some("\0alert@shop.test\0p@ss/word")
    );
}

#[tokio::test]
async fn starttls_is_required_by_default() {
    // The server offers no STARTTLS: a bare smtp:// URL must not fall back to plain text.
    let server = SmtpRecorder::start();
    let err = mailer(format!("smtp://{}", server.addr))
        .deliver(
            &alert(),
            &Destination::Email {
                to: vec!["a@shop.test".into()],
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert!(err.to_string().contains("STARTTLS"), "{err}");
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn email_notifier_works_alone_and_refuses_other_destinations() {
    let server = SmtpRecorder::start();
    let notifier = EmailNotifier::new(
        &SmtpConfig::new(server.url(), "alerts@periscope.test"),
        Duration::from_secs(10),
    )
    .unwrap();
    notifier
        .deliver(
            &alert(),
            &Destination::Email {
                to: vec!["a@shop.test".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(server.mails().len(), 1);
    let err = notifier
        .deliver(&alert(), &Destination::InternalLogger)
        .await
        .unwrap_err();
    assert!(err.is_permanent());
    assert_eq!(
        err.to_string(),
        "smtp: this notifier does not handle destinations of type internal_logger"
    );
}
