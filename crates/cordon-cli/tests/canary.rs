//! End-to-end tests of `cordon canary plant|list`: the real binary, a temporary directory and store.
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cordon");

/// `cordon canary --store STORE ARGS...`, not influenced by the caller's environment.
fn canary(store: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .env_remove("CORDON_STORE")
        .args(["canary", "--store"])
        .arg(store)
        .args(args)
        .output()
        .expect("cordon runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn plant_list_and_refuse_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, store) = (tmp.path().join("home"), tmp.path().join("state/cordon.db"));

    let out = canary(&store, &["plant", home.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let home = home.canonicalize().unwrap();
    let printed = stdout(&out);
    let files = [
        ".aws/credentials",
        ".ssh/id_ed25519",
        ".env",
        ".kube/config",
        ".netrc",
    ];
    for (kind, file) in ["aws", "ssh", "dotenv", "kubeconfig", "netrc"]
        .iter()
        .zip(files)
    {
        assert!(printed.contains(kind), "{printed}");
        assert!(
            printed.contains(&home.join(file).display().to_string()),
            "{printed}"
        );
    }

    // Realistic shapes.
    let aws = read(&home.join(".aws/credentials"));
    let key_id = aws
        .lines()
        .find_map(|l| l.strip_prefix("aws_access_key_id = "))
        .unwrap();
    assert!(key_id.starts_with("AKIA") && key_id.len() == 20, "{aws}");
    let secret = aws
        .lines()
        .find_map(|l| l.strip_prefix("aws_secret_access_key = "))
        .unwrap();
    assert_eq!(secret.len(), 40);
    let key = read(&home.join(".ssh/id_ed25519"));
    assert!(
        key.starts_with(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
        ),
        "{key}"
    );
    assert!(key.ends_with("-----END OPENSSH PRIVATE KEY-----\n"));
    let env = read(&home.join(".env"));
    for prefix in [
        "OPENAI_API_KEY=sk-proj-",
        "STRIPE_SECRET_KEY=sk_live_",
        "DATABASE_URL=postgres://app:",
    ] {
        assert!(env.contains(prefix), "{env}");
    }
    let kube = read(&home.join(".kube/config"));
    assert!(
        kube.contains("kind: Config") && kube.contains("    token: eyJ"),
        "{kube}"
    );
    let netrc = read(&home.join(".netrc"));
    assert!(
        netrc.starts_with("machine github.com\n  login deploy-bot\n  password ghp_"),
        "{netrc}"
    );
    #[cfg(unix)]
    {
        for file in files {
            assert_eq!(mode(&home.join(file)), 0o600, "{file}");
        }
        assert_eq!(mode(&home.join(".ssh")), 0o700);
    }

    // `list` shows each canary once, with its path, but never a whole marker.
    let out = canary(&store, &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&out);
    assert_eq!(listed.lines().count(), 1 + files.len(), "{listed}");
    for file in files {
        assert!(
            listed.contains(&home.join(file).display().to_string()),
            "{listed}"
        );
    }
    assert!(listed.contains(&key_id[..8]), "{listed}");
    for marker in [key_id, secret] {
        assert!(!listed.contains(marker), "{listed}");
    }

    // Planting again: a clear refusal naming the file, nothing changed, nothing more recorded.
    let out = canary(&store, &["plant", home.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("refusing to overwrite") && err.contains(".aws/credentials"),
        "{err}"
    );
    assert_eq!(read(&home.join(".aws/credentials")), aws);
    assert_eq!(stdout(&canary(&store, &["list"])), listed);
}

#[test]
fn chosen_kinds_and_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, store) = (tmp.path().join("home"), tmp.path().join("cordon.db"));

    let out = canary(
        &store,
        &["plant", "--kinds", "netrc,aws", home.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(home.join(".netrc").is_file() && home.join(".aws/credentials").is_file());
    assert!(!home.join(".env").exists() && !home.join(".ssh").exists());

    // A kind nobody knows is a usage error (3), before anything is written.
    let out = canary(
        &store,
        &[
            "plant",
            "--kinds",
            "aws,ftp",
            tmp.path().join("other").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("ftp"));
    assert!(!tmp.path().join("other").exists());

    // `--store` after the action works too; a missing store lists nothing and is not created.
    let missing = tmp.path().join("none.db");
    let out = Command::new(BIN)
        .args(["canary", "list", "--store"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("no canaries recorded"));
    assert!(!missing.exists());
}
