//! `cordon ingest`: network telemetry into normalised records (issue 6).
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct IngestArgs {}

pub fn run(_args: IngestArgs) -> ExitCode {
    eprintln!("cordon: `ingest` is not built yet");
    ExitCode::from(3)
}
