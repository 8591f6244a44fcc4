//! The web UI from a test: accounts made with the CLI, and a signed-in HTTP client
//! that handles the session cookie and CSRF tokens as a browser would.

use reqwest::blocking::Client;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, ORIGIN, SET_COOKIE};

use super::Server;

/// Creates an account with the CLI; returns its generated password.
pub fn create_user(server: &Server, email: &str, admin: bool) -> String {
    let mut args = vec!["user", "create", email, "--generate", "--json"];
    if admin {
        args.push("--admin");
    }
    let out = server.cli(&args);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    v["password"].as_str().unwrap().to_owned()
}

/// An HTTP answer of the UI.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The value of the first `_csrf` field of the page's forms.
    pub fn csrf(&self) -> String {
        field_value(&self.body, "_csrf").unwrap_or_default()
    }
}

/// The `value` of the first `<input name=NAME>`.
pub fn field_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The value a response sets for cookie `name`.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A client with a cookie jar of one or two cookies, no redirects followed.
pub struct Ui {
    pub base: String,
    client: Client,
    pub cookies: Vec<(String, String)>,
}

impl Ui {
    pub fn new(server: &Server) -> Ui {
        Ui {
            base: server.base(),
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn answer(&mut self, r: reqwest::blocking::Response) -> Page {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        for name in ["periscope_session", "periscope_csrf"] {
            if let Some(v) = set_cookie(&headers, name) {
                self.cookies.retain(|(k, _)| k != name);
                if !v.is_empty() {
                    self.cookies.push((name.to_owned(), v));
                }
            }
        }
        Page {
            status,
            headers,
            body: r.text().unwrap_or_default(),
        }
    }

    pub fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .unwrap();
        self.answer(r)
    }

    /// A form post from this site's own origin.
    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.base.clone();
        self.post_from(path, form, Some(&origin))
    }

    /// A form post with a given `Origin` (None: no Origin header).
    pub fn post_from(&mut self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form);
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        let r = req.send().unwrap();
        self.answer(r)
    }

    /// Signs in through the form; panics unless it succeeds.
    pub fn sign_in(server: &Server, email: &str, password: &str) -> Ui {
        let mut ui = Ui::new(server);
        let form = ui.get("/signin");
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        let done = ui.post(
            "/signin",
            &[
                ("_csrf", &csrf),
                ("email", email),
                ("password", password),
                ("next", "/"),
            ],
        );
        assert_eq!(done.status, 303, "sign-in failed: {}", done.body);
        assert_eq!(done.header(LOCATION.as_str()), "/");
        assert!(
            ui.cookies.iter().any(|(k, _)| k == "periscope_session"),
            "no session cookie"
        );
        ui
    }
}
