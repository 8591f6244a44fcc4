//! The web UI's two "try it" buttons on the command line: `periscope
//! destination test --project P ID` (a test alert, delivered from this process
//! through the same dispatcher as real alerts) and `periscope project test-event
//! ID` (a test event through a running server's ingest endpoint: this process
//! has no listener of its own).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::config::Config;
use crate::service::loopback;
use crate::service::{Service, ServiceError};

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn message(e: ServiceError) -> String {
    match e {
        // The round trip's own words ("the server refused the test event
        // (429 ...)"), without the "internal error: " of the display.
        ServiceError::Internal(m) => m,
        other => other.to_string(),
    }
}

/// `periscope destination test --project P ID`: one test alert now; `Ok` only
/// when the destination accepted it.
pub fn destination_test(
    service: &Service,
    project: i64,
    id: i64,
    json: bool,
) -> Result<(), String> {
    let outcome = runtime()?
        .block_on(service.test_destination(project, id))
        .map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&outcome).map_err(|e| e.to_string())?
        );
    }
    if outcome.delivered {
        if !json {
            println!("delivered a test alert to destination {id} of project {project}");
        }
        Ok(())
    } else {
        Err(format!(
            "the test alert to destination {id} was not delivered: {}",
            outcome.error.as_deref().unwrap_or("no reason given")
        ))
    }
}

/// Where the running server is, and which settings said so.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The address to send to.
    pub(crate) addr: SocketAddr,
    /// `HOST and PORT` or `PERISCOPE_BASE_URL`.
    pub(crate) from: &'static str,
}

/// The server of this configuration: its listen address (HOST:PORT, with
/// 0.0.0.0 or :: meaning loopback, as the server reaches itself), or, when PORT
/// is 0 (a free port picked at start, unknown here), the host and port of an
/// `http://` PERISCOPE_BASE_URL.
pub(crate) fn server_address(config: &Config) -> Result<Target, String> {
    if config.listen.port() != 0 {
        return Ok(Target {
            addr: loopback(config.listen),
            from: "HOST and PORT",
        });
    }
    let unknown = "PORT is 0 (a free port picked when the server starts), so the \
                   server's address is unknown here: set PORT to the port the running \
                   server listens on, or PERISCOPE_BASE_URL to its http:// address";
    if config.base_url_from_listen {
        return Err(unknown.to_owned());
    }
    let url = reqwest::Url::parse(&config.base_url)
        .map_err(|e| format!("PERISCOPE_BASE_URL {:?}: {e}", config.base_url))?;
    if url.scheme() != "http" {
        return Err(format!(
            "{unknown} (PERISCOPE_BASE_URL {:?} is not plain http://)",
            config.base_url
        ));
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(format!(
            "PERISCOPE_BASE_URL {:?} names no host",
            config.base_url
        ));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("PERISCOPE_BASE_URL: cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("PERISCOPE_BASE_URL: {host} has no address"))?;
    Ok(Target {
        addr,
        from: "PERISCOPE_BASE_URL",
    })
}

/// `periscope project test-event ID`: the project's test event, through the
/// running server named by this configuration; prints its event id.
pub fn project_test_event(service: &Service, id: i64, json: bool) -> Result<(), String> {
    // The project first: an unknown one is said as such, server or not.
    service.project(id).map_err(|e| e.to_string())?;
    let target = server_address(service.config())?;
    let sent = runtime()?.block_on(service.send_test_event(id, target.addr));
    let event_id = match sent {
        Ok(event_id) => event_id,
        Err(e @ ServiceError::Internal(_)) => {
            // The likely cause first: no server there.
            if let Err(why) = TcpStream::connect_timeout(&target.addr, Duration::from_secs(3)) {
                return Err(format!(
                    "nothing listens on {} (from {}: {why}): `periscope project test-event` \
                     sends through a running server; start it (`periscope serve`) with this \
                     configuration, or point {} at where it listens",
                    target.addr, target.from, target.from
                ));
            }
            return Err(message(e));
        }
        Err(e) => return Err(e.to_string()),
    };
    if json {
        println!("{}", serde_json::json!({ "event_id": event_id }));
    } else {
        println!(
            "sent test event {event_id} to project {id} through the server at {}",
            target.addr
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_lookup(&|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    }

    #[test]
    fn the_server_is_found_from_host_and_port_then_the_base_url() {
        let t = server_address(&config(&[("HOST", "0.0.0.0"), ("PORT", "8123")])).unwrap();
        assert_eq!(t.addr.to_string(), "127.0.0.1:8123");
        assert_eq!(t.from, "HOST and PORT");
        let t = server_address(&config(&[("HOST", "::"), ("PORT", "8123")])).unwrap();
        assert_eq!(t.addr.to_string(), "[::1]:8123");
        // A fixed port wins over the base URL (which may name a proxy).
        let t = server_address(&config(&[
            ("PORT", "8123"),
            ("PERISCOPE_BASE_URL", "https://errors.example.com"),
        ]))
        .unwrap();
        assert_eq!(t.addr.to_string(), "127.0.0.1:8123");
        // Port 0: the base URL names the server.
        let t = server_address(&config(&[
            ("PORT", "0"),
            ("PERISCOPE_BASE_URL", "http://127.0.0.1:9001/"),
        ]))
        .unwrap();
        assert_eq!(t.addr.to_string(), "127.0.0.1:9001");
        assert_eq!(t.from, "PERISCOPE_BASE_URL");
        let t = server_address(&config(&[
            ("PORT", "0"),
            ("PERISCOPE_BASE_URL", "http://[::1]"),
        ]))
        .unwrap();
        assert_eq!(t.addr.to_string(), "[::1]:80");
        for vars in [
            &[("PORT", "0")][..],
            &[
                ("PORT", "0"),
                ("PERISCOPE_BASE_URL", "https://127.0.0.1:9001"),
            ],
        ] {
            let e = server_address(&config(vars)).unwrap_err();
            assert!(e.contains("set PORT"), "{e}");
        }
    }
}
