"""Sends events to a Periscope server with the official Python SDK (sentry-sdk 2.x).

Run by tests/e2e_python.rs: `python sdk_e2e.py DSN`. Prints one JSON object on its
last line mapping a case name to the event id(s) the SDK gave, which the Rust side
then looks up in the database. Every kind of event an application sends:
an exception with a stack trace (twice, from the same place), a message (twice,
different numbers), a chained exception (`raise X from Y`), a custom fingerprint,
breadcrumbs and tags.
"""

import json
import sys

import sentry_sdk


def parse_port(text):
    return int(text)


def load_settings(path):
    try:
        return parse_port(path.rsplit(":", 1)[-1])
    except ValueError as e:
        raise RuntimeError("could not load settings from " + path) from e


def divide(total, parts):
    return total / parts


def main():
    dsn = sys.argv[1]
    sentry_sdk.init(
        dsn=dsn,
        release="py-e2e@2.0.0",
        environment="test",
        default_integrations=False,
        auto_enabling_integrations=False,
        traces_sample_rate=None,
    )
    ids = {}

    # 1. An exception with a stack trace, twice from the same place: one issue.
    ids["exception"] = []
    for parts in (0, 0):
        try:
            divide(10, parts)
        except ZeroDivisionError:
            ids["exception"].append(sentry_sdk.capture_exception())

    # 2. A message twice, different numbers: one issue.
    ids["message"] = [
        sentry_sdk.capture_message("Invoice %d could not be rendered" % n, level="warning")
        for n in (1001, 2002)
    ]

    # 3. A chained exception: raise X from Y.
    try:
        load_settings("db.example:not-a-port")
    except RuntimeError:
        ids["chained"] = sentry_sdk.capture_exception()

    # 4. A custom fingerprint: two different exceptions, one issue.
    ids["fingerprint"] = []
    for exc in (KeyError("tenant-7"), LookupError("tenant index gone")):
        with sentry_sdk.new_scope() as scope:
            scope.fingerprint = ["tenant-lookup"]
            try:
                raise exc
            except Exception:
                ids["fingerprint"].append(sentry_sdk.capture_exception())

    # 5. Breadcrumbs and tags.
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("feature", "reports")
        scope.set_tag("customer.tier", "silver")
        sentry_sdk.add_breadcrumb(category="query", message="SELECT 1", level="info")
        sentry_sdk.add_breadcrumb(category="ui.click", message="button#export")
        try:
            {}["report_id"]
        except KeyError:
            ids["tagged"] = sentry_sdk.capture_exception()

    sentry_sdk.flush(timeout=20)
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
