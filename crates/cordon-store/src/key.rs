//! The 32-byte key that secret fingerprints are keyed with, so that the
//! store never holds a value an attacker could confirm a guessed secret against.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// Environment variable that overrides the key file: 64 hex characters.
pub const KEY_ENV: &str = "CORDON_FINGERPRINT_KEY";

/// `<db path>.key`.
pub fn key_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".key");
    PathBuf::from(p)
}

/// The key given in `from_env` (the value of [`KEY_ENV`]) when set, else from
/// the key file, creating it (mode 0600, from the OS RNG) when it does not exist.
pub(crate) fn load_or_create(db: &Path, from_env: Option<String>) -> Result<[u8; 32], StoreError> {
    if let Some(hex) = from_env {
        return decode(hex.trim()).ok_or_else(|| StoreError::BadKey {
            origin: KEY_ENV.into(),
        });
    }
    let path = key_path(db);
    match fs::read_to_string(&path) {
        Ok(text) => {
            return decode(text.trim()).ok_or_else(|| StoreError::BadKey {
                origin: path.display().to_string(),
            })
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(StoreError::Io {
                path,
                action: "read the fingerprint key",
                source,
            })
        }
    }
    create(&path)?;
    let text = fs::read_to_string(&path).map_err(|source| StoreError::Io {
        path: path.clone(),
        action: "read the fingerprint key",
        source,
    })?;
    decode(text.trim()).ok_or_else(|| StoreError::BadKey {
        origin: path.display().to_string(),
    })
}

/// Write a fresh key to a private temporary file, then hard-link it into
/// place: the link fails if another process got there first, and then its
/// key is the one both use.
fn create(path: &Path) -> Result<(), StoreError> {
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| StoreError::Io {
            path: p,
            action,
            source,
        }
    };
    // The key, then a name for the temporary file unique among threads too.
    let mut random = [0u8; 40];
    getrandom::fill(&mut random).map_err(|e| StoreError::Io {
        path: path.to_path_buf(),
        action: "get random bytes for the fingerprint key",
        source: std::io::Error::other(e.to_string()),
    })?;
    let (key, name) = random.split_at(32);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", encode(name)));
    let tmp = PathBuf::from(tmp);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let written = opts
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(format!("{}\n", encode(key)).as_bytes())
                .and_then(|()| f.sync_all())
        })
        .map_err(io("write the fingerprint key", &tmp));
    let linked = written.and_then(|()| match fs::hard_link(&tmp, path) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => {
            Err(io("create the fingerprint key", path)(e))
        }
        _ => Ok(()),
    });
    let _ = fs::remove_file(&tmp);
    linked
}

pub(crate) fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks(2)) {
        *o = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}
