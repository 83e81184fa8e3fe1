//! `cordon mcp-proxy [--policy P] [--store [FILE]] -- SERVER_CMD...`: a stdio
//! MCP proxy in front of SERVER_CMD (see `cordon_mcp` and docs/mcp.md).
use std::path::PathBuf;
use std::process::ExitCode;

use cordon_mcp::{FlaggedResults, Options, Pin, Pins, Proxy};
use cordon_store::Store;

#[derive(clap::Args)]
pub struct McpArgs {
    /// Policy file (TOML); the built-in default policy otherwise.
    #[arg(long, env = "CORDON_POLICY")]
    policy: Option<PathBuf>,
    /// Episode store (SQLite): every call and result recorded, tool
    /// definitions pinned across runs, planted canaries known. Without FILE:
    /// the default path. Without --store, pins last for this run.
    #[arg(long, env = "CORDON_STORE", num_args = 0..=1, default_missing_value = "")]
    store: Option<PathBuf>,
    /// Episode id for this run's events (default: `mcp-<unix ms>-<pid>`).
    #[arg(long)]
    session: Option<String>,
    /// Append every verdict (calls and results) to FILE as JSON lines.
    #[arg(long)]
    log: Option<PathBuf>,
    /// A tool result with findings (a canary, injected instructions):
    /// `annotate` passes it on with a warning to the model put first;
    /// `withhold` replaces it with an error result naming the findings.
    #[arg(long, value_enum, default_value_t = Flagged::Annotate)]
    flagged_results: Flagged,
    /// Redact secrets in tool results before they reach the client.
    #[arg(long)]
    redact_results: bool,
    /// Do not proxy: connect to the server, list its tools and pin their
    /// definitions as they are now (accepting changes), then exit.
    #[arg(long, requires = "store")]
    repin: bool,
    /// The MCP server command and its arguments.
    #[arg(last = true, required = true)]
    server: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Flagged {
    Annotate,
    Withhold,
}

pub fn run(args: McpArgs) -> ExitCode {
    match proxy(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("cordon: {e}");
            ExitCode::from(3)
        }
    }
}

fn proxy(args: McpArgs) -> Result<u8, String> {
    let (mut engine, defs) = crate::load_engine_with_tools(args.policy.as_ref(), false)?;
    let path = args.store.map(crate::store_path);
    let open = |p: &PathBuf| Store::open(p).map_err(|e| e.to_string());
    if args.repin {
        let mut pins = Pins::in_store(
            open(path.as_ref().ok_or("--repin needs --store")?)?,
            &args.server,
        );
        return repin(&args.server, &mut pins);
    }
    let mut store = path.as_ref().map(open).transpose()?;
    if let Some(store) = store.as_mut() {
        // The policy's own imported definitions are pinned as `cordon check --store` pins them.
        for (name, what) in crate::tools::pin(store, &defs, false)? {
            engine.mark_changed(&name, what);
        }
    }
    let canaries = crate::planted_canaries(store.as_ref())?;
    let secrets = cordon_secrets::Secrets::new(
        store
            .as_ref()
            .map(Store::fingerprint_key)
            .unwrap_or_else(crate::ephemeral_key),
    );
    // One connection pins (on the relay's path), the other records (on its own thread).
    let recorder = path.as_ref().map(open).transpose()?;
    let pins = match store {
        Some(store) => Pins::in_store(store, &args.server),
        None => Pins::memory(),
    };
    let log = match &args.log {
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("--log {}: {e}", p.display()))?;
            Some(Box::new(f) as Box<dyn std::io::Write>)
        }
        None => None,
    };
    let opts = Options {
        session: args.session.unwrap_or_else(|| {
            format!(
                "mcp-{}-{}",
                cordon_store::time::now_ms(),
                std::process::id()
            )
        }),
        server_name: cordon_mcp::default_server_name(&args.server),
        flagged_results: match args.flagged_results {
            Flagged::Annotate => FlaggedResults::Annotate,
            Flagged::Withhold => FlaggedResults::Withhold,
        },
        redact_results: args.redact_results,
    };
    let proxy = Proxy::new(&engine, &secrets, canaries, pins, opts)?;
    cordon_mcp::serve(proxy, &args.server, log, recorder)
}

fn repin(server: &[String], pins: &mut Pins) -> Result<u8, String> {
    let (name, states) = cordon_mcp::repin(server, pins)?;
    for (tool, state) in &states {
        match state {
            Pin::New => println!("pinned    {tool}"),
            Pin::Same => println!("unchanged {tool}"),
            Pin::Changed(what) => println!("re-pinned {tool}: {what}"),
        }
    }
    println!("{} tool definitions of `{name}` pinned", states.len());
    Ok(0)
}
