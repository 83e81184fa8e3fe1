//! `cordon canary plant|list` (to be written).
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum CanaryCmd {
    /// Plant decoy credentials in DIR.
    Plant { dir: PathBuf },
}

pub fn run(_store: Option<PathBuf>, _cmd: CanaryCmd) -> ExitCode {
    ExitCode::from(3)
}
