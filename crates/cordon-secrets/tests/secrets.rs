//! Recognizers (positives and near misses), redaction, fingerprints and forms, through the public API.
//!
//! Test credentials are assembled at run time (`tok`) so that this file holds no string that a secret scanner
//! would take for a real credential.
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use cordon_secrets::{forms, tagged_forms, SecretHit, Secrets};
use serde_json::json;

fn secrets() -> Secrets {
    Secrets::new([42; 32])
}

/// `prefix` followed by `n` characters cycling through a random-looking alphabet.
fn tok(prefix: &str, n: usize) -> String {
    const MIX: &str = "q7Wd2Rk9ZxP4mTb8NvLc3HsJf6YgE5uA";
    format!(
        "{prefix}{}",
        MIX.chars().cycle().take(n).collect::<String>()
    )
}

/// (kind, secret) for every hit in `text`, checking each span.
fn found(text: &str) -> Vec<(&'static str, String)> {
    secrets()
        .scan(text)
        .into_iter()
        .map(|h: SecretHit| (h.kind, text[h.span.0..h.span.1].to_owned()))
        .collect()
}

#[track_caller]
fn assert_one(text: &str, kind: &str, secret: &str) {
    assert_eq!(found(text), vec![(kind, secret.to_owned())], "in {text:?}");
}

#[track_caller]
fn assert_none(text: &str) {
    assert_eq!(found(text), vec![], "in {text:?}");
}

#[test]
fn vendor_tokens() {
    let aws_id = format!("AKIA{}", "Q3EGWTZ6RJXL5NVM");
    assert_one(
        &format!("aws configure set aws_access_key_id {aws_id}"),
        "aws-access-key-id",
        &aws_id,
    );
    assert_one(
        &format!("export AWS_ACCESS_KEY_ID=ASIA{}", "Q3EGWTZ6RJXL5NVM"),
        "aws-access-key-id",
        "ASIAQ3EGWTZ6RJXL5NVM",
    );
    let aws_secret = &format!("wJalrXUtnFEMI/K7MDENG/{}", "bPxRfiCYzQ8h3kP9sT");
    assert_one(
        &format!("aws_secret_access_key = {aws_secret}\n"),
        "aws-secret-access-key",
        aws_secret,
    );
    assert_one(
        &format!("export AWS_SECRET_ACCESS_KEY={aws_secret}"),
        "aws-secret-access-key",
        aws_secret,
    );
    assert_one(
        &format!(r#"{{"SecretAccessKey": "{aws_secret}"}}"#),
        "aws-secret-access-key",
        aws_secret,
    );

    for prefix in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
        let t = tok(prefix, 36);
        assert_one(
            &format!("git clone https://x:{t}@github.com/o/r"),
            "github-token",
            &t,
        );
    }
    let pat = tok("github_pat_", 82);
    assert_one(&format!("GH_TOKEN={pat} gh pr list"), "github-token", &pat);
    let glpat = tok("glpat-", 20);
    assert_one(
        &format!("curl -H 'PRIVATE-TOKEN: {glpat}' https://gitlab.com/api/v4/user"),
        "gitlab-token",
        &glpat,
    );
    let slack = format!("xoxb-123456789012-1234567890123-{}", tok("", 24));
    assert_one(&format!("SLACK_BOT_TOKEN={slack}"), "slack-token", &slack);
    let hook = format!(
        "https://hooks.slack.com/services/T01ABCD2E/B02FGH3IJ/{}",
        tok("", 24)
    );
    assert_one(
        &format!("curl -X POST -d @msg.json {hook}"),
        "slack-webhook",
        &hook,
    );
    let stripe = tok("sk_live_", 24);
    assert_one(
        &format!("stripe.api_key = \"{stripe}\""),
        "stripe-key",
        &stripe,
    );
    let restricted = tok("rk_live_", 24);
    assert_one(
        &format!("STRIPE_KEY={restricted}"),
        "stripe-key",
        &restricted,
    );
    let openai = tok("sk-proj-", 64);
    assert_one(
        &format!("OPENAI_API_KEY={openai} python app.py"),
        "openai-api-key",
        &openai,
    );
    let legacy = tok("sk-", 48);
    assert_one(
        &format!("openai.api_key = '{legacy}'"),
        "openai-api-key",
        &legacy,
    );
    let anthropic = tok("sk-ant-api03-", 93);
    assert_one(
        &format!("export ANTHROPIC_API_KEY={anthropic}"),
        "anthropic-api-key",
        &anthropic,
    );
    let google = tok("AIza", 35);
    assert_one(
        &format!("https://maps.googleapis.com/maps/api/geocode/json?key={google}&address=x"),
        "google-api-key",
        &google,
    );
    let hf = tok("hf_", 34).replace(|c: char| c.is_ascii_digit(), "k");
    assert_one(
        &format!("huggingface-cli login --token {hf}"),
        "huggingface-token",
        &hf,
    );
    let npm = tok("npm_", 36);
    assert_one(
        &format!("//registry.npmjs.org/:_authToken={npm}"),
        "npm-token",
        &npm,
    );
    let jwt = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"sub":"1234567890","name":"svc"}"#),
        tok("", 43)
    );
    assert_one(
        &format!("curl -b session={jwt} https://app.internal/"),
        "jwt",
        &jwt,
    );
}

#[test]
fn private_keys() {
    let body: Vec<String> = (0..5).map(|i| tok(&format!("MIIE{i}"), 60)).collect();
    let block = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
        body.join("\n")
    );
    assert_one(&format!("cat id_rsa\n{block}\nls"), "private-key", &block);
    let pkcs8 = block.replace("RSA PRIVATE", "PRIVATE");
    assert_one(&pkcs8, "private-key", &pkcs8);
    // Escaped newlines, as in a JSON string or `echo -e`.
    let escaped = block.replace('\n', "\\n");
    assert_one(
        &format!("echo -e \"{escaped}\" > k"),
        "private-key",
        &escaped,
    );
    // Cut short (`head -3 id_rsa`): the header and the base64 lines.
    let cut = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n{}",
        body[0], body[1]
    );
    assert_one(&format!("{cut}\n"), "private-key", &format!("{cut}\n"));
    // Talk about keys, with no key in it.
    assert_none(
        "grep -rl -- '-----BEGIN RSA PRIVATE KEY-----' . ; echo '-----END RSA PRIVATE KEY-----'",
    );
    assert_none("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----");
}

#[test]
fn passwords_in_urls_and_flags() {
    assert_one(
        "psql postgres://app:S3cr3t-Pw@db.internal:5432/app",
        "url-password",
        "S3cr3t-Pw",
    );
    assert_one(
        "git remote add o https://deploy:hunter2x@git.corp/r.git",
        "url-password",
        "hunter2x",
    );
    assert_one(
        "redis-cli -u redis://:Zq8pL2vN@cache:6379",
        "url-password",
        "Zq8pL2vN",
    );
    assert_one("mysql -u root -pS3cret! appdb", "password-flag", "S3cret!");
    assert_one(
        "mysqldump -h db -u admin -p'xK9#pq' shop > dump.sql",
        "password-flag",
        "xK9#pq",
    );
    assert_one(
        "sshpass -p 'pwd101!' ssh testuser1@localhost",
        "password-flag",
        "pwd101!",
    );
    assert_one(
        "curl -u admin:Tr0ub4dor https://jenkins.corp/api",
        "password-flag",
        "Tr0ub4dor",
    );
    assert_one(
        "docker login --password=Gh7qLm2x registry.corp",
        "password-flag",
        "Gh7qLm2x",
    );
    let token = tok("", 32);
    assert_one(
        &format!("vault login --token {token}"),
        "token-flag",
        &token,
    );

    assert_none("psql postgres://postgres:$PGPASSWORD@localhost/db");
    assert_none("psql postgres://user:password@localhost/db");
    assert_none("psql 'postgres://${DB_USER}:${DB_PASS}@db/app'");
    assert_none("curl https://example.com:8443/path?q=1");
    assert_none("mysql -u root -p appdb");
    assert_none("mkdir -p build/out && ssh -p 2222 host && cp -p a b");
    assert_none("git push -u origin main; docker run -u 1000:1000 img");
    assert_none("curl -u \"$USER:$PASS\" https://api/");
    assert_none("docker login --password-stdin < pw.txt");
    assert_none("vault login --token $VAULT_TOKEN");
}

#[test]
fn headers() {
    let bearer = tok("", 40);
    assert_one(
        &format!("curl -H 'Authorization: Bearer {bearer}' https://api/"),
        "authorization-header",
        &bearer,
    );
    let basic = STANDARD.encode("admin:Tr0ub4dor&3");
    assert_one(
        &format!("curl -H \"Authorization: Basic {basic}\" https://api/"),
        "authorization-header",
        &basic,
    );
    assert_one(
        &format!("requests.get(u, headers={{'Authorization': 'token {bearer}'}})"),
        "authorization-header",
        &bearer,
    );
    assert_one(
        &format!("http api/ bearer {bearer}"),
        "bearer-token",
        &bearer,
    );
    let key = tok("", 32);
    assert_one(
        &format!("curl -H 'X-Api-Key: {key}' https://api/"),
        "secret-assignment",
        &key,
    );

    assert_none("curl -H \"Authorization: Bearer $TOKEN\" https://api/");
    assert_none("curl -H 'Authorization: Bearer <your-token>' https://api/");
    assert_none("curl -H 'Authorization: Bearer YOUR_TOKEN_HERE' https://api/");
    assert_none("This adds basic authentication support to the bearer flow");
}

#[test]
fn assignments() {
    assert_one(
        "export DB_PASSWORD=hunter2!",
        "password-assignment",
        "hunter2!",
    );
    assert_one(
        "PGPASSWORD='s3cr3t' psql -h db",
        "password-assignment",
        "s3cr3t",
    );
    assert_one(
        "password: Tr0ub4dor#3\n",
        "password-assignment",
        "Tr0ub4dor#3",
    );
    assert_one(
        r#"{"user": "svc", "password": "correcthorse"}"#,
        "password-assignment",
        "correcthorse",
    );
    let key = "a8f5f167f44f4964e6c998dee827110c";
    assert_one(&format!("API_KEY=\"{key}\""), "secret-assignment", key);
    let secret = tok("", 40);
    assert_one(
        &format!("client_secret: {secret}"),
        "secret-assignment",
        &secret,
    );
    assert_one(
        &format!("SECRET_KEY = 'django-insecure-{secret}'"),
        "secret-assignment",
        &format!("django-insecure-{secret}"),
    );
    // A vendor format wins over the generic name-based row.
    let gh = tok("ghp_", 36);
    assert_one(&format!("export GITHUB_TOKEN={gh}"), "github-token", &gh);

    for placeholder in [
        "$API_KEY",
        "${API_KEY}",
        "<api-key>",
        "xxx",
        "xxxxxxxxxxxxxxxxxxxxxxxx",
        "changeme",
        "***",
        "",
        "your_api_key_here",
    ] {
        assert_none(&format!("API_KEY={placeholder}"));
        assert_none(&format!("DB_PASSWORD={placeholder}"));
    }
    assert_none("AKIAIOSFODNN7EXAMPLE");
    assert_none(
        "password = request.form['password']\npassword: str = None\nself.password = password",
    );
    assert_none("if password == 'x': pass\ntoken = self.next_token()\ntokens = tokenize(text)");
    assert_none("SECRET_KEY='test-secret-key'\nSECRET_KEY = 'test-key-for-autoreload-issue'");
    assert_none("create_user(username='test', password='test')");
    assert_none("SSH_KEY=/home/dev/.ssh/id_ed25519_2024 ./deploy.sh");
    assert_none("PWD=/home/dev/project12345678901234567");
    assert_none(&format!(
        "public_key = \"{}\"",
        tok("MFkwEwYHKoZIzj0CAQYI", 40)
    ));
    assert_none("cache_key = f\"user:{user_id}:profile\"\nsort_key=lambda x: x[0]");
}

#[test]
fn ordinary_dev_text() {
    assert_none("git checkout 3f1c9a7e2b4d6f8a0c1e3b5d7f9a1c3e5b7d9f1a && git log abc123..def456");
    assert_none(
        "docker rm 123e4567-e89b-12d3-a456-426614174000; kubectl delete pod api-7d9f8b6c5d-x2k4q",
    );
    assert_none(concat!(
        "\"integrity\": \"sha512-9NET910DNaIPngYnLLPeg+Ogzqsi9uM4mSboU5y6p8S5DzMTVEsJZrawi+BoDNUVBa2DhJqQYUFvMMKcBJ73w==\",\n",
        "checksum = \"32497e9a4c7b38532efcdebeef879707aa9f794296a4f0244f6f69e9bc8574bd\"\n",
        "sha256sum app.tar.gz 5f2b1c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c",
    ));
    // An embedded image whose base64 happens to contain key-like runs: not at a word boundary, so not a key.
    let image = format!(
        "data:image/png;base64,iVBORw0KGgo{}AKIAQ3EGWTZ6RJXL5NVM{}eyJhbGciOiJIUzI1NiJ9",
        tok("", 200),
        tok("", 50)
    );
    assert_none(&format!("expected = \"{image}\""));
    assert_none("cat ~/.aws/credentials ~/.ssh/id_rsa /etc/passwd; ls ~/.kube");
    assert_none(
        "pip install scikit-learn && python -m pytest tests/ -k 'test_token or test_secret'",
    );
}

#[test]
fn redaction_keeps_the_rest() {
    let gh = tok("ghp_", 36);
    let text = format!("before GITHUB_TOKEN={gh} middle postgres://u:Pq9zXw2v@db/x after");
    let s = secrets();
    let (out, hits) = s.redact(&text);
    assert_eq!(hits.len(), 2);
    let expected = format!(
        "before GITHUB_TOKEN=[REDACTED:github-token:{}] middle postgres://u:[REDACTED:url-password:{}]@db/x after",
        &s.fingerprint(&gh)[..8],
        &s.fingerprint("Pq9zXw2v")[..8]
    );
    assert_eq!(out, expected);
    assert_eq!(&text[hits[0].span.0..hits[0].span.1], gh);
    assert_eq!(hits[0].fingerprint, s.fingerprint(&gh));
    // Redacted text has nothing left to redact.
    assert_eq!(s.redact(&out).1, vec![]);
    // Text without secrets comes back unchanged.
    assert_eq!(s.redact("ls -la && cargo test").0, "ls -la && cargo test");
}

#[test]
fn redact_json_values() {
    let s = secrets();
    let random = tok("", 32);
    let gh = tok("ghp_", 36);
    let v = json!({
        "tool": "http_request",
        "input": {
            "url": "https://api.corp/v1",
            "headers": {"Authorization": format!("Bearer {random}"), "X-Api-Key": random},
            "args": [format!("--token={gh}"), 7, null],
            "api_key": "short",
        }
    });
    let (out, hits) = s.redact_value(&v);
    let fp = &s.fingerprint(&random)[..8];
    assert_eq!(
        out["input"]["headers"]["Authorization"],
        format!("Bearer [REDACTED:authorization-header:{fp}]")
    );
    // The key names the value: a bare random string under `X-Api-Key` is a secret.
    assert_eq!(
        out["input"]["headers"]["X-Api-Key"],
        format!("[REDACTED:secret-assignment:{fp}]")
    );
    assert_eq!(
        out["input"]["args"][0],
        format!(
            "--token=[REDACTED:github-token:{}]",
            &s.fingerprint(&gh)[..8]
        )
    );
    assert_eq!(out["input"]["args"][1], 7);
    assert_eq!(out["input"]["api_key"], "short");
    assert_eq!(out["input"]["url"], "https://api.corp/v1");
    assert_eq!(hits.len(), 3);
    // Spans are relative to the string each hit was found in.
    assert_eq!(
        hits.iter()
            .find(|h| h.kind == "secret-assignment")
            .unwrap()
            .span,
        (0, random.len())
    );
}

#[test]
fn fingerprints_are_keyed() {
    let a = Secrets::new([1; 32]);
    let b = Secrets::new([2; 32]);
    assert_eq!(
        a.fingerprint("hunter2"),
        Secrets::new([1; 32]).fingerprint("hunter2")
    );
    assert_ne!(a.fingerprint("hunter2"), b.fingerprint("hunter2"));
    assert_ne!(a.fingerprint("hunter2"), a.fingerprint("hunter3"));
    assert_eq!(a.fingerprint("x").len(), 32);
    assert!(a
        .fingerprint("x")
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
}

#[test]
fn scan_limit() {
    let gh = tok("ghp_", 36);
    let text = format!("{}{gh}", "x ".repeat(100));
    assert_eq!(secrets().scan(&text).len(), 1);
    assert_eq!(secrets().with_scan_limit(100).scan(&text), vec![]);
    // The limit falls inside a multi-byte character: cut before it.
    assert_eq!(secrets().with_scan_limit(1).scan("é"), vec![]);
}

#[test]
fn forms_round_trip() {
    let secret = "p@ss/w+rd?&=é";
    let tagged = tagged_forms(secret);
    assert_eq!(tagged[0], ("verbatim", secret.to_owned()));
    for (tag, form) in &tagged {
        match *tag {
            "verbatim" => assert_eq!(form, secret),
            "hex" => assert_eq!(decode_hex(&form.to_ascii_lowercase()), secret.as_bytes()),
            "url" => assert_eq!(decode_percent(form), secret.as_bytes()),
            "base64" => {}
            other => panic!("unknown form {other}"),
        }
    }
    // The full encodings decode back; the unpadded and url-safe ones too.
    for engine in [&STANDARD, &URL_SAFE_NO_PAD] {
        let full = engine.encode(secret);
        assert!(tagged.contains(&("base64", full.clone())), "{full}");
        assert_eq!(engine.decode(&full).unwrap(), secret.as_bytes());
    }
    assert!(tagged
        .iter()
        .any(|(t, f)| *t == "hex" && f.bytes().any(|b| b.is_ascii_uppercase())));
    assert!(tagged.iter().any(|(t, f)| *t == "url" && f.contains("%2F")));
    assert!(tagged.iter().any(|(t, f)| *t == "url" && f.contains("%2f")));
    // Each form once; a secret that needs no escaping has only its fully escaped url forms.
    let plain = forms("abcdefghijklmnop");
    assert_eq!(
        plain.len(),
        plain.iter().collect::<std::collections::HashSet<_>>().len()
    );
    let urls: Vec<String> = tagged_forms("abcdefghijklmnop")
        .into_iter()
        .filter(|(t, _)| *t == "url")
        .map(|(_, f)| f)
        .collect();
    assert_eq!(
        urls,
        [
            "%61%62%63%64%65%66%67%68%69%6A%6B%6C%6D%6E%6F%70",
            "%61%62%63%64%65%66%67%68%69%6a%6b%6c%6d%6e%6f%70"
        ]
    );
    assert_eq!(forms(""), Vec::<String>::new());
}

#[test]
fn forms_find_a_secret_inside_a_larger_base64_blob() {
    let secret = tok("ghp_", 36);
    let forms = forms(&secret);
    for offset in 0..6 {
        let blob = format!(
            "{}{secret}\n{}",
            "x".repeat(offset),
            "more text after ".repeat(3)
        );
        for encoded in [STANDARD.encode(&blob), URL_SAFE_NO_PAD.encode(&blob)] {
            assert!(
                forms.iter().any(|f| encoded.contains(f.as_str())),
                "offset {offset}: {encoded}"
            );
        }
    }
}

fn decode_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn decode_percent(s: &str) -> Vec<u8> {
    let (b, mut out, mut i) = (s.as_bytes(), Vec::new(), 0);
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}
