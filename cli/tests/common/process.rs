//! Running the `brokerbench` binary as a user does: its output, short runs,
//! scratch folders, background processes and Ctrl-C.

#![allow(dead_code)]

use std::process::Command;

pub fn brokerbench(args: &[&str], out: &std::path::Path) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_brokerbench"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    if args[0] == "run" || args[0] == "search" {
        cmd.arg("--out").arg(out);
    }
    cmd.output().unwrap()
}

/// `run --pace PACE` with no warmup, a 1 s drain, no progress and no
/// graphs: the short runs most tests make.
pub fn quick_run(pace: &str) -> Vec<&str> {
    let quick = [
        "--warmup-seconds",
        "0",
        "--drain-seconds",
        "1",
        "--quiet",
        "--no-plot",
    ];
    [&["run", "--pace", pace][..], &quick].concat()
}

pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("brokerbench-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The count columns (sent, accepted, failed, delivered, lost) of the
/// summary table's `all` row.
pub fn all_row(table: &str) -> Vec<String> {
    let all = table
        .lines()
        .find(|l| l.trim_start().starts_with("all"))
        .expect("an `all` row");
    all.split_whitespace()
        .skip(1)
        .take(5)
        .map(str::to_string)
        .collect()
}

/// The entries of a folder (results folders under an --out).
pub fn entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// `brokerbench ARGS` in the background, its output kept.
pub fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Ctrl-C for a background `brokerbench`; its output once it ended.
pub fn interrupt(child: std::process::Child) -> std::process::Output {
    // SAFETY: sending SIGINT to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    child.wait_with_output().unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `brokerbench aggregator` on loopback `port` with `args` more, quiet,
/// without graphs, writing its results under `out`; its table on stdout.
pub fn aggregator(port: u16, out: &std::path::Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args(["aggregator", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--warmup-seconds", "0", "--drain-seconds", "1"])
        .args(args)
        .args(["--quiet", "--no-plot", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// `brokerbench ROLE --aggregator` the one on loopback `agg`, with `args`
/// more; its stderr kept.
pub fn role(role: &str, agg: u16, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_brokerbench"))
        .args([role, "--aggregator", &format!("http://127.0.0.1:{agg}")])
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// `k8s collect` from the aggregator at `agg` into `out` (no graphs),
/// checked to exit with `code`; its table.
pub fn collect(agg: &str, out: &std::path::Path, code: i32) -> String {
    let o = brokerbench(
        &[
            "k8s",
            "collect",
            "--aggregator",
            agg,
            "--out",
            out.to_str().unwrap(),
            "--no-plot",
        ],
        out,
    );
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(code),
        "{table}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    table
}

/// The one results folder under `out`.
pub fn only_results(out: &std::path::Path) -> std::path::PathBuf {
    let dirs = entries(out);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// `METHOD PATH` with no body, with `token` as a bearer if any; the
/// status answered.
pub fn status_of(port: u16, method: &str, path: &str, token: Option<&str>) -> u16 {
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\n{auth}content-length: 0\r\nconnection: close\r\n\r\n"
    );
    answer(port, request.as_bytes())
}

/// Sends `request` on a new connection; the status code answered (0 when
/// the connection closed without one).
pub fn answer(port: u16, request: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = c.write_all(request);
    let mut buf = [0u8; 512];
    let n = c.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
