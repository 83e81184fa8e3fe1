//! `cordon run`: a command in Cordon's sandbox (issue 5). The mechanism is
//! cordon-sandbox; this adapter reads the policy, opens the record
//! destinations and turns the outcome into this process's exit status.
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use cordon_core::{Mode, NetRecord, Policy};
use cordon_sandbox::{Attribution, Config, Exit, Sink};

/// Exit status when Cordon itself cannot run the command (as `env` and
/// container runtimes use 125), so it is never mistaken for the command's.
const SETUP_FAILED: u8 = 125;

#[derive(clap::Args)]
#[command(trailing_var_arg = true)]
pub struct RunArgs {
    /// Policy file (TOML); its `[sandbox]` table configures the sandbox.
    #[arg(long, env = "CORDON_POLICY")]
    policy: Option<PathBuf>,
    /// Episode (session) the records belong to.
    #[arg(long)]
    episode: Option<String>,
    /// Tool call id the records belong to.
    #[arg(long)]
    call: Option<String>,
    /// Also record into the episode store (SQLite). Without FILE: the default path.
    #[arg(long, env = "CORDON_STORE", num_args = 0..=1, default_missing_value = "")]
    store: Option<PathBuf>,
    /// Write every record as one JSON line to FILE.
    #[arg(long, value_name = "FILE.jsonl")]
    record: Option<PathBuf>,
    /// `block` kills the process tree on a blocking finding; `monitor` records only.
    /// Default: `[sandbox] mode`, else the policy's `mode`.
    #[arg(long, value_parser = ["monitor", "block"])]
    mode: Option<String>,
    /// The read-write directory (default: the current directory).
    #[arg(long)]
    workspace: Option<PathBuf>,
    /// Say what the sandbox does even when nothing is found.
    #[arg(short, long)]
    verbose: bool,
    /// The command and its arguments (after `--`).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    command: Vec<OsString>,
}

struct StoreSink {
    store: cordon_store::Store,
    failed: bool,
}

impl Sink for StoreSink {
    fn write(&mut self, batch: &[NetRecord]) {
        if let Err(e) = self.store.record_net(batch) {
            if !self.failed {
                eprintln!("cordon: episode store: {e}");
                self.failed = true;
            }
        }
    }
}

fn load_policy(path: Option<&PathBuf>) -> Result<Policy, String> {
    let Some(p) = path else {
        return Ok(Policy::default());
    };
    let src = std::fs::read_to_string(p)
        .map_err(|e| format!("cannot read policy {}: {e}", p.display()))?;
    Policy::from_toml(&src).map_err(|errs| {
        errs.iter()
            .map(|e| format!("{}: {e}", p.display()))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

pub fn run(args: RunArgs) -> ExitCode {
    match go(args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("cordon: {msg}");
            ExitCode::from(SETUP_FAILED)
        }
    }
}

fn go(args: RunArgs) -> Result<ExitCode, String> {
    let policy = load_policy(args.policy.as_ref())?;
    let mode = match args.mode.as_deref() {
        Some("monitor") => Mode::Monitor,
        Some(_) => Mode::Block,
        None => policy.sandbox.mode.unwrap_or(policy.mode),
    };
    let jsonl: Option<Box<dyn std::io::Write + Send>> = match &args.record {
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("cannot open {}: {e}", p.display()))?;
            Some(Box::new(std::io::BufWriter::new(f)))
        }
        None => None,
    };
    let sink: Option<Box<dyn Sink>> = match args.store {
        Some(p) => {
            let p = if p.as_os_str().is_empty() {
                cordon_store::default_path()
            } else {
                p
            };
            let store = cordon_store::Store::open(&p)
                .map_err(|e| format!("episode store {}: {e}", p.display()))?;
            Some(Box::new(StoreSink {
                store,
                failed: false,
            }))
        }
        None => None,
    };
    let workspace = match args.workspace {
        Some(w) => w,
        None => std::env::current_dir().map_err(|e| format!("current directory: {e}"))?,
    };
    let verbose = args.verbose;
    let cfg = Config {
        argv: args.command,
        policy,
        mode,
        workspace,
        attribution: Attribution {
            session: args.episode,
            call_id: args.call,
            host: None,
        },
        jsonl,
        sink,
        verbose,
    };
    let out = cordon_sandbox::run(cfg)?;
    if verbose {
        eprintln!(
            "cordon: {:?}, {} records, {} findings{}",
            out.exit,
            out.summary.records,
            out.summary.findings.len(),
            if out.missing.is_empty() {
                String::new()
            } else {
                format!(", degraded: {:?}", out.missing)
            }
        );
    }
    Ok(match out.exit {
        Exit::Code(c) => ExitCode::from(c as u8),
        Exit::Signal(s) if out.summary.killed_for.is_some() => ExitCode::from(128 + s as u8),
        Exit::Signal(s) => reraise(s),
    })
}

/// Die of the command's signal so a parent sees the same wait status
/// (without a core file of our own).
fn reraise(sig: i32) -> ExitCode {
    // SAFETY: resetting a disposition, raising a signal at ourselves.
    unsafe {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &none);
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    ExitCode::from(128 + sig as u8)
}
