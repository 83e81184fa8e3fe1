//! `cordon mcp-proxy [--policy P] [--store FILE] -- SERVER_CMD...` (to be written).
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct McpArgs {
    /// The MCP server command and its arguments.
    #[arg(last = true, required = true)]
    pub server: Vec<String>,
}

pub fn run(_args: McpArgs) -> ExitCode {
    ExitCode::from(3)
}
