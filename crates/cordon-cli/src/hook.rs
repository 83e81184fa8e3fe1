//! `cordon hook <agent>` and `cordon hook install <agent>` (to be written).
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct HookArgs {
    /// The agent whose hook event is on stdin.
    pub agent: String,
}

pub fn run(_args: HookArgs) -> ExitCode {
    ExitCode::from(2)
}
