//! Shell understanding for Cordon.
//!
//! `analyze` parses a command with [brush-parser] (chosen after measuring it
//! against tree-sitter-bash on the dev corpora: both rejected ~0.1% of real
//! agent commands, brush was ~1.6x faster and yields a typed bash AST; see
//! README "Shell parser"), then walks the AST the way bash would run it and
//! returns a flat list of every command that would execute: through
//! pipelines, lists, subshells, functions, command and process substitution,
//! wrappers (`sudo`, `env`, `timeout`, `xargs`, `find -exec`, `bash -c`,
//! `eval`, ...), heredocs fed to shells, and payloads decoded on the way into
//! a shell. Words are evaluated: quotes removed, ANSI-C escapes decoded,
//! variables assigned earlier in the same command substituted.

mod code;
mod decode;
mod glob;
mod heredoc;
mod lex;
/// Public for the fuzz target that holds it to brush-parser's grammar.
pub mod simple;
/// Public for the differential fuzz target (it must give brush-parser's tokens).
pub mod tokens;
/// Public for the same fuzz target: brush-parser hangs or panics on what this rejects.
#[doc(hidden)]
pub use lex::parser_safe;
mod walk;
mod word;

pub use walk::{
    analyze, analyze_with_files, file_key, Analysis, Code, Command, Limits, Redirect, RedirectOp,
    Signal, SignalKind, Stdin,
};

/// Normalise a program path to the name rules match on: basename, with
/// interpreter version suffixes folded (`/usr/bin/python3.11` -> `python3`).
pub fn command_name(argv0: &str) -> String {
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    let base = base.strip_suffix(".exe").unwrap_or(base);
    for family in ["python", "perl", "ruby", "php", "lua", "node", "pypy"] {
        if let Some(rest) = base.strip_prefix(family) {
            if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.') {
                return if family == "python" && rest.starts_with('3') {
                    "python3".into()
                } else {
                    family.into()
                };
            }
        }
    }
    base.to_string()
}

pub use cordon_core::floor_char_boundary;
