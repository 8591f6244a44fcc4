//! Sentry wire protocol (work in progress).
