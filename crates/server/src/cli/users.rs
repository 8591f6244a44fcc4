//! `periscope user ...`: accounts of the web UI. The first admin is made here
//! (there is no setup token): `periscope user create you@example.com --admin`.
//! Others can be invited (`periscope user invite EMAIL [--admin]` prints a
//! one-time link) and given a password-reset link (`periscope user reset-link
//! EMAIL`); links start with PERISCOPE_BASE_URL.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;

use chrono::Utc;

use crate::service::Service;
use crate::service::users::{UserView, generate_password, parse_role};

/// `periscope user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is asked for on a terminal, read from
    /// stdin with --password-stdin, or generated and printed once.
    Create {
        /// The email to sign in with.
        email: String,
        /// An admin (may change settings, destinations and users); else a member.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of stdin.
        #[arg(long, conflicts_with = "generate")]
        password_stdin: bool,
        /// Generate a password and print it once.
        #[arg(long)]
        generate: bool,
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// List accounts.
    List {
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Set an account's password (ends all of its sessions).
    Passwd {
        /// The account's email.
        email: String,
        /// Read the password from the first line of stdin.
        #[arg(long, conflicts_with = "generate")]
        password_stdin: bool,
        /// Generate a password and print it once.
        #[arg(long)]
        generate: bool,
    },
    /// Delete an account (its sessions end). The last admin cannot be deleted.
    Delete {
        /// The account's email.
        email: String,
        /// Confirm.
        #[arg(long)]
        yes: bool,
    },
    /// Invite someone: prints a link, valid 7 days, with which they pick a
    /// password and become a user (a new invitation of the email replaces the
    /// pending one). Links start with PERISCOPE_BASE_URL.
    Invite {
        /// The invitee's email.
        email: String,
        /// They become an admin; else a member.
        #[arg(long)]
        admin: bool,
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Give an account another role. The last admin stays an admin.
    Role {
        /// The account's email.
        email: String,
        /// admin or member.
        role: String,
    },
    /// Print a password-reset link for an account, valid 24 hours (it
    /// replaces an earlier one). Using it ends every session of the account.
    ResetLink {
        /// The account's email.
        email: String,
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// List the pending invitations.
    Invitations {
        /// Print JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Withdraw the pending invitation of an email (its link stops working).
    Uninvite {
        /// The invitee's email.
        email: String,
    },
}

/// Where a new password comes from.
fn password(stdin: bool, generate: bool) -> Result<(String, bool), String> {
    if generate {
        return Ok((generate_password(), true));
    }
    if stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        return Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false));
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let again = rpassword::prompt_password("Password again: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != again {
            return Err("the passwords differ".to_owned());
        }
        return Ok((first, false));
    }
    // No terminal and no choice made: a generated password, printed once.
    Ok((generate_password(), true))
}

fn line(u: &UserView) -> String {
    format!("{}\t{}\t{}\t{}", u.id, u.email, u.role, u.created_at)
}

/// Runs a `user` command.
pub(crate) fn user(service: &Service, cmd: UserCommand) -> Result<(), String> {
    let err = |e: crate::service::ServiceError| e.to_string();
    match cmd {
        UserCommand::Create {
            email,
            admin,
            password_stdin,
            generate,
            json,
        } => {
            let (password, generated) = password(password_stdin, generate)?;
            let role = if admin {
                periscope_store::Role::Admin
            } else {
                periscope_store::Role::Member
            };
            let user = service.create_user(&email, &password, role).map_err(err)?;
            if json {
                let mut v = serde_json::to_value(&user).map_err(|e| e.to_string())?;
                if generated {
                    v["password"] = serde_json::Value::String(password);
                }
                println!("{v}");
            } else {
                println!("created {} {} (id {})", user.role, user.email, user.id);
                if generated {
                    println!("password: {password}");
                    println!(
                        "(shown once; change it with `periscope user passwd {}`)",
                        user.email
                    );
                }
            }
        }
        UserCommand::List { json } => {
            let users = service.list_users().map_err(err)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&users).map_err(|e| e.to_string())?
                );
            } else if users.is_empty() {
                println!("no users (create the first admin: periscope user create EMAIL --admin)");
            } else {
                for u in &users {
                    println!("{}", line(u));
                }
            }
        }
        UserCommand::Passwd {
            email,
            password_stdin,
            generate,
        } => {
            let (password, generated) = password(password_stdin, generate)?;
            service.set_password(&email, &password, None).map_err(err)?;
            println!("password changed; every session of {email} has ended");
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Delete { email, yes } => {
            if !yes {
                return Err(format!(
                    "this deletes the account {email}; run again with --yes to confirm"
                ));
            }
            let user = service.delete_user(&email).map_err(err)?;
            println!("deleted {}", user.email);
        }
        UserCommand::Invite { email, admin, json } => {
            let role = if admin {
                periscope_store::Role::Admin
            } else {
                periscope_store::Role::Member
            };
            let invitation = service
                .invite_user(&email, role, None, Utc::now())
                .map_err(err)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&invitation).map_err(|e| e.to_string())?
                );
            } else {
                println!(
                    "invited {} as {} (the link works once, until {}):",
                    invitation.email, invitation.role, invitation.expires_at
                );
                println!("{}", invitation.link);
                base_url_note(service);
            }
        }
        UserCommand::Role { email, role } => {
            let role = parse_role(&role).map_err(err)?;
            let user = service.set_role(&email, role).map_err(err)?;
            println!("{} is now {}", user.email, user.role);
        }
        UserCommand::ResetLink { email, json } => {
            let link = service.reset_link(&email, Utc::now()).map_err(err)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&link).map_err(|e| e.to_string())?
                );
            } else {
                println!(
                    "password reset link for {} (works once, until {}; using it ends every session of the account):",
                    link.email, link.expires_at
                );
                println!("{}", link.link);
                base_url_note(service);
            }
        }
        UserCommand::Invitations { json } => {
            let pending = service.list_invitations(Utc::now()).map_err(err)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&pending).map_err(|e| e.to_string())?
                );
            } else if pending.is_empty() {
                println!("no pending invitations");
            } else {
                for i in &pending {
                    println!(
                        "{}\t{}\tuntil {}\tby {}",
                        i.email,
                        i.role,
                        i.expires_at,
                        i.invited_by.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        UserCommand::Uninvite { email } => {
            service.revoke_invitation(&email, Utc::now()).map_err(err)?;
            println!("withdrew the invitation of {}", email.trim().to_lowercase());
        }
    }
    Ok(())
}

/// Links start with the configured base URL; when it was not set, say where
/// the link points (a command has no request to learn the public address from).
fn base_url_note(service: &Service) {
    let config = service.config();
    if config.base_url_from_listen {
        eprintln!(
            "note: PERISCOPE_BASE_URL is not set, so the link starts with {} (from HOST/PORT); set it to the address people open Periscope at",
            config.base_url
        );
    }
}
