//! `cordon run`: a command in Cordon's sandbox (issue 5).
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct RunArgs {}

pub fn run(_args: RunArgs) -> ExitCode {
    eprintln!("cordon: `run` is not built yet");
    ExitCode::from(3)
}
