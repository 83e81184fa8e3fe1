//! `cordon tools pin FILE`: tool definitions pinned in the store on first
//! sight; a later definition that differs is TOOL_DEFINITION_CHANGED.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cordon_engine::registry::{parse_tool_defs, ToolDef};
use cordon_mcp::pins::{describe_change, hash};
use cordon_store::{Store, ToolDefinition};

#[derive(clap::Subcommand)]
pub enum ToolsCmd {
    /// Pin the tool definitions in FILE (an MCP `tools/list` result, or a
    /// list of tools with JSON Schemas). New tools are pinned; changed ones
    /// are reported (exit 1) and re-pinned only with --accept.
    Pin {
        file: PathBuf,
        #[arg(long)]
        accept: bool,
    },
}

pub fn run(store: Option<PathBuf>, cmd: ToolsCmd) -> ExitCode {
    let ToolsCmd::Pin { file, accept } = cmd;
    let path = store.unwrap_or_else(cordon_store::default_path);
    let result = read_defs(&file).and_then(|defs| {
        let mut store = Store::open(&path).map_err(|e| e.to_string())?;
        let changed = pin(&mut store, &defs, accept)?;
        Ok((defs.len(), changed))
    });
    match result {
        Ok((n, changed)) => {
            for (name, what) in &changed {
                println!(
                    "TOOL_DEFINITION_CHANGED {name}: {what}{}",
                    if accept {
                        " (accepted, pinned again)"
                    } else {
                        ""
                    }
                );
            }
            println!("{n} tool definitions, {} changed", changed.len());
            if changed.is_empty() || accept {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("cordon: {e}");
            ExitCode::from(3)
        }
    }
}

pub fn read_defs(file: &Path) -> Result<Vec<ToolDef>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read tool definitions {}: {e}", file.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: invalid JSON: {e}", file.display()))?;
    parse_tool_defs(&v).map_err(|e| format!("{}: {e}", file.display()))
}

/// Pin new definitions; return those that differ from their pin (re-pinned when `accept`).
pub fn pin(
    store: &mut Store,
    defs: &[ToolDef],
    accept: bool,
) -> Result<Vec<(String, String)>, String> {
    let mut changed = Vec::new();
    for d in defs {
        let canonical = d.canonical();
        let hash = hash(&canonical);
        let pinned = store.tool_definition(&d.name).map_err(|e| e.to_string())?;
        let fresh = ToolDefinition {
            name: d.name.clone(),
            schema: serde_json::from_str(&canonical).unwrap_or_default(),
            hash: hash.clone(),
            first_seen: cordon_store::time::format_ms(cordon_store::time::now_ms()),
        };
        match pinned {
            None => store
                .put_tool_definition(&fresh)
                .map_err(|e| e.to_string())?,
            Some(p) if p.hash != hash => {
                changed.push((
                    d.name.clone(),
                    describe_change(&p.schema, &fresh.schema, &p.hash, &hash),
                ));
                if accept {
                    store
                        .put_tool_definition(&fresh)
                        .map_err(|e| e.to_string())?;
                }
            }
            Some(_) => {}
        }
    }
    Ok(changed)
}
