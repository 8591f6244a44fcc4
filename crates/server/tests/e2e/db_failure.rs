//! A database that fails under load (issue 12): PostgreSQL stopped in the middle of
//! a stress run and started again; an SQLite database on a disk that fills up.
//! Requests get fast 503s (never a hang), `/health` says 503 while the database is
//! down, ingest resumes by itself within seconds, and every acknowledged event is
//! stored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{
    Server, acknowledged, assert_all_stored, auth_header, http, post, small_event, spawn_stress,
};

/// The folder of PostgreSQL's server programs (`initdb`, `pg_ctl`), if installed.
fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A private PostgreSQL cluster in a temporary folder, listening only on a Unix
/// socket there (no TCP port, so nothing to race for).
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn new(bin: PathBuf) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        set_mode(dir.path(), 0o777);
        let c = Cluster {
            bin,
            dir,
            port: 5999,
        };
        let data = c.data();
        std::fs::create_dir(&data).unwrap();
        c.chown(&data);
        let out = c
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn chown(&self, path: &Path) {
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(path)
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown");
        }
    }

    /// A command of PostgreSQL's, run as the postgres user when we are root
    /// (the server refuses to run as root).
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn start(&self) {
        let options = format!(
            "-c listen_addresses='' -k {} -p {} -c fsync=off",
            self.dir.path().display(),
            self.port
        );
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("pg.log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
        );
    }

    fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"])
            .output();
    }

    fn url(&self) -> String {
        format!(
            "postgres:///postgres?host={}&port={}&user=postgres",
            self.dir.path().display(),
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn health(s: &Server) -> u16 {
    http()
        .get(format!("{}/health", s.base()))
        .timeout(Duration::from_secs(10))
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Sends one small event; (status, how long the answer took).
fn send_one(s: &Server, project: i64, key: &str) -> (u16, Duration) {
    let (_, body) = small_event("probe");
    let started = Instant::now();
    let a = post(
        &http(),
        &s.store_url(project),
        &[("x-sentry-auth", &auth_header(key))],
        body,
    );
    (a.status, started.elapsed())
}

#[test]
fn postgres_outage_during_stress() {
    let Some(bin) = pg_bin() else {
        println!("skipped: PostgreSQL server programs (initdb, pg_ctl) not installed");
        return;
    };
    let outage = Duration::from_secs(
        std::env::var("PERISCOPE_TEST_OUTAGE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4),
    );
    let cluster = Cluster::new(bin);
    cluster.start();
    let mut s = Server::with_database(&cluster.url());
    s.set("PERISCOPE_COMMIT_TIMEOUT_SECONDS", "5");
    s.start();
    // Created once the server runs, so that the CLI's DSN names its address.
    let (project, dsn, key) = s.create_project("outage");
    let ids_file = s.dir.path().join("acknowledged.txt");
    let mut stress = spawn_stress(&dsn, &ids_file, 8, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged(&ids_file).len() < 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(acknowledged(&ids_file).len() >= 200, "{}", s.log());

    // Stop PostgreSQL under load.
    cluster.stop();
    let down_at = Instant::now();
    // /health turns 503, and requests are refused fast.
    let deadline = Instant::now() + Duration::from_secs(15);
    while health(&s) != 503 {
        assert!(
            Instant::now() < deadline,
            "/health never said 503: {}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut slowest = Duration::ZERO;
    while down_at.elapsed() < outage {
        let (status, took) = send_one(&s, project, &key);
        assert_eq!(status, 503, "while the database is down");
        slowest = slowest.max(took);
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("slowest refusal while down: {slowest:?}");
    assert!(
        slowest < Duration::from_secs(2),
        "refusals are fast: {slowest:?}"
    );

    // Start it again: ingest resumes within 5 s by itself.
    cluster.start();
    let up_at = Instant::now();
    loop {
        let (status, _) = send_one(&s, project, &key);
        if status == 200 {
            break;
        }
        assert!(
            up_at.elapsed() < Duration::from_secs(5),
            "ingest did not resume within 5 s of the restart: {}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("ingest resumed {:?} after the restart", up_at.elapsed());
    assert_eq!(health(&s), 200);
    let before = acknowledged(&ids_file).len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged(&ids_file).len() < before + 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = stress.kill();
    let _ = stress.wait();
    let ids = acknowledged(&ids_file);
    assert!(ids.len() >= before + 100, "the stress run did not resume");
    assert_all_stored(&s, project, &ids);
    s.stop();
}

/// A tmpfs mount of `size`, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .ok()?
            .success();
        ok.then_some(SmallDisk { dir })
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn sqlite_on_a_full_disk_answers_503_and_recovers() {
    if !is_root() {
        println!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let Some(disk) = SmallDisk::mount("3m") else {
        println!("skipped: cannot mount a tmpfs here");
        return;
    };
    let mut s = Server::sqlite();
    let db = disk.dir.path().join("periscope.db");
    s.set("SQLITE_PATH", db.to_str().unwrap());
    s.set("PERISCOPE_COMMIT_TIMEOUT_SECONDS", "5");
    let (project, _dsn, key) = s.create_project("full");
    s.start();
    let client = http();
    // Incompressible payloads fill the disk quickly.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = |n: usize| -> String {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from(b'a' + (seed % 26) as u8)
            })
            .collect()
    };
    let mut acknowledged_ids = Vec::new();
    let mut refused = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..400 {
        let id = format!("{:032x}", 0xfeed_0000_u128 + i);
        let body = serde_json::json!({
            "event_id": id,
            "message": format!("filler {i}"),
            "extra": {"noise": noise(60_000)},
        })
        .to_string();
        let started = Instant::now();
        let a = post(
            &client,
            &s.store_url(project),
            &[("x-sentry-auth", &auth_header(&key))],
            body.into_bytes(),
        );
        slowest = slowest.max(started.elapsed());
        match a.status {
            200 => acknowledged_ids.push(id),
            503 => {
                refused += 1;
                if refused >= 10 {
                    break;
                }
            }
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    assert!(refused >= 10, "the disk never filled: {}", s.log());
    println!(
        "{} acknowledged before the disk filled; slowest answer {slowest:?}",
        acknowledged_ids.len()
    );
    assert!(slowest < Duration::from_secs(6), "no hang: {slowest:?}");
    assert!(s.is_running());

    // More room: ingest recovers by itself.
    disk.resize("64m");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = send_one(&s, project, &key);
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(health(&s), 200);
    assert_all_stored(&s, project, &acknowledged_ids);
    s.stop();
}
