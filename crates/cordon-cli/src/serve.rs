//! `cordon serve` (to be written).
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: String,
}

pub fn run(_args: ServeArgs) -> ExitCode {
    ExitCode::from(3)
}
