//! `cordon canary plant|list`: plant decoy credentials and record their markers in the store; list them.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use cordon_secrets::{canary_id, CANARY_KINDS};
use cordon_store::time::{format_ms, now_ms};
use cordon_store::{CanaryRecord, Store};

/// How much of a marker `list` shows.
const MARKER_PREFIX: usize = 8;

#[derive(clap::Subcommand)]
pub enum CanaryCmd {
    /// Plant decoy credentials under DIR (.aws/credentials, .ssh/id_ed25519, .env, .kube/config, .netrc) and
    /// record their markers; an existing file is never overwritten.
    Plant {
        dir: PathBuf,
        /// Which decoys to plant, comma-separated.
        #[arg(long, value_delimiter = ',', value_parser = PossibleValuesParser::new(CANARY_KINDS), default_values = CANARY_KINDS)]
        kinds: Vec<String>,
    },
    /// List the recorded canaries (markers only by a short prefix).
    List,
}

pub fn run(store: Option<PathBuf>, cmd: CanaryCmd) -> ExitCode {
    let store = store.unwrap_or_else(cordon_store::default_path);
    let result = match cmd {
        CanaryCmd::Plant { dir, kinds } => plant(&store, &dir, &kinds),
        CanaryCmd::List => list(&store),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("cordon: {msg}");
            ExitCode::from(3)
        }
    }
}

fn plant(store_path: &Path, dir: &Path, kinds: &[String]) -> Result<(), String> {
    // The store first: a store that cannot be opened must not leave unrecorded decoys behind.
    let mut store = Store::open(store_path).map_err(|e| e.to_string())?;
    let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
    let canaries =
        cordon_secrets::plant(dir, &kinds).map_err(|e| format!("cannot plant canaries: {e}"))?;
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let planted_at = format_ms(now_ms());
    let records: Vec<CanaryRecord> = canaries
        .iter()
        .flat_map(|c| {
            let path = dir.join(&c.file).display().to_string();
            let planted_at = &planted_at;
            c.marker_ids().map(move |(id, marker)| CanaryRecord {
                id,
                kind: c.kind.clone(),
                marker: marker.to_owned(),
                path: path.clone(),
                planted_at: planted_at.clone(),
            })
        })
        .collect();
    store.add_canaries(&records).map_err(|e| e.to_string())?;
    println!(
        "planted {} canaries under {} (recorded in {}):",
        canaries.len(),
        dir.display(),
        store_path.display()
    );
    for c in &canaries {
        println!(
            "  {}  {:<10}  {}",
            c.id,
            c.kind,
            dir.join(&c.file).display()
        );
    }
    Ok(())
}

fn list(store_path: &Path) -> Result<(), String> {
    // Listing never creates a store.
    if !store_path.is_file() {
        println!(
            "no canaries recorded (no store at {})",
            store_path.display()
        );
        return Ok(());
    }
    let records = Store::open(store_path)
        .and_then(|s| s.canaries())
        .map_err(|e| e.to_string())?;
    if records.is_empty() {
        println!("no canaries recorded");
        return Ok(());
    }
    // One line per canary: its primary marker's record, and how many markers it has.
    let mut canaries: Vec<(&str, Vec<&CanaryRecord>)> = Vec::new();
    for r in &records {
        let id = canary_id(&r.id);
        match canaries.iter_mut().find(|(c, _)| *c == id) {
            Some((_, rs)) => rs.push(r),
            None => canaries.push((id, vec![r])),
        }
    }
    println!(
        "{:<19}  {:<10}  {:<24}  {:<20}  PATH",
        "ID", "KIND", "PLANTED", "MARKER"
    );
    for (id, rs) in &canaries {
        let primary = rs.iter().find(|r| r.id == *id).unwrap_or(&rs[0]);
        let prefix: String = primary.marker.chars().take(MARKER_PREFIX).collect();
        let marker = format!("{prefix}… ({})", rs.len());
        println!(
            "{id:<19}  {:<10}  {:<24}  {marker:<20}  {}",
            primary.kind, primary.planted_at, primary.path
        );
    }
    Ok(())
}
