//! Content-Security-Policy reports (`security` items and `/api/{id}/security/`)
//! turned into error events.
//!
//! Browsers send either the legacy `{"csp-report": {...}}` body or the Reporting API's
//! list of `{"type": "csp-violation", "body": {...}}`. Either becomes an event with a
//! message like `Blocked 'script' from 'evil.example'`, logger `csp`, the directive as
//! culprit-worthy transaction and the report kept under `csp`, so it groups (by
//! message) and shows like any other event.

use serde_json::{Map, Value, json};

/// Builds the event JSON for a CSP report body, or says why it is not one.
pub(crate) fn csp_to_event(body: &[u8]) -> Result<Vec<u8>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("invalid CSP report JSON: {e}"))?;
    let report = match &value {
        Value::Object(o) if o.contains_key("csp-report") => {
            o.get("csp-report").cloned().unwrap_or(Value::Null)
        }
        Value::Array(list) => list
            .iter()
            .find(|r| r.get("type").and_then(Value::as_str) == Some("csp-violation"))
            .and_then(|r| r.get("body"))
            .cloned()
            .unwrap_or(Value::Null),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("csp-violation") => {
            o.get("body").cloned().unwrap_or(Value::Null)
        }
        _ => Value::Null,
    };
    let Value::Object(report) = report else {
        return Err(
            "not a CSP report: expected {\"csp-report\": {...}} or a csp-violation report list"
                .into(),
        );
    };
    let field = |names: &[&str]| -> Option<String> {
        names.iter().find_map(|n| match report.get(*n) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    let directive = field(&[
        "effective-directive",
        "effectiveDirective",
        "violated-directive",
        "violatedDirective",
    ])
    .map(|d| d.split_whitespace().next().unwrap_or_default().to_owned())
    .unwrap_or_else(|| "unknown-directive".to_owned());
    let blocked =
        field(&["blocked-uri", "blockedURL", "blocked-url"]).unwrap_or_else(|| "self".to_owned());
    let document = field(&["document-uri", "documentURL", "document-url"]);
    let kind = directive
        .trim_end_matches("-src-elem")
        .trim_end_matches("-src-attr")
        .trim_end_matches("-src");
    let blocked_host = host_of(&blocked);
    let message = match blocked.as_str() {
        "inline" | "eval" | "wasm-eval" => format!("Blocked unsafe {blocked} '{kind}'"),
        _ => format!("Blocked '{kind}' from '{blocked_host}'"),
    };
    let mut tags = Map::new();
    tags.insert(
        "effective-directive".into(),
        Value::String(directive.clone()),
    );
    tags.insert("blocked-uri".into(), Value::String(blocked.clone()));
    let mut event = json!({
        "level": "error",
        "logger": "csp",
        "platform": "javascript",
        "message": message,
        "transaction": directive,
        "tags": tags,
        "csp": Value::Object(report.clone()),
    });
    if let (Some(doc), Some(obj)) = (document, event.as_object_mut()) {
        obj.insert("request".into(), json!({ "url": doc }));
    }
    serde_json::to_vec(&event).map_err(|e| e.to_string())
}

fn host_of(uri: &str) -> String {
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_report_becomes_event() {
        let body = br#"{"csp-report":{"document-uri":"https://shop.example/cart","violated-directive":"script-src 'self'","effective-directive":"script-src","blocked-uri":"https://evil.example/x.js"}}"#;
        let event: Value = serde_json::from_slice(&csp_to_event(body).unwrap()).unwrap();
        assert_eq!(event["message"], "Blocked 'script' from 'evil.example'");
        assert_eq!(event["transaction"], "script-src");
        assert_eq!(event["request"]["url"], "https://shop.example/cart");
    }

    #[test]
    fn reporting_api_list_and_inline() {
        let body = br#"[{"type":"csp-violation","body":{"documentURL":"https://a.example/","effectiveDirective":"style-src-elem","blockedURL":"inline"}}]"#;
        let event: Value = serde_json::from_slice(&csp_to_event(body).unwrap()).unwrap();
        assert_eq!(event["message"], "Blocked unsafe inline 'style'");
    }

    #[test]
    fn not_a_report() {
        assert!(csp_to_event(b"{}").is_err());
        assert!(csp_to_event(b"nonsense").is_err());
        assert!(csp_to_event(br#"{"csp-report": 5}"#).is_err());
    }
}
