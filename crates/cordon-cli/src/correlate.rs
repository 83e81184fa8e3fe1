//! `cordon correlate`: network events attributed to episodes and tool calls (issue 6).
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CorrelateArgs {}

pub fn run(_args: CorrelateArgs) -> ExitCode {
    eprintln!("cordon: `correlate` is not built yet");
    ExitCode::from(3)
}
