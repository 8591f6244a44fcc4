//! Events grouped per second over the event corpus, on one core.
//!
//! ```text
//! PERISCOPE_CORPUS_DIR=/path/to/event-samples cargo bench -p periscope-grouping
//! ```
//!
//! The events are parsed once, outside the timed loop; one iteration groups
//! every event of the corpus once, and criterion reports the throughput in
//! elements (events) per second. `corpus-50-rules/periscope:2026-12` groups
//! it for a project with 50 rules of its own (25 fingerprint rules, 25
//! stack-trace rules, with globs as projects write them), to compare with
//! `corpus/periscope:2026-12`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use periscope_grouping::rules::{FingerprintRules, StacktraceRules};
use periscope_grouping::{ConfigId, Grouper, GroupingConfig};
use periscope_sentry_envelope::Event;

fn corpus_dir() -> Option<PathBuf> {
    let value = std::env::var_os("PERISCOPE_CORPUS_DIR")?;
    let path = PathBuf::from(value);
    Some(if path.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    } else {
        path
    })
}

fn load_events(dir: &Path) -> Vec<Event> {
    let mut events = Vec::new();
    for sub in ["sentry", "bugsink", "glitchtip"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        for p in paths {
            if let Ok(event) = Event::from_slice(&std::fs::read(&p).unwrap()) {
                events.push(event);
            }
        }
    }
    events
}

/// 25 fingerprint rules, as a project might write them; a few match corpus events.
const FINGERPRINT_RULES: &str = r#"
error.type:DatabaseUnavailable -> system-down
error.type:"OperationalError" error.value:"*could not connect*" -> database-down
error.type:ConnectionError* -> connection, {{ transaction }}
error.type:*TimeoutError -> timeout, {{ transaction }}
error.value:"*connection reset by peer*" -> connection-reset
message:"*rate limit*" -> rate-limited, {{ tags.endpoint }}
logger:shop.payments.* level:error -> payments, {{ logger }}
logger:celery.* -> celery, {{ default }}
tags.environment:staging error.type:* -> staging, {{ error.type }}
stack.function:*PaymentGateway* -> payment-gateway title="Payment gateway: {{ error.value }}"
stack.module:com.shop.legacy.* -> legacy, {{ default }}
stack.abs_path:**/vendor/acme-sdk/** -> acme-sdk
error.type:java.net.SocketTimeoutException -> socket-timeout
error.type:org.hibernate.* stack.module:com.shop.* -> hibernate, {{ default }}
error.type:ChunkLoadError -> chunk-load-error
error.value:"Loading chunk * failed*" -> chunk-load-error
error.type:ResizeObserver* -> resize-observer
message:"Non-Error promise rejection captured*" -> non-error-rejection
family:native error.type:EXC_BAD_ACCESS stack.function:objc_msgSend -> zombie-object
family:javascript stack.abs_path:**/node_modules/react-dom/** -> react-dom, {{ default }}
sdk:sentry.python* error.type:KeyError -> key-error, {{ default }}
release:"1.2.*" error.type:ValueError -> old-release-value-error
level:fatal stack.package:**/libgame.so -> game-engine, {{ default }}
tags.customer:"big-*" -> big-customer, {{ tags.customer }}, {{ default }}
stack.function:handle_webhook* !app:yes -> webhook
"#;

/// 25 stack-trace rules, as a project might write them.
const STACKTRACE_RULES: &str = r#"
stack.module:com.shop.vendor.* -app
stack.module:com.shop.* +app
stack.abs_path:**/vendor/** -app
stack.abs_path:**/src/shop/** +app
stack.package:**/MyGame.app/** +app
family:native stack.function:mygame::* +app
family:native stack.function:mygame::log::* -group
stack.function:log_* -group
stack.function:*Logger* -group
stack.module:shop.utils.retry -group
[ stack.function:retry* ] | stack.function:* -group
stack.function:dispatch* | [ stack.function:handle* ] -group
stack.module:django.* -app
stack.module:flask.* -app
stack.abs_path:**/site-packages/sqlalchemy/** -app -group
family:javascript stack.abs_path:**/static/js/vendor.*.js -app -group
family:javascript stack.function:__webpack_require__ -group
family:javascript stack.module:lodash* -app
stack.module:io.reactivex.* -app -group
stack.module:kotlinx.coroutines.* -app
error.type:OutOfMemoryError stack.function:* max-frames=5
family:native stack.function:*Allocator* category=alloc
category:alloc -group
app:yes stack.function:main min-frames=1
family:native stack.package:**/libcrashhandler.so -app -group
"#;

fn bench(c: &mut Criterion) {
    let Some(dir) = corpus_dir() else {
        eprintln!("skipped: PERISCOPE_CORPUS_DIR not set");
        return;
    };
    let events = load_events(&dir);
    let mut group = c.benchmark_group("group");
    group.throughput(Throughput::Elements(events.len() as u64));
    for strategy in ConfigId::ALL {
        let grouper = Grouper::new(GroupingConfig::new(*strategy));
        group.bench_function(format!("corpus/{strategy}"), |b| {
            b.iter(|| {
                for event in &events {
                    black_box(grouper.group(black_box(event)));
                }
            })
        });
    }
    let project = GroupingConfig::with_rules(
        ConfigId::Periscope2026_12,
        FingerprintRules::parse(FINGERPRINT_RULES).unwrap(),
        StacktraceRules::parse(STACKTRACE_RULES).unwrap(),
    );
    assert_eq!(project.fingerprint_rules().len(), 25);
    assert_eq!(project.stacktrace_rules().len(), 25);
    let grouper = Grouper::new(project);
    group.bench_function("corpus-50-rules/periscope:2026-12", |b| {
        b.iter(|| {
            for event in &events {
                black_box(grouper.group(black_box(event)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
