//! Inputs found by fuzzing (fuzz/fuzz_targets): each must analyse without
//! panicking, with spans inside the input.

use cordon_shell::{analyze, Limits};

fn check(s: &str) {
    let a = analyze(s, &Limits::default());
    for c in &a.commands {
        assert!(
            c.span.0 <= c.span.1 && c.span.1 <= s.len(),
            "{s:?}: span {:?}",
            c.span
        );
        assert!(
            s.is_char_boundary(c.span.0) && s.is_char_boundary(c.span.1),
            "{s:?}: span {:?}",
            c.span
        );
    }
}

#[test]
fn fuzz_found_inputs() {
    for s in ["|`", "\\\u{fffd}`"] {
        check(s);
    }
    // Deeply unclosed `(`: the parser backtracked exponentially (timeouts).
    let slow: [&[u8]; 2] = [b"\x70\x79\x74\x68\xfd\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\x00\xff\xff\xff\x09\xff\xff\xff\x29\x00\x00\x00\x6f\x3c\x3e\xf5\x65\x63\x61\x74\x20\x3e\x20\x2f\x74\x6d\x70\x2f\x68\x70\x68\x74\xff\xff\xff\xff\x0a\x68\x74\xff\xff\xff\xff\x0a\x86\x3c\x5c\x86\x3c\x5c\xf2\x61\xff\x72\x65\x64\x5f\x66\x74\x74\xff\xff\xff\xff\x0a\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x86\x3c\x5c\xf2\x61\xff\x72\x73\x70\x72\x6f\x63\x65\x73\x73\x0a\x73\x7d\x6b\x00\x75\x6e\x2e\x73\x68\x20\x3c", b"\x20\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x28\x00\x00\xf0\x9a\x7c\x79\xc3\x74\xe8\x00\x00\x62\x61\x00\x00\x00\x00\x00\x7c\x7c\x00\x71\x00\x0a\x00\x00\x25\x00\x00\x7c\x7c\x7c\x7c\x7a\x09\x7c\x7c\x7c\x25\x7c\x7c\x17\x69\x64"];
    for bytes in slow {
        check(&String::from_utf8_lossy(bytes));
    }
    check(&"(".repeat(40));
    // brush-parser 0.4: an fd number above i32::MAX panicked; odd heredoc tags looped forever.
    for s in [
        "2147483648>",
        "echo $x 2147483648>/dev/null",
        "<<\r\t",
        "cat <<\r ",
        "cat <<\x0c\t",
        "cat <<-\r\t",
        "<<E$[\t\t",
        "cat <<E$(\t\t",
        "nested $(d)\nPY~\nbash <<-''&\"\"thruby a&>> ",
    ] {
        check(s);
    }
}

/// `CORDON_FUZZ_ARTIFACTS=fuzz/artifacts/analyze cargo test -p cordon-shell --test fuzz_regressions`
/// replays every input a fuzzing run saved.
#[test]
fn replay_saved_fuzz_artifacts() {
    let Some(dir) = std::env::var_os("CORDON_FUZZ_ARTIFACTS") else {
        return;
    };
    let mut failed = Vec::new();
    for entry in std::fs::read_dir(dir).expect("artifact dir") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        let s = String::from_utf8_lossy(&data).into_owned();
        if std::panic::catch_unwind(|| check(&s)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} inputs still fail: {:?}",
        failed.len(),
        &failed[..failed.len().min(10)]
    );
}
