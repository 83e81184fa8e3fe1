//! The recognizer table: one row per credential shape, and the checks a captured value must pass.

/// What a captured value must look like, beyond matching its pattern.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value {
    /// A vendor format distinctive enough by itself: only placeholders are dropped.
    Token,
    /// Whatever follows a password flag or sits in a URL's password slot: anything but a placeholder or a path.
    Literal,
    /// The value of a password-named assignment: as `Literal`, and when unquoted it must not read as code
    /// (`password=self.password`, `password: str`).
    Password,
    /// The value of a token/secret/key-named assignment: it must itself look random
    /// (at least 20 characters, two of lower/upper/digit, entropy at or above the row's floor).
    Random,
}

pub(crate) struct Recognizer {
    pub kind: &'static str,
    /// ASCII case-insensitive literals; the pattern is only run on text containing one of them.
    pub anchors: &'static [&'static str],
    /// Linear-time pattern. The secret is the whole match when the pattern has no capture group, else the last
    /// group that took part in the match; `\b` is an ASCII word boundary.
    pub pattern: &'static str,
    pub value: Value,
    /// Minimum Shannon entropy (bits per byte) of the secret; 0 for none.
    pub min_entropy: f64,
    /// ASCII case-insensitive substrings of the whole match that veto it.
    pub veto: &'static [&'static str],
}

const fn row(
    kind: &'static str,
    anchors: &'static [&'static str],
    pattern: &'static str,
    value: Value,
) -> Recognizer {
    Recognizer {
        kind,
        anchors,
        pattern,
        value,
        min_entropy: 0.0,
        veto: &[],
    }
}

// Bare (unquoted) assignment values stop at characters that end a shell word or a code expression.
macro_rules! assigned {
    ($name:literal) => {
        concat!(
            r#"(?i)"#,
            $name,
            r#"["']?\s*(?:=>|:=|=|:)[ \t]*(?:"([^"\s]+)"|'([^'\s]+)'|([^\s"'`,;&|=(){}\[\]<>][^\s"'`,;&|(){}\[\]<>]*))"#
        )
    };
}

/// Ordered by priority: where two hits overlap, the earlier row wins, so specific vendor formats come before the
/// generic name-based rows.
pub(crate) static TABLE: &[Recognizer] = &[
    row(
        "private-key",
        &["PRIVATE KEY-----"],
        // A whole block; or, cut short (`head id_rsa`), the header and the base64 lines after it. `\\n` admits the
        // escaped newlines of JSON strings and `echo -e`.
        r"-----BEGIN[A-Z0-9 ]{0,32} PRIVATE KEY-----(?:[A-Za-z0-9+/=\s\\:,.\-]*?[A-Za-z0-9+/]{32}[A-Za-z0-9+/=\s\\:,.\-]*?-----END[A-Z0-9 ]{0,32} PRIVATE KEY-----|(?:\s|\\r|\\n)+(?:[A-Za-z0-9+/=]{32,}(?:\r?\n|\\r|\\n)*)+)",
        Value::Token,
    ),
    row(
        "aws-access-key-id",
        &["AKIA", "ASIA", "ABIA", "ACCA"],
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
        Value::Token,
    ),
    Recognizer {
        min_entropy: 3.5,
        ..row(
            "aws-secret-access-key",
            &["secret_access_key", "secretaccesskey", "secret-access-key"],
            r#"(?i)secret[_\-]?access[_\-]?key["']?(?:\s*(?:=>|:=|=|:)\s*|\s+)["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
            Value::Token,
        )
    },
    row(
        "github-token",
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b",
        Value::Token,
    ),
    row(
        "github-token",
        &["github_pat_"],
        r"\bgithub_pat_[A-Za-z0-9_]{60,}\b",
        Value::Token,
    ),
    row(
        "gitlab-token",
        &["glpat-"],
        r"\bglpat-[A-Za-z0-9_\-]{20,64}",
        Value::Token,
    ),
    row(
        "slack-webhook",
        &["hooks.slack.com/"],
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{20,}",
        Value::Token,
    ),
    row(
        "slack-token",
        &[
            "xoxa-", "xoxb-", "xoxo-", "xoxp-", "xoxr-", "xoxs-", "xapp-",
        ],
        r"\b(?:xox[abposr]|xapp)-[A-Za-z0-9\-]{10,}",
        Value::Token,
    ),
    row(
        "stripe-key",
        &["sk_live_", "rk_live_"],
        r"\b(?:sk|rk)_live_[A-Za-z0-9]{20,}\b",
        Value::Token,
    ),
    row(
        "anthropic-api-key",
        &["sk-ant-"],
        r"\bsk-ant-[A-Za-z0-9_\-]{32,}",
        Value::Token,
    ),
    Recognizer {
        min_entropy: 3.5,
        ..row(
            "openai-api-key",
            &["sk-"],
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,}",
            Value::Random,
        )
    },
    row(
        "google-api-key",
        &["AIza"],
        r"\b(AIza[0-9A-Za-z_\-]{35})(?:[^0-9A-Za-z_\-]|$)",
        Value::Token,
    ),
    Recognizer {
        min_entropy: 3.5,
        ..row(
            "huggingface-token",
            &["hf_"],
            r"\bhf_[A-Za-z]{34}\b",
            Value::Random,
        )
    },
    Recognizer {
        min_entropy: 3.5,
        ..row(
            "npm-token",
            &["npm_"],
            r"\bnpm_[A-Za-z0-9]{36}\b",
            Value::Random,
        )
    },
    row(
        "pypi-token",
        &["pypi-AgEIcHlwaS5vcmc"],
        r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}",
        Value::Token,
    ),
    row(
        "jwt",
        &["eyJ"],
        r"\beyJ[A-Za-z0-9_\-]{10,}\.ey[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",
        Value::Token,
    ),
    // scheme://user:PASSWORD@host: only the password.
    row(
        "url-password",
        &["://"],
        r#"(?i)\b[a-z][a-z0-9+.\-]{1,30}://[^\s:/?#@'"<>]*:([^\s/?#@'"<>]+)@[A-Za-z0-9\[]"#,
        Value::Literal,
    ),
    row(
        "authorization-header",
        &["authorization"],
        r#"(?i)authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|bot)\s+([A-Za-z0-9._~+/\-]{8,}=*)"#,
        Value::Token,
    ),
    Recognizer {
        min_entropy: 3.0,
        ..row(
            "bearer-token",
            &["bearer"],
            r"(?i)\bbearer\s+([A-Za-z0-9._~+/\-]{20,}=*)",
            Value::Random,
        )
    },
    row(
        "password-flag",
        &["mysql", "mariadb"],
        // `mysql -pSECRET`: -p takes its value attached; `-p` alone prompts.
        r#"\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b[^\n|;&]*?\s-p["']?([^\s"']+)"#,
        Value::Literal,
    ),
    row(
        "password-flag",
        &["sshpass"],
        r#"\bsshpass\s+-p\s*["']?([^\s"']+)"#,
        Value::Literal,
    ),
    row(
        "password-flag",
        &["curl"],
        r#"\bcurl\b[^\n|;&]*?\s(?:-u|--user)\s*["']?[^\s:"']*:([^\s"']+)"#,
        Value::Literal,
    ),
    row(
        "password-flag",
        &["--pass"],
        r#"(?i)(?:^|[^A-Za-z0-9_\-])--(?:password|passwd|pass)(?:=|\s+)["']?([^\s"']+)"#,
        Value::Literal,
    ),
    Recognizer {
        min_entropy: 3.5,
        ..row(
            "token-flag",
            &[
                "--token",
                "--api-key",
                "--apikey",
                "--secret",
                "--client-secret",
                "--auth-token",
                "--access-token",
            ],
            r#"(?i)(?:^|[^A-Za-z0-9_\-])--(?:token|api-key|apikey|secret|client-secret|auth-token|access-token)(?:=|\s+)["']?([^\s"']+)"#,
            Value::Random,
        )
    },
    row(
        "password-assignment",
        &["passw"],
        assigned!(r#"[A-Za-z0-9_.\-]*passw(?:or)?d"#),
        Value::Password,
    ),
    Recognizer {
        min_entropy: 3.5,
        veto: &["public", "pubkey", "pub_key"],
        ..row(
            "secret-assignment",
            &["token", "secret", "key", "credential"],
            assigned!(r#"[A-Za-z0-9_.\-]*(?:token|secret|apikey|[_\-]key|credentials?)s?"#),
            Value::Random,
        )
    },
];

/// Values that stand in for a secret rather than being one.
pub(crate) fn is_placeholder(v: &str) -> bool {
    const WHOLE: &[&str] = &[
        "password",
        "passwd",
        "pass",
        "secret",
        "token",
        "none",
        "null",
        "nil",
        "true",
        "false",
        "undefined",
        "string",
        "value",
        "required",
        "optional",
        "hidden",
        "masked",
        "redacted",
        "test",
    ];
    const PART: &[&str] = &[
        "***",
        "...",
        "example",
        "changeme",
        "change_me",
        "placeholder",
        "your_",
        "your-",
        "yourtoken",
        "dummy",
        "replace_me",
        "replaceme",
        "replacewith",
        "insert_",
        "redacted",
        "<",
        ">",
        "{{",
    ];
    let lower = v.to_ascii_lowercase();
    let first = v.as_bytes().first().copied();
    v.is_empty()
        || matches!(first, Some(b'$' | b'%' | b'*'))
        || WHOLE.contains(&lower.as_str())
        || PART.iter().any(|p| lower.contains(p))
        // Case-sensitive and five long: a random token has `XxXx` in it now and then.
        || v.contains("xxxxx")
        || v.contains("XXXXX")
        || v.bytes().all(|b| Some(b) == first)
}

fn is_path(v: &str) -> bool {
    v.starts_with('/')
        || v.starts_with('~')
        || v.starts_with("./")
        || v.starts_with("../")
        || v.contains("://")
}

/// A bare word that reads as code: an identifier or a dotted name (`self.password`, `str`, `None`).
fn is_code(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'.')
}

/// Shannon entropy in bits per byte.
pub(crate) fn entropy(v: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in v.bytes() {
        counts[b as usize] += 1;
    }
    let n = v.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn classes(v: &str) -> usize {
    [
        u8::is_ascii_lowercase,
        u8::is_ascii_uppercase,
        u8::is_ascii_digit,
    ]
    .iter()
    .filter(|class| v.bytes().any(|b| class(&b)))
    .count()
}

impl Recognizer {
    /// Whether `value`, captured by this row, is a secret. `quoted`: the value was written between quotes.
    pub(crate) fn accepts(&self, value: &str, quoted: bool) -> bool {
        if is_placeholder(value) || entropy(value) < self.min_entropy {
            return false;
        }
        match self.value {
            Value::Token => true,
            Value::Literal => !is_path(value),
            Value::Password => value.len() >= 4 && !is_path(value) && (quoted || !is_code(value)),
            Value::Random => value.len() >= 20 && !is_path(value) && classes(value) >= 2,
        }
    }
}
