"""Sends one error the way an application would, for the web UI's browser test.

Run by tests/ui_browser.rs: `python ui_event.py DSN`. The error is raised inside a
callback that the standard library's json module calls, so its stack has the
application's frames (with source context and local variables) and library frames
between them. The event carries a release, an environment, tags, a user and
breadcrumbs. Prints the event id on its last line.
"""

import json
import logging
import sys

import sentry_sdk


def check_order(obj):
    quantity = obj.get("quantity", 0)
    if quantity > 10:
        raise ValueError("order quantity %d is over the limit" % quantity)
    return obj


def load_order(text):
    return json.loads(text, object_hook=check_order)


def main():
    sentry_sdk.init(
        dsn=sys.argv[1],
        release="shop@1.4.2",
        environment="production",
        default_integrations=False,
        auto_enabling_integrations=False,
        traces_sample_rate=None,
    )
    sentry_sdk.set_tag("customer_tier", "gold")
    sentry_sdk.set_tag("region", "eu-west")
    sentry_sdk.set_user({"id": "user-42", "email": "ada@example.com"})
    sentry_sdk.add_breadcrumb(category="auth", message="user ada signed in", level="info")
    sentry_sdk.add_breadcrumb(category="cart", message="added 12 lamps to the cart", level="info")
    try:
        load_order('{"item": "lamp", "quantity": 12}')
    except ValueError:
        event_id = sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)
    print(event_id)


if __name__ == "__main__":
    main()
