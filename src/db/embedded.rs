//! The app-managed PostgreSQL cluster used when no `DATABASE_URL` is given.
//!
//! The cluster lives in one folder, listens only on a Unix socket inside that folder (no
//! TCP port to collide with), runs as a child process in its own process group, and is
//! stopped with a fast shutdown when the portal stops. If the portal dies without stopping
//! it, the kernel sends the child SIGINT (parent-death signal), and a leftover server or a
//! stale `postmaster.pid` is cleaned up on the next start.

use std::{
    fs,
    io::Read,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use nix::{
    sys::signal::{Signal, kill},
    unistd::{Gid, Pid, Uid, User},
};
use sqlx::postgres::PgConnectOptions;

/// The superuser created by `initdb`; trust auth is safe because only the folder's owner
/// (and root) can reach the socket inside the 0700 data folder.
pub const SUPERUSER: &str = "hall";
const PORT: u16 = 5432;

pub struct EmbeddedPostgres {
    dir: PathBuf,
    child: Option<Child>,
}

/// Where the PostgreSQL server binaries are: PATH, then `pg_config --bindir`, then the
/// newest `/usr/lib/postgresql/*/bin` (Debian installs them there, off PATH).
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_both(&d) {
                return Some(d);
            }
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_both(&d) {
            return Some(d);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

/// PostgreSQL refuses to run as root: then the cluster runs as the `postgres` system
/// account (or `HALL_PG_OS_USER`), which must own the folder.
fn run_as() -> anyhow::Result<Option<(Uid, Gid)>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let name = std::env::var("HALL_PG_OS_USER").unwrap_or_else(|_| "postgres".into());
    let user = User::from_name(&name)?.with_context(|| {
        format!(
            "running as root, and PostgreSQL refuses to run as root; no system account {name:?} \
             to run the embedded cluster (install PostgreSQL's server package, which creates it, \
             set HALL_PG_OS_USER, or set DATABASE_URL)"
        )
    })?;
    Ok(Some((user.uid, user.gid)))
}

fn command(bin: &Path, prog: &str, owner: Option<(Uid, Gid)>) -> Command {
    let mut cmd = Command::new(bin.join(prog));
    if let Some((uid, gid)) = owner {
        // std drops root's supplementary groups before setuid.
        cmd.uid(uid.as_raw()).gid(gid.as_raw());
    }
    cmd.env("LC_ALL", "C.UTF-8").env_remove("PGDATA");
    cmd
}

fn chown_tree(path: &Path, uid: Uid, gid: Gid) -> anyhow::Result<()> {
    nix::unistd::chown(path, Some(uid), Some(gid))
        .with_context(|| format!("chown {}", path.display()))?;
    if path.is_dir() && !path.is_symlink() {
        for e in fs::read_dir(path)? {
            chown_tree(&e?.path(), uid, gid)?;
        }
    }
    Ok(())
}

impl EmbeddedPostgres {
    /// Initialise (first time) and start the cluster in `dir`; waits until it accepts
    /// connections.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = find_bin_dir().context(
            "no PostgreSQL server binaries (initdb, postgres) found on PATH, through \
             pg_config --bindir or under /usr/lib/postgresql/*/bin, and DATABASE_URL is not set. \
             Fix one of: install PostgreSQL's server package (e.g. `apt-get install postgresql`), \
             or set DATABASE_URL=postgres://user:password@host/dbname",
        )?;
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("resolve {}", dir.display()))?;
        let socket = dir.join(format!(".s.PGSQL.{PORT}"));
        if socket.as_os_str().len() > 100 {
            bail!(
                "the data folder path is too long for a Unix socket ({}); set HALL_DATA_DIR to a shorter path",
                dir.display()
            );
        }
        let owner = run_as()?;
        if let Some((uid, gid)) = owner {
            let meta = fs::metadata(&dir)?;
            use std::os::unix::fs::MetadataExt;
            if meta.uid() != uid.as_raw() {
                chown_tree(&dir, uid, gid)?;
            }
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;

        if !dir.join("PG_VERSION").exists() {
            let non_empty = fs::read_dir(&dir)?.next().is_some();
            if non_empty {
                bail!(
                    "{} is not empty but holds no PostgreSQL cluster; move its contents away or choose another HALL_DATA_DIR",
                    dir.display()
                );
            }
            tracing::info!(dir = %dir.display(), "initialising the embedded PostgreSQL cluster");
            let out = command(&bin, "initdb", owner)
                .current_dir(&dir)
                .arg("-D")
                .arg(&dir)
                .args([
                    "--username",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ])
                .output()
                .context("run initdb")?;
            if !out.status.success() {
                bail!(
                    "initdb failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        clear_stale_server(&dir)?;

        let log_path = dir.join("server.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        if let Some((uid, gid)) = owner {
            nix::unistd::chown(&log_path, Some(uid), Some(gid))?;
        }
        let mut cmd = command(&bin, "postgres", owner);
        cmd.current_dir(&dir)
            .arg("-D")
            .arg(&dir)
            .args(["-c", "listen_addresses="])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.display()))
            .args(["-c", &format!("port={PORT}")])
            .args(["-c", "unix_socket_permissions=0700"])
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Own process group: a terminal's Ctrl-C reaches the portal, which then stops
            // the cluster after the last request, not in the middle of one.
            .process_group(0);
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
                Ok(())
            });
        }
        // The parent-death signal fires when the *thread* that spawned the child exits, so
        // spawn from a thread that lives as long as the process.
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("embedded-postgres".into())
            .spawn(move || {
                let _ = tx.send(cmd.spawn());
                loop {
                    std::thread::park();
                }
            })?;
        let child = rx.recv()?.context("start postgres")?;
        let mut pg = EmbeddedPostgres {
            dir: dir.clone(),
            child: Some(child),
        };
        pg.wait_ready(&log_path)?;
        tracing::info!(socket = %dir.display(), "embedded PostgreSQL is running");
        Ok(pg)
    }

    fn wait_ready(&mut self, log_path: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let pid_file = self.dir.join("postmaster.pid");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                bail!(
                    "PostgreSQL exited during start-up ({status}); last log lines:\n{}",
                    tail(log_path, 20)
                );
            }
            // Line 8 of postmaster.pid is the server status; "ready" once it accepts.
            if let Ok(s) = fs::read_to_string(&pid_file)
                && s.lines().nth(7).is_some_and(|l| l.trim() == "ready")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "PostgreSQL did not become ready in 60 s:\n{}",
                    tail(log_path, 20)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.dir)
            .port(PORT)
            .username(SUPERUSER)
            .database(database)
    }

    /// Fast shutdown: ends sessions, checkpoints, exits. Waits for the server to exit.
    /// Also stops the server that `postmaster.pid` names when it is not our child: the
    /// cluster may have been restarted from outside (`pg_ctl restart`) while we ran.
    pub fn stop(&mut self) {
        self.stop_child();
        if let Some(pid) = postmaster_pid(&self.dir)
            && is_our_postmaster(pid, &self.dir)
        {
            tracing::info!(
                pid,
                "stopping the embedded PostgreSQL restarted from outside"
            );
            let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(60);
            while Path::new(&format!("/proc/{pid}")).exists() && is_our_postmaster(pid, &self.dir) {
                if Instant::now() > deadline {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGQUIT);
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn stop_child(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = kill(pid, Signal::SIGQUIT);
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        tracing::info!("embedded PostgreSQL stopped");
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A crash can leave `postmaster.pid` behind, or even a server still running (the portal
/// was killed before it could stop it). Stop such a server; remove a pid file whose
/// process is gone or is something else.
fn clear_stale_server(dir: &Path) -> anyhow::Result<()> {
    let pid_file = dir.join("postmaster.pid");
    let Ok(content) = fs::read_to_string(&pid_file) else {
        return Ok(());
    };
    let pid: i32 = content
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    if pid > 0 && is_our_postmaster(pid, dir) {
        tracing::warn!(
            pid,
            "a previous embedded PostgreSQL is still running; stopping it"
        );
        let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Path::new(&format!("/proc/{pid}")).exists() && pid_file.exists() {
            if Instant::now() > deadline {
                bail!(
                    "a previous PostgreSQL (pid {pid}) on {} did not stop",
                    dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if pid_file.exists() {
        tracing::warn!("removing stale postmaster.pid left by a crash");
        fs::remove_file(&pid_file)?;
    }
    let lock = dir.join(format!(".s.PGSQL.{PORT}.lock"));
    if lock.exists() {
        let _ = fs::remove_file(lock);
    }
    Ok(())
}

/// The PID on the first line of the data folder's `postmaster.pid`.
fn postmaster_pid(dir: &Path) -> Option<i32> {
    fs::read_to_string(dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

fn is_our_postmaster(pid: i32, dir: &Path) -> bool {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let is_postgres = cmdline
        .split(|b| *b == 0)
        .next()
        .is_some_and(|exe| exe.ends_with(b"postgres"));
    let cwd = fs::read_link(format!("/proc/{pid}/cwd")).ok();
    is_postgres && cwd.as_deref() == Some(dir)
}

fn tail(path: &Path, lines: usize) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
