//! Sentry-grade grouping of error events into issues, with an explanation.
//!
//! Users of an error tracker care about *issues*, not events: a thousand
//! `KeyError`s raised by the same line are one problem. This crate decides which
//! issue an event belongs to. It is a pure function of the event — no I/O, no
//! clock, no global mutable state — so it can run inside a server, a CLI or an
//! offline analysis tool alike.
//!
//! # Shape
//!
//! - [`Grouper`] holds a [`GroupingConfig`] (which versioned configuration,
//!   a [`ConfigId`]) and has one method, [`Grouper::group`], from a
//!   [`periscope_sentry_envelope::Event`] to a [`Grouping`]. It never fails:
//!   an event with nothing usable gets a fixed fallback key.
//! - [`Grouping`] is the decision: the `key` (32 hex characters of a SHA-256),
//!   the `other_keys` an existing issue may be found under ([`Grouping::keys`]
//!   lists all, in lookup order), the `config` that decided, a `title`, a
//!   `culprit`, the winning `variant`, and the `explanation`, a
//!   [`Component`] tree that records every part that was considered, whether
//!   it counted, and if not, why. The key is computed *from* that tree, so the
//!   explanation can never disagree with the key.
//! - [`parameterize`] is the message normalisation (numbers, UUIDs, IPs, emails,
//!   URLs, dates ... become `<int>`, `<uuid>` ...), exposed because it is useful
//!   on its own.
//!
//! # The Sentry-like configurations
//!
//! They follow Sentry's documented behaviour (`newstyle:2023-01-11`), which is
//! what users of every Sentry SDK expect:
//!
//! 1. an SDK `fingerprint` without `{{ default }}` is the key (*custom*); one with
//!    `{{ default }}` mixes the built-in values in (*hybrid*); variables such as
//!    `{{ transaction }}` or `{{ tags.server }}` are resolved;
//! 2. otherwise the first of chained exception → threads → stack trace →
//!    message that contributes wins, computed twice: the **app** variant (only
//!    in-app frames) wins when an in-app frame contributes, else the **system**
//!    variant (all frames);
//! 3. frames count by module (or lowercased file base name), normalized function
//!    and, for script platforms, context line — never by line number, so a
//!    deploy that shifts lines keeps its issues.
//!
//! Two more facts of Sentry's implementation are applied because the corpus
//! shows they matter: JavaScript function names count by their last segment
//! (`Foo.prototype.bar` = `bar`, so one error is one issue across browsers), and
//! native names lose build-specific noise (MSVC anonymous-namespace hashes,
//! `.cold.N` suffixes). The crate README lists every rule with examples.
//!
//! # Rules
//!
//! Per-project rules in Sentry's syntax live in [`rules`]: fingerprint rules
//! (`error.type:DbError -> database, {{ transaction }}`) and stack-trace rules
//! (`stack.function:std::* -app`), parsed and bounded once per project and
//! carried by the configuration ([`GroupingConfig::with_rules`]; they are not
//! serialized: a server stores their text). They apply under every
//! configuration, since they are the project's explicit wish:
//!
//! - **fingerprint rules**, before the built-in strategy: the first rule
//!   that matches gives the fingerprint, grouped exactly as an SDK
//!   fingerprint (custom, or hybrid with `{{ default }}`). It **replaces the
//!   SDK's fingerprint** when the event has one, as Sentry's server-side
//!   fingerprinting does (its `apply_server_fingerprinting` overwrites the
//!   event's fingerprint and keeps the client's only for display); the
//!   explanation shows the replaced one as a non-contributing
//!   `client-fingerprint`. The fingerprint component's hint names the rule
//!   (`fingerprint rule 1 (line 2): error.type:DatabaseUnavailable ->
//!   system-down`); `title="..."` sets the title, its variables resolved as
//!   in a fingerprint, within [`MAX_TITLE_CHARS`];
//! - **stack-trace rules**, once per stack trace the strategy considers
//!   (exceptions' and the thread's), for both variants: a rule's `+app` /
//!   `-app` overrides the client's `in_app` (which variant wins, which
//!   frames the app variant keeps, the crash frame of the culprit); `-group`
//!   excludes a frame, `+group` makes it count where a built-in rule of the
//!   strategy had not (a JavaScript eval frame, say); `category=` is
//!   recorded as a non-contributing `category` part of the frame (and seen
//!   by later rules); `max-frames=N` keeps the N contributing frames nearest
//!   the crash, `min-frames=N` drops a stack trace with fewer. Every hint
//!   names its rule: `-group by built-in rule 95 (line 140):
//!   category:threadbase -group v-group`, `+app by project rule 2 (line 3):
//!   ...`.
//!
//! A configuration may have **built-in stack-trace rules**
//! ([`ConfigId::builtin_stacktrace_rules`]): data in Sentry's syntax
//! (`src/rules/builtin/periscope-2026-12.txt`, parsed once per process), run
//! before the project's, so a project rule overrides a built-in one. Only
//! `periscope:2026-12` has some (the crate README lists them); without
//! project rules the frozen configurations give the keys they always gave.
//!
//! # Versioned configurations
//!
//! A project's issues are found by key, so a rule that changes keys orphans
//! every issue. Rules therefore never change in place: a set of rules is a
//! configuration with a stable id, frozen once released, and better rules are
//! a new configuration that a project adopts deliberately (as Sentry's
//! `newstyle:2023-01-11` and its successors):
//!
//! - `periscope:2026-11` ([`ConfigId::Periscope2026_11`]): the rules above,
//!   as first released (stored as `default` before versioning);
//! - `type-and-value:2026-11` ([`ConfigId::TypeAndValue2026_11`]): type and
//!   parameterized value of the primary exception, else the message, the
//!   simple alternative (stored as `type-and-value`);
//! - `periscope:2026-12` ([`ConfigId::NEWEST`], what new projects get):
//!   `periscope:2026-11` plus more of Sentry's rules — messages group by their
//!   template (`logentry.message`), Java generated class names keep their
//!   stable prefix (`Foo$$EnhancerBySpringCGLIB$$<auto>`), CSP reports group
//!   by directive and blocked host (Expect-CT, Expect-Staple and HPKP by host
//!   name), a JavaScript frame with a context line does not count its
//!   function name, a malformed exception group counts its top exception,
//!   frames of iOS app bundles are in-app, built-in stack-trace rules
//!   (Sentry's: an abort or terminate frame counts and nothing it called
//!   does; thread bases and their callers, C++ library internals, call
//!   wrappers and crash reporters do not count; JavaScript helpers and
//!   polyfills are not in-app ...); and when the app variant wins, the
//!   system variant's key is a second key ([`Grouping::other_keys`]).
//!
//! **The key-version rule.** Every key starts its hash with a version tag.
//! The two configurations released before versioning keep theirs
//! (`periscope-grouping/1`), so none of their keys moved; every later
//! configuration's tag names it, so its keys differ from every other
//! configuration's even for events the rules treat alike, and a project that
//! switches can never half-match old issues. `tests/pinned_keys.rs` pins the
//! literal keys of a dozen event shapes per configuration and
//! `tests/corpus_keys.rs` those of the 190 corpus events.
//!
//! # Cost
//!
//! Only the winning path is computed in full: once a strategy contributes, the
//! later ones are only named in the tree; the app variant is skipped for events
//! without in-app frames, and the system variant is only named when the app
//! variant wins (under `periscope:2026-12` it is computed, for the second
//! key: up to twice the work). Stack-trace rules are applied once per stack
//! trace, not per variant, and not at all without rules; a rule that needs
//! another platform family than the stack trace's is skipped as a whole, and
//! globs reject on their literal prefix, suffix and longest literal run
//! before matching. On one core (`cargo bench --bench group`), the 190-event
//! corpus groups at about 47,000 events per second under
//! `periscope:2026-11`, 8,800 under `periscope:2026-12` (its 110 built-in
//! rules run over every native frame) and 6,400 with a project's 50 rules
//! on top.
//!
//! # Limits
//!
//! Event DSNs are public, so grouping must cost time and memory linear in the
//! event's size and small in absolute terms whatever the event's shape (issue
//! 12: a 171 KB event repeating `{{ default }}` 1,000 times over 3,000 frames
//! built six million components, 800 MB). The limits, each a documented
//! constant of [`limits`], lie well beyond what real SDKs send (the corpus's
//! largest values in parentheses), so they never change a real event's key;
//! beyond one, grouping goes on with what is within it and says so in the
//! explanation:
//!
//! - `{{ default }}` counts once: later repeats are dropped (one note says how
//!   many); every fingerprint variable is resolved once per event, tags in one
//!   pass over the tags;
//! - [`limits::MAX_FINGERPRINT_PARTS`] = 64 fingerprint entries (corpus: 3), each
//!   literal or resolved value cut to [`limits::MAX_FINGERPRINT_PART_CHARS`] =
//!   1,024 characters (corpus: 32);
//! - [`limits::MAX_FRAMES`] = 250 frames per stack trace, the innermost (corpus:
//!   250, Sentry's own cap);
//! - [`limits::MAX_EXCEPTIONS`] = 32 exceptions per event, the first 16 and the
//!   last 16 (corpus: 6);
//! - [`limits::MAX_MESSAGE_CHARS`] = 8,192 characters of a message or value
//!   (its first two lines) seen by parameterization (corpus: 386), which finds its
//!   matches without capture groups (one anchored set search per match);
//! - [`MAX_TITLE_CHARS`] = 256 characters of title and culprit, built from
//!   pieces cut first, the first line searched within
//!   [`limits::TITLE_SCAN_BYTES`] = 4,096 bytes.
//!
//! Nothing else loops over more than one of these at a time: an explanation
//! has at most about 85,000 components, and grouping the worst 1 MiB events
//! (`benches/worst.rs`) takes from microseconds to about 15 ms (32 exception
//! values of 8,192 characters full of numbers, parameterized one by one).
//!
//! # Example
//!
//! ```
//! use periscope_grouping::{Grouper, GroupingConfig};
//! use periscope_sentry_envelope::Event;
//!
//! let grouper = Grouper::new(GroupingConfig::default());
//! let a = Event::from_slice(br#"{"message": "User 42 not found"}"#).unwrap();
//! let b = Event::from_slice(br#"{"message": "User 97 not found"}"#).unwrap();
//! let (ga, gb) = (grouper.group(&a), grouper.group(&b));
//! assert_eq!(ga.key, gb.key);
//! assert_eq!(ga.variant, "system");
//! assert_eq!(ga.title, "User 42 not found");
//! assert_eq!(ga.contributing_values(), vec![("message", "User <int> not found")]);
//! ```

mod component;
mod config;
mod fingerprint;
mod grouper;
mod hash;
pub mod limits;
mod normalize;
pub mod rules;
mod strategy;

pub use component::Component;
pub use config::{ConfigError, ConfigId, GroupingConfig};
pub use grouper::{Grouper, Grouping, GroupingSummary};
pub use hash::KEY_LEN;
pub use limits::MAX_TITLE_CHARS;
pub use normalize::parameterize;
