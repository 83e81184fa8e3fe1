//! Ahead-of-time step for the rule pack: the TOML source (with its examples)
//! is turned into compact JSON without the examples, which the engine parses
//! at start. Hook processes start once per tool call, and JSON parses several
//! times faster than TOML; the examples are only needed by the tests.

use std::path::Path;

fn main() {
    let src_path = Path::new("rules/default.toml");
    println!("cargo:rerun-if-changed={}", src_path.display());
    let src = std::fs::read_to_string(src_path).expect("read rules/default.toml");
    let mut pack: toml::Value =
        toml::from_str(&src).unwrap_or_else(|e| panic!("rules/default.toml: {e}"));
    if let Some(rules) = pack.get_mut("rule").and_then(|r| r.as_array_mut()) {
        for r in rules {
            if let Some(t) = r.as_table_mut() {
                t.remove("tests");
                t.remove("description");
            }
        }
    }
    let json = serde_json::to_string(&pack).expect("pack as JSON");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("default_pack.json");
    std::fs::write(out, json).expect("write pack JSON");
}
