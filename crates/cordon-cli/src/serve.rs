//! `cordon serve`: the HTTP service (crate `cordon-serve`), configured from the command line.
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port, printed on stderr).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: String,
    /// Policy file (TOML); the built-in default policy otherwise.
    #[arg(long, env = "CORDON_POLICY")]
    pub policy: Option<PathBuf>,
    /// Record every event and verdict in the episode store (SQLite) before
    /// answering, and serve queries of it. Without FILE: the default path.
    #[arg(long, env = "CORDON_STORE", num_args = 0..=1, default_missing_value = "")]
    pub store: Option<PathBuf>,
    /// File holding the bearer token clients must send (else env CORDON_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Serve without authentication: only on a loopback address.
    #[arg(long, conflicts_with = "token_file")]
    pub no_auth: bool,
}

pub fn run(args: ServeArgs) -> ExitCode {
    match start(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("cordon: {msg}");
            ExitCode::from(3)
        }
    }
}

fn start(args: ServeArgs) -> Result<(), String> {
    let addr = resolve(&args.listen)?;
    let token = if args.no_auth {
        if !addr.ip().is_loopback() {
            return Err(format!(
                "--no-auth is only allowed on a loopback address, not {addr}"
            ));
        }
        None
    } else {
        Some(token(args.token_file.as_ref())?)
    };
    let (mut engine, defs) = super::load_engine_with_tools(args.policy.as_ref(), false)?;
    let mut store = args
        .store
        .map(super::store_path)
        .map(|p| cordon_store::Store::open(&p))
        .transpose()
        .map_err(|e| e.to_string())?;
    if let Some(store) = store.as_mut() {
        for (name, what) in super::tools::pin(store, &defs, false)? {
            engine.mark_changed(&name, what);
        }
    }
    let canaries = super::planted_canaries(store.as_ref())?;
    // The service's shared episode tracker borrows the engine for the life of the process.
    let engine = Box::leak(Box::new(engine));
    let options = cordon_serve::Options {
        token,
        store,
        canaries,
    };
    cordon_serve::run(addr, engine, options, |bound| {
        eprintln!("cordon: listening on http://{bound}")
    })
}

fn resolve(listen: &str) -> Result<SocketAddr, String> {
    listen
        .to_socket_addrs()
        .map_err(|e| format!("--listen {listen}: {e}"))?
        .next()
        .ok_or_else(|| format!("--listen {listen}: no address"))
}

/// The token from --token-file, else CORDON_TOKEN; there must be one.
fn token(file: Option<&PathBuf>) -> Result<String, String> {
    let token = match file {
        Some(f) => std::fs::read_to_string(f).map_err(|e| format!("cannot read token file {}: {e}", f.display()))?,
        None => std::env::var("CORDON_TOKEN").map_err(|_| {
            "no token: give --token-file FILE or set CORDON_TOKEN (or --no-auth on a loopback address)".to_string()
        })?,
    };
    let token = token.trim();
    if token.is_empty() {
        return Err("the token is empty".into());
    }
    Ok(token.to_string())
}
