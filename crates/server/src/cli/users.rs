//! `periscope user ...`: accounts of the web UI. The first admin is made here
//! (there is no setup token): `periscope user create you@example.com --admin`.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;

use crate::service::Service;
use crate::service::users::{UserView, generate_password};

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
    /// Delete an account (its sessions end).
    Delete {
        /// The account's email.
        email: String,
        /// Confirm.
        #[arg(long)]
        yes: bool,
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
    }
    Ok(())
}
