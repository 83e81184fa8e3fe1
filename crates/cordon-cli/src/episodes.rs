//! `cordon episodes list|show|export` (to be written).
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum EpisodesCmd {
    /// List episodes.
    List {},
}

pub fn run(_store: Option<PathBuf>, _cmd: EpisodesCmd) -> ExitCode {
    ExitCode::from(3)
}
