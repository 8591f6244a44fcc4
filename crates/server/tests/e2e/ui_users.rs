//! Accounts in the web UI: invitations accepted in a second session, roles,
//! reset links, one's own password and sessions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Server;
use crate::common::ui::{Ui, create_user};

fn started() -> Server {
    let mut server = Server::sqlite();
    server.start();
    server
}

/// The link shown on the users page after an action.
fn shown_link(body: &str) -> String {
    let start = body.find("id=\"link-value\">").expect("a link on the page") + 16;
    let end = body[start..].find('<').unwrap() + start;
    body[start..end].replace("&amp;", "&")
}

fn path_of(link: &str, base: &str) -> String {
    link.strip_prefix(base)
        .expect("the link is on the base URL")
        .to_owned()
}

#[test]
fn an_invitation_is_accepted_in_another_session_and_the_member_is_kept_out_of_settings() {
    let server = started();
    let (project, _dsn, _key) = server.create_project("shop");
    let admin_password = create_user(&server, "ada@example.com", true);
    let mut admin = Ui::sign_in(&server, "ada@example.com", &admin_password);
    let csrf = admin.get("/users").csrf();
    let page = admin.post(
        "/users/invite",
        &[
            ("_csrf", &csrf),
            ("email", "Mo@Example.com"),
            ("role", "member"),
        ],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    let link = shown_link(&page.body);
    assert!(
        link.starts_with(&format!("{}/invite/", server.base())),
        "{link}"
    );
    assert!(
        page.body.contains("mo@example.com"),
        "pending invitation listed"
    );

    // A second browser session, not signed in, opens the link.
    let mut guest = Ui::new(&server);
    let path = path_of(&link, &server.base());
    let form = guest.get(&path);
    assert_eq!(form.status, 200);
    assert!(form.body.contains("mo@example.com"));
    let p = guest.post(
        &path,
        &[("password", "a long password"), ("again", "another one")],
    );
    assert_eq!(p.status, 400);
    assert!(p.body.contains("differ"));
    let p = guest.post(&path, &[("password", "short"), ("again", "short")]);
    assert_eq!(p.status, 400);
    assert!(p.body.contains("at least 8"));
    let p = guest.post(
        &path,
        &[
            ("password", "a long password"),
            ("again", "a long password"),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.header("location"), "/signin?done=account");
    // Single use.
    assert_eq!(guest.get(&path).status, 404);
    let p = guest.post(
        &path,
        &[
            ("password", "a long password"),
            ("again", "a long password"),
        ],
    );
    assert_eq!(p.status, 404);

    let mut member = Ui::sign_in(&server, "mo@example.com", "a long password");
    assert_eq!(
        member.get(&format!("/projects/{project}/settings")).status,
        403
    );
    assert_eq!(member.get("/users").status, 403);
    assert_eq!(
        member.get(&format!("/projects/{project}/issues")).status,
        200
    );

    // The admin makes them an admin; now they may.
    let csrf = admin.get("/users").csrf();
    let p = admin.post(
        "/users/role",
        &[
            ("_csrf", &csrf),
            ("email", "mo@example.com"),
            ("role", "admin"),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(
        member.get(&format!("/projects/{project}/settings")).status,
        200
    );
}

#[test]
fn the_last_admin_stays_and_links_come_from_the_base_url() {
    let mut server = Server::sqlite();
    server.set("PERISCOPE_BASE_URL", "https://errors.example.com");
    server.start();
    let password = create_user(&server, "ada@example.com", true);
    let mut ui = Ui::sign_in(&server, "ada@example.com", &password);
    let csrf = ui.get("/users").csrf();
    let p = ui.post(
        "/users/role",
        &[
            ("_csrf", &csrf),
            ("email", "ada@example.com"),
            ("role", "member"),
        ],
    );
    assert_eq!(p.status, 400);
    assert!(p.body.contains("id=\"users-error\""), "{}", p.body);
    // The reset link is built from PERISCOPE_BASE_URL whatever Host was used.
    let p = ui.post(
        "/users/reset-link",
        &[("_csrf", &csrf), ("email", "ada@example.com")],
    );
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(shown_link(&p.body).starts_with("https://errors.example.com/reset/"));
}

#[test]
fn a_reset_link_sets_the_password_and_ends_sessions() {
    let server = started();
    let admin_password = create_user(&server, "ada@example.com", true);
    let member_password = create_user(&server, "mo@example.com", false);
    let mut member = Ui::sign_in(&server, "mo@example.com", &member_password);
    let mut admin = Ui::sign_in(&server, "ada@example.com", &admin_password);
    let csrf = admin.get("/users").csrf();
    let p = admin.post(
        "/users/reset-link",
        &[("_csrf", &csrf), ("email", "mo@example.com")],
    );
    let path = path_of(&shown_link(&p.body), &server.base());
    let mut guest = Ui::new(&server);
    let p = guest.post(
        &path,
        &[
            ("password", "brand new password"),
            ("again", "brand new password"),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(member.get("/").status, 303, "the member's session ended");
    Ui::sign_in(&server, "mo@example.com", "brand new password");
}

#[test]
fn one_changes_ones_own_password_and_ends_other_sessions() {
    let server = started();
    let password = create_user(&server, "mo@example.com", false);
    let mut here = Ui::sign_in(&server, "mo@example.com", &password);
    let mut there = Ui::sign_in(&server, "mo@example.com", &password);
    let page = here.get("/account");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("(this browser)"));
    let csrf = page.csrf();
    let p = here.post(
        "/account/password",
        &[
            ("_csrf", &csrf),
            ("current", "wrong"),
            ("password", "new password 1"),
        ],
    );
    assert_eq!(p.status, 400);
    assert!(p.body.contains("current password is wrong"), "{}", p.body);
    let p = here.post(
        "/account/password",
        &[
            ("_csrf", &csrf),
            ("current", &password),
            ("password", "new password 1"),
        ],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(here.get("/").status, 200, "this session goes on");
    assert_eq!(there.get("/").status, 303, "the other one ended");
    // Sessions listed; the others signed out at once.
    let mut third = Ui::sign_in(&server, "mo@example.com", "new password 1");
    let csrf = here.get("/account").csrf();
    let p = here.post("/account/sessions/end-others", &[("_csrf", &csrf)]);
    assert_eq!(p.status, 303);
    assert_eq!(third.get("/").status, 303);
    assert_eq!(here.get("/").status, 200);
}

#[test]
fn a_malformed_email_is_refused_next_to_its_field() {
    let server = started();
    let password = create_user(&server, "ada@example.com", true);
    let mut admin = Ui::sign_in(&server, "ada@example.com", &password);
    let csrf = admin.get("/users").csrf();
    let long = format!("{}@example.com", "a".repeat(260));
    for bad in ["not-an-email", "two@at@signs", "", long.as_str()] {
        let p = admin.post(
            "/users/invite",
            &[("_csrf", &csrf), ("email", bad), ("role", "member")],
        );
        assert_eq!(p.status, 400, "{bad}");
        assert!(p.body.contains("id=\"invite-error\""), "{bad}: {}", p.body);
    }
    let p = admin.post(
        "/users/invite",
        &[
            ("_csrf", &csrf),
            ("email", "x@example.com"),
            ("role", "root"),
        ],
    );
    assert_eq!(p.status, 400);
    assert!(p.body.contains("unknown role"));
}

#[test]
fn an_invitation_is_emailed_when_the_server_can_send_mail() {
    use periscope_test_support::smtp::SmtpRecorder;
    let smtp = SmtpRecorder::start();
    let mut server = Server::sqlite();
    server.set("PERISCOPE_SMTP_URL", &smtp.url());
    server.set("PERISCOPE_EMAIL_FROM", "periscope@example.com");
    server.start();
    let password = create_user(&server, "ada@example.com", true);
    let mut admin = Ui::sign_in(&server, "ada@example.com", &password);
    let csrf = admin.get("/users").csrf();
    let page = admin.post(
        "/users/invite",
        &[
            ("_csrf", &csrf),
            ("email", "mo@example.com"),
            ("role", "member"),
        ],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Invitation emailed to mo@example.com"),
        "{}",
        page.body
    );
    let link = shown_link(&page.body);
    let mails = periscope_test_support::wait::until(
        "the invitation email",
        std::time::Duration::from_secs(10),
        || Some(smtp.mails()).filter(|m| !m.is_empty()),
    );
    assert!(
        mails[0].decoded().contains(&link),
        "the email carries the link"
    );
    assert!(mails[0].to.iter().any(|r| r.contains("mo@example.com")));
    assert_eq!(mails[0].subject(), "Your invitation to Periscope");
}
