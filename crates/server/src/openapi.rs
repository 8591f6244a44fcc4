//! The OpenAPI 3 description of the admin API, served at `GET /api/admin/openapi.json`.
//!
//! Written by hand as JSON (no code generation, no extra dependency); an end-to-end
//! test checks that every route of [`crate::admin::routes`] is described here and
//! that every path described here is served.

use serde_json::{Value, json};

/// The document, with `base_url` as its server.
pub fn document(base_url: &str) -> Value {
    let id = |name: &str, what: &str| {
        json!({"name": name, "in": "path", "required": true, "description": what,
               "schema": {"type": "integer", "format": "int64"}})
    };
    let project_id = id("id", "The project id.");
    let issue_id = id("id", "The issue id (unique across projects).");
    let project_scope = json!({"name": "project", "in": "query", "required": false,
        "description": "When given, the issue must belong to this project (404 otherwise); issue links in alerts carry it.",
        "schema": {"type": "integer", "format": "int64"}});
    let cursor = json!({"name": "cursor", "in": "query", "required": false,
        "description": "The next_cursor of the previous page, unchanged.", "schema": {"type": "string"}});
    let limit = json!({"name": "limit", "in": "query", "required": false,
        "description": "Page size, 1 to 1000 (default 50).",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000}});
    let err = |what: &str| json!({"description": what, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let ok = |what: &str, schema: Value| json!({"description": what, "content": {"application/json": {"schema": schema}}});
    let body = |schema: Value| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let wrap = |key: &str, name: &str| json!({"type": "object", "required": [key], "properties": {key: r(name)}});
    let list = |key: &str, name: &str, paged: bool| {
        let mut props = serde_json::Map::new();
        props.insert(key.into(), json!({"type": "array", "items": r(name)}));
        if paged {
            props.insert(
                "next_cursor".into(),
                json!({"type": ["string", "null"], "description": "Pass as ?cursor= for the next page; null on the last page."}),
            );
        }
        json!({"type": "object", "required": [key], "properties": props})
    };
    let e400 = err("Bad body, query or path (the detail says what).");
    let e401 = err(
        "No or wrong `Authorization: Bearer $API_SECRET_KEY_ADMIN`, or the key is not set on the server.",
    );
    let e404 = err("Unknown id.");
    let std = |mut responses: serde_json::Map<String, Value>| {
        responses.insert("400".into(), e400.clone());
        responses.insert("401".into(), e401.clone());
        Value::Object(responses)
    };
    let with_404 = |mut responses: serde_json::Map<String, Value>| {
        responses.insert("404".into(), e404.clone());
        std(responses)
    };
    let m = |pairs: Vec<(&str, Value)>| -> serde_json::Map<String, Value> {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    };
    let no_content = json!({"description": "Deleted."});

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Periscope admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Projects, issues, events, alerts and alert destinations of a Periscope server. Every route but this document needs `Authorization: Bearer $API_SECRET_KEY_ADMIN`. Errors are `{\"detail\": \"...\"}`. Timestamps are RFC 3339 UTC. Listings are paginated with opaque cursors, newest first."
        },
        "servers": [{"url": base_url}],
        "security": [{"adminKey": []}],
        "paths": {
            "/api/admin/openapi.json": {
                "get": {"summary": "This document.", "operationId": "openapi", "security": [],
                        "responses": {"200": {"description": "The OpenAPI document."}}}
            },
            "/api/admin/projects": {
                "get": {"summary": "List projects.", "operationId": "listProjects",
                        "responses": std(m(vec![("200", ok("All projects, by id.", list("projects", "Project", false)))]))},
                "post": {"summary": "Create a project with one client key.", "operationId": "createProject",
                         "requestBody": body(json!({"type": "object", "required": ["name"], "additionalProperties": false,
                                                    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}}})),
                         "responses": std(m(vec![("201", ok("The new project, with its DSN.", wrap("project", "Project")))]))}
            },
            "/api/admin/projects/{id}": {
                "parameters": [project_id.clone()],
                "get": {"summary": "One project.", "operationId": "getProject",
                        "responses": with_404(m(vec![("200", ok("The project.", wrap("project", "Project")))]))},
                "patch": {"summary": "Change a project's name, quotas, retention or grouping strategy. Absent fields are kept; null removes a limit.",
                          "operationId": "updateProject",
                          "requestBody": body(r("ProjectPatch")),
                          "responses": with_404(m(vec![("200", ok("The project as changed.", wrap("project", "Project")))]))},
                "delete": {"summary": "Delete a project and everything of it.", "operationId": "deleteProject",
                           "responses": with_404(m(vec![("204", no_content.clone())]))}
            },
            "/api/admin/projects/{id}/issues": {
                "parameters": [project_id.clone()],
                "get": {"summary": "A page of the project's issues, most recently seen first.", "operationId": "listIssues",
                        "parameters": [
                            {"name": "status", "in": "query", "required": false,
                             "schema": {"type": "string", "enum": ["unresolved", "resolved", "muted", "all"], "default": "unresolved"}},
                            {"name": "query", "in": "query", "required": false,
                             "description": "Words that must all appear in the title or culprit, and `key:value` terms (level:, release:, environment:, or any tag key; quote values with spaces: key:\"a b\").",
                             "schema": {"type": "string"}},
                            cursor.clone(), limit.clone()
                        ],
                        "responses": with_404(m(vec![("200", ok("A page of issues.", list("issues", "Issue", true)))]))}
            },
            "/api/admin/projects/{id}/events/{event_id}": {
                "parameters": [project_id.clone(),
                               {"name": "event_id", "in": "path", "required": true, "description": "32 hex characters (dashes allowed).",
                                "schema": {"type": "string"}}],
                "get": {"summary": "One stored event of this project: the JSON payload the SDK sent, byte for byte (header X-Periscope-Issue-Id names its issue).",
                        "operationId": "getEvent",
                        "responses": with_404(m(vec![("200", ok("The event payload.", json!({"type": "object"})))]))}
            },
            "/api/admin/projects/{id}/alerts": {
                "parameters": [project_id.clone()],
                "get": {"summary": "The project's latest alerts, newest first, with each delivery's state.", "operationId": "listAlerts",
                        "parameters": [{"name": "limit", "in": "query", "required": false,
                                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}],
                        "responses": with_404(m(vec![("200", ok("Alerts.", list("alerts", "Alert", false)))]))}
            },
            "/api/admin/projects/{id}/alert_notification_destinations": {
                "parameters": [project_id.clone()],
                "get": {"summary": "The project's alert destinations (secrets shown as ***).", "operationId": "listDestinations",
                        "responses": with_404(m(vec![("200", ok("Destinations.", list("destinations", "Destination", false)))]))},
                "post": {"summary": "Add an alert destination.", "operationId": "createDestination",
                         "requestBody": body(r("DestinationInput")),
                         "responses": with_404(m(vec![("201", ok("The new destination.", wrap("destination", "Destination")))]))}
            },
            "/api/admin/projects/{id}/alert_notification_destinations/{dest_id}": {
                "parameters": [project_id.clone(), id("dest_id", "The destination id.")],
                "delete": {"summary": "Remove an alert destination (and its pending deliveries).", "operationId": "deleteDestination",
                           "responses": with_404(m(vec![("204", no_content)]))}
            },
            "/api/admin/issues/{id}": {
                "parameters": [issue_id.clone(), project_scope.clone()],
                "get": {"summary": "One issue, with its latest event and its grouping explanation (recomputed from the latest event with the project's strategy).",
                        "operationId": "getIssue",
                        "responses": with_404(m(vec![("200", ok("The issue.", wrap("issue", "IssueDetail")))]))},
                "patch": {"summary": "Resolve (optionally in a release), mute (for a time, until a volume, or indefinitely) or reopen an issue.",
                          "operationId": "updateIssue",
                          "requestBody": body(r("IssuePatch")),
                          "responses": with_404(m(vec![("200", ok("The issue as changed.", wrap("issue", "Issue")))]))}
            },
            "/api/admin/issues/{id}/events": {
                "parameters": [issue_id, project_scope],
                "get": {"summary": "A page of the issue's stored events, newest first.", "operationId": "listIssueEvents",
                        "parameters": [cursor, limit],
                        "responses": with_404(m(vec![("200", ok("A page of events.", list("events", "EventSummary", true)))]))}
            }
        },
        "components": {
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer", "description": "The server's API_SECRET_KEY_ADMIN."}
            },
            "schemas": schemas()
        }
    })
}

fn schemas() -> Value {
    let ts = json!({"type": "string", "format": "date-time"});
    let ts_null = json!({"type": ["string", "null"], "format": "date-time"});
    let limit = json!({"type": ["integer", "null"], "minimum": 1});
    json!({
        "Error": {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}},
        "Project": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"},
            "dsn": {"type": ["string", "null"], "description": "The DSN of the first key."},
            "keys": {"type": "array", "items": {"type": "object", "properties": {
                "public_key": {"type": "string"}, "dsn": {"type": "string"}, "created_at": ts.clone()}}},
            "created_at": ts.clone(),
            "settings": {"type": "object", "properties": {
                "quota_per_minute": limit.clone(), "quota_per_hour": limit.clone(), "quota_per_day": limit.clone(),
                "max_events": limit.clone(), "max_age_days": limit.clone(), "grouping_strategy": {"type": "string"}}},
            "stored_events": {"type": "integer"}}},
        "ProjectPatch": {"type": "object", "additionalProperties": false, "properties": {
            "name": {"type": "string", "minLength": 1},
            "quota_per_minute": limit.clone(), "quota_per_hour": limit.clone(), "quota_per_day": limit.clone(),
            "max_events": limit.clone(), "max_age_days": limit,
            "grouping_strategy": {"type": "string", "enum": ["default", "type-and-value"]}}},
        "Issue": {"type": "object", "properties": {
            "id": {"type": "integer"}, "project_id": {"type": "integer"},
            "title": {"type": "string"}, "culprit": {"type": ["string", "null"]},
            "level": {"type": "string"},
            "status": {"type": "string", "enum": ["unresolved", "resolved", "muted"]},
            "count": {"type": "integer"}, "first_seen": ts.clone(), "last_seen": ts.clone(),
            "grouping_key": {"type": "string"}, "created_at": ts.clone(),
            "status_changed_at": ts_null.clone(),
            "resolved_in_release": {"type": ["string", "null"]},
            "muted_until": ts_null.clone(),
            "unmute_at_count": {"type": ["integer", "null"]}}},
        "IssueDetail": {"allOf": [{"$ref": "#/components/schemas/Issue"}, {"type": "object", "properties": {
            "grouping": {"type": "object", "properties": {
                "strategy": {"type": "string"}, "key": {"type": ["string", "null"]},
                "variant": {"type": ["string", "null"]},
                "explanation": {"description": "The grouping component tree: which parts of the event counted, and why the others did not."},
                "stored_explanation": {"type": ["string", "null"]}}},
            "latest_event": {"oneOf": [{"$ref": "#/components/schemas/EventSummary"}, {"type": "null"}]}}}]},
        "IssuePatch": {"type": "object", "required": ["status"], "additionalProperties": false, "properties": {
            "status": {"type": "string", "enum": ["resolved", "unresolved", "muted"]},
            "resolved_in_release": {"type": "string", "description": "With resolved: only events of a newer release reopen the issue."},
            "mute_for_seconds": {"type": "integer", "minimum": 1, "description": "With muted: the first event after this time unmutes."},
            "mute_until_count": {"type": "integer", "minimum": 1, "description": "With muted: unmute after this many more events."}}},
        "EventSummary": {"type": "object", "properties": {
            "event_id": {"type": "string"}, "project_id": {"type": "integer"}, "issue_id": {"type": "integer"},
            "timestamp": ts.clone(), "received_at": ts.clone(), "level": {"type": "string"},
            "title": {"type": "string"}, "culprit": {"type": ["string", "null"]},
            "release": {"type": ["string", "null"]}, "environment": {"type": ["string", "null"]},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "payload_size": {"type": "integer"}}},
        "Alert": {"type": "object", "properties": {
            "id": {"type": "integer"}, "project_id": {"type": "integer"}, "issue_id": {"type": "integer"},
            "issue_title": {"type": "string"},
            "kind": {"type": "string", "enum": ["new_issue", "regression", "unmute"]},
            "created_at": ts.clone(),
            "deliveries": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "integer"}, "destination_id": {"type": "integer"},
                "destination_type": {"type": "string"},
                "state": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                "attempts": {"type": "integer"}, "last_error": {"type": ["string", "null"]},
                "last_attempt_at": ts_null.clone(), "next_attempt_at": ts_null.clone(),
                "delivered_at": ts_null}}}}},
        "DestinationInput": {"type": "object", "required": ["type"], "properties": {
            "type": {"type": "string", "enum": ["email", "generic_webhook", "slack_webhook", "discord_webhook", "internal_logger"]},
            "url": {"type": "string", "description": "Webhook types."},
            "to": {"type": "array", "items": {"type": "string"}, "description": "email: recipients (needs PERISCOPE_SMTP_URL on the server)."},
            "secret": {"type": "string", "description": "generic_webhook: HMAC-SHA256 signing secret (X-Periscope-Signature)."},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "generic_webhook: extra headers."},
            "max_per_hour": {"type": "integer", "minimum": 1, "description": "Alerts per hour before a summary (default 60)."}}},
        "Destination": {"type": "object", "properties": {
            "id": {"type": "integer"}, "project_id": {"type": "integer"},
            "type": {"type": "string"},
            "config": {"type": "object", "description": "As given, secrets and header values shown as ***."},
            "created_at": ts}}
    })
}
