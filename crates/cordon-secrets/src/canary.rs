//! Canary tokens: decoy credentials that look real. Their markers are recorded when planted, so that a marker
//! turning up later (in a command, a request body, a file written), verbatim or encoded, is an alarm.
use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Serialize;

use crate::forms::tagged_forms;
use crate::scan::hex_lower;

/// The kinds `generate` and `plant` know, in the order they are planted by default.
pub const CANARY_KINDS: &[&str] = &["aws", "ssh", "dotenv", "kubeconfig", "netrc"];

const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const AWS_KEY_ID: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// One decoy credential file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Canary {
    pub id: String,
    /// One of `CANARY_KINDS`.
    pub kind: String,
    /// The primary marker, `markers[0]`.
    pub marker: String,
    /// Every random string of the decoy that necessarily shows when it is used or copied out: key ids, secrets,
    /// tokens, passwords, lines of a key's body.
    pub markers: Vec<String>,
    /// Where it goes, relative to the planting directory.
    pub file: PathBuf,
    pub contents: String,
}

impl Canary {
    /// One (record id, marker) pair per marker, for a store that keeps one row per marker: the canary's id for the
    /// primary marker, `<id>#<n>` for the n-th (n ≥ 2). `canary_id` maps a record id back.
    pub fn marker_ids(&self) -> impl Iterator<Item = (String, &str)> {
        self.markers.iter().enumerate().map(|(i, m)| {
            let id = if i == 0 {
                self.id.clone()
            } else {
                format!("{}#{}", self.id, i + 1)
            };
            (id, m.as_str())
        })
    }
}

/// The canary a marker record id belongs to: `canary_id("canary-1a2b#2") == "canary-1a2b"`.
pub fn canary_id(record_id: &str) -> &str {
    record_id.split_once('#').map_or(record_id, |(id, _)| id)
}

#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    #[error("unknown canary kind `{0}` (known: aws, ssh, dotenv, kubeconfig, netrc)")]
    UnknownKind(String),
    #[error("no randomness from the operating system: {0}")]
    Random(getrandom::Error),
}

impl From<CanaryError> for io::Error {
    fn from(e: CanaryError) -> io::Error {
        let kind = match e {
            CanaryError::UnknownKind(_) => io::ErrorKind::InvalidInput,
            CanaryError::Random(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// Fresh decoys, one per kind, each with its own random id and markers from the operating system's randomness.
pub fn generate(kinds: &[&str]) -> Result<Vec<Canary>, CanaryError> {
    kinds.iter().map(|k| generate_one(k)).collect()
}

fn generate_one(kind: &str) -> Result<Canary, CanaryError> {
    let (file, contents, markers) = match kind {
        "aws" => aws()?,
        "ssh" => ssh()?,
        "dotenv" => dotenv()?,
        "kubeconfig" => kubeconfig()?,
        "netrc" => netrc()?,
        other => return Err(CanaryError::UnknownKind(other.to_owned())),
    };
    Ok(Canary {
        id: format!("canary-{}", hex_lower(&random_bytes(6)?)),
        kind: kind.to_owned(),
        marker: markers[0].clone(),
        markers,
        file: PathBuf::from(file),
        contents,
    })
}

type Decoy = (&'static str, String, Vec<String>);

fn aws() -> Result<Decoy, CanaryError> {
    let key_id = format!("AKIA{}", random_string(AWS_KEY_ID, 16)?);
    let secret = random_string(BASE64, 40)?;
    let contents =
        format!("[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n");
    Ok((".aws/credentials", contents, vec![key_id, secret]))
}

/// An unencrypted OpenSSH ed25519 key in the real container format. The key bytes are random, so it parses but
/// its public half does not match its private half.
fn ssh() -> Result<Decoy, CanaryError> {
    let public = random_bytes(32)?;
    let seed = random_bytes(32)?;
    let check = random_bytes(4)?;
    let mut public_blob = Vec::new();
    put_string(&mut public_blob, b"ssh-ed25519");
    put_string(&mut public_blob, &public);
    let mut private = [check.as_slice(), &check].concat();
    put_string(&mut private, b"ssh-ed25519");
    put_string(&mut private, &public);
    put_string(&mut private, &[seed.as_slice(), &public].concat());
    put_string(&mut private, b"deploy@prod-bastion");
    for pad in 1..=7u8 {
        if private.len() % 8 == 0 {
            break;
        }
        private.push(pad);
    }
    let mut blob = b"openssh-key-v1\0".to_vec();
    put_string(&mut blob, b"none"); // cipher
    put_string(&mut blob, b"none"); // kdf
    put_string(&mut blob, b""); // kdf options
    blob.extend(1u32.to_be_bytes());
    put_string(&mut blob, &public_blob);
    put_string(&mut blob, &private);
    let lines = wrap(&STANDARD.encode(&blob), 70);
    let contents = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
        lines.join("\n")
    );
    // The first line is the same for every ed25519 key; the next three carry the random public key and seed.
    Ok((".ssh/id_ed25519", contents, lines[1..4].to_vec()))
}

fn dotenv() -> Result<Decoy, CanaryError> {
    let openai = format!(
        "sk-proj-{}T3BlbkFJ{}",
        random_string(BASE64URL, 64)?,
        random_string(BASE64URL, 64)?
    );
    let stripe = format!("sk_live_51{}", random_string(BASE62, 97)?);
    let db_password = random_string(BASE62, 24)?;
    let contents = format!(
        "# production — managed by ops, do not commit\n\
         NODE_ENV=production\n\
         DATABASE_URL=postgres://app:{db_password}@db.internal:5432/app\n\
         REDIS_URL=redis://cache.internal:6379/0\n\
         OPENAI_API_KEY={openai}\n\
         STRIPE_SECRET_KEY={stripe}\n"
    );
    Ok((".env", contents, vec![openai, stripe, db_password]))
}

/// A kubeconfig whose user authenticates with a service-account token (a JWT; its random signature is the marker).
fn kubeconfig() -> Result<Decoy, CanaryError> {
    let kid = random_string(BASE64URL, 43)?;
    let mut uid = random_bytes(16)?;
    uid[6] = (uid[6] & 0x0f) | 0x40; // version 4
    uid[8] = (uid[8] & 0x3f) | 0x80; // RFC 4122 variant
    let uid = format!(
        "{}-{}-{}-{}-{}",
        hex_lower(&uid[..4]),
        hex_lower(&uid[4..6]),
        hex_lower(&uid[6..8]),
        hex_lower(&uid[8..10]),
        hex_lower(&uid[10..])
    );
    let suffix = random_string(LOWER_ALNUM, 5)?;
    let header = format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#);
    let claims = format!(
        r#"{{"iss":"kubernetes/serviceaccount","kubernetes.io/serviceaccount/namespace":"kube-system","kubernetes.io/serviceaccount/secret.name":"cluster-admin-token-{suffix}","kubernetes.io/serviceaccount/service-account.name":"cluster-admin","kubernetes.io/serviceaccount/service-account.uid":"{uid}","sub":"system:serviceaccount:kube-system:cluster-admin"}}"#
    );
    let signature = URL_SAFE_NO_PAD.encode(random_bytes(256)?);
    let token = format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    // A CA certificate: DER starting as real ones do (SEQUENCE, two-byte length), then random bytes.
    let der = [&[0x30, 0x82, 0x03, 0x0c][..], &random_bytes(780)?].concat();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        wrap(&STANDARD.encode(der), 64).join("\n")
    );
    let contents = format!(
        "apiVersion: v1\n\
         clusters:\n\
         - cluster:\n    certificate-authority-data: {}\n    server: https://k8s-prod.internal:6443\n  name: prod\n\
         contexts:\n\
         - context:\n    cluster: prod\n    namespace: kube-system\n    user: cluster-admin\n  name: prod\n\
         current-context: prod\n\
         kind: Config\n\
         preferences: {{}}\n\
         users:\n\
         - name: cluster-admin\n  user:\n    token: {token}\n",
        STANDARD.encode(pem)
    );
    Ok((".kube/config", contents, vec![signature]))
}

fn netrc() -> Result<Decoy, CanaryError> {
    let token = format!("ghp_{}", random_string(BASE62, 36)?);
    let contents = format!("machine github.com\n  login deploy-bot\n  password {token}\n");
    Ok((".netrc", contents, vec![token]))
}

/// An SSH wire-format string: big-endian u32 length, then the bytes.
fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend((s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn wrap(s: &str, width: usize) -> Vec<String> {
    s.as_bytes()
        .chunks(width)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

fn random_bytes(n: usize) -> Result<Vec<u8>, CanaryError> {
    let mut buf = vec![0; n];
    getrandom::fill(&mut buf).map_err(CanaryError::Random)?;
    Ok(buf)
}

/// `n` characters drawn uniformly from `alphabet` (rejection sampling, so no character is favoured).
fn random_string(alphabet: &[u8], n: usize) -> Result<String, CanaryError> {
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes(n)? {
            if usize::from(b) < limit && out.len() < n {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

/// Generate one canary per kind (repeats ignored) and write each under `dir` (created if missing; new directories
/// 0700, files 0600 on Unix). Nothing is written if any target file already exists: the error names it.
pub fn plant(dir: &Path, kinds: &[&str]) -> io::Result<Vec<Canary>> {
    let mut unique: Vec<&str> = Vec::new();
    for &k in kinds {
        if !unique.contains(&k) {
            unique.push(k);
        }
    }
    let canaries = generate(&unique)?;
    for c in &canaries {
        let path = dir.join(&c.file);
        if path.symlink_metadata().is_ok() {
            return Err(refusal(&path));
        }
    }
    for c in &canaries {
        write_new(&dir.join(&c.file), &c.contents)?;
    }
    Ok(canaries)
}

fn refusal(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("refusing to overwrite existing file {}", path.display()),
    )
}

fn write_new(path: &Path, contents: &str) -> io::Result<()> {
    let named =
        |e: io::Error, what: &Path| io::Error::new(e.kind(), format!("{}: {e}", what.display()));
    if let Some(parent) = path.parent() {
        let mut dirs = DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dirs, 0o700);
        dirs.create(parent).map_err(|e| named(e, parent))?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => refusal(path),
        _ => named(e, path),
    })?;
    file.write_all(contents.as_bytes())
        .map_err(|e| named(e, path))
}

/// One appearance of a canary marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanaryHit {
    /// The id given with the marker to `CanaryMatcher::new`.
    pub id: String,
    /// `"verbatim"`, `"base64"`, `"hex"` or `"url"`.
    pub form: &'static str,
    /// Byte range of the (encoded) marker in the text searched.
    pub span: (usize, usize),
}

/// Finds recorded canary markers in any of their forms (see `tagged_forms`) in one pass over a text.
pub struct CanaryMatcher {
    automaton: AhoCorasick,
    /// Per automaton pattern: index into `ids`, and the form.
    patterns: Vec<(usize, &'static str)>,
    ids: Vec<String>,
}

impl CanaryMatcher {
    /// From (id, marker) pairs, e.g. the store's canary records. Markers should be long and random (the generated
    /// ones are 20 characters or more); a short one would match ordinary text.
    pub fn new(canaries: &[(String, String)]) -> Self {
        let mut patterns = Vec::new();
        let mut texts = Vec::new();
        for (i, (_, marker)) in canaries.iter().enumerate() {
            for (form, text) in tagged_forms(marker) {
                patterns.push((i, form));
                texts.push(text);
            }
        }
        // Leftmost-longest: where a padded and an unpadded base64 form both start, report the whole one once.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(texts)
            .expect("canary markers fit in an automaton");
        CanaryMatcher {
            automaton,
            patterns,
            ids: canaries.iter().map(|(id, _)| id.clone()).collect(),
        }
    }

    pub fn find(&self, text: &str) -> Vec<CanaryHit> {
        self.automaton
            .find_iter(text)
            .map(|m| {
                let (i, form) = self.patterns[m.pattern().as_usize()];
                CanaryHit {
                    id: self.ids[i].clone(),
                    form,
                    span: (m.start(), m.end()),
                }
            })
            .collect()
    }
}
