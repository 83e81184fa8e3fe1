//! `cordon mcp-proxy`: a stdio MCP proxy. The client starts it in place of
//! the server; it starts the server and relays newline-delimited JSON-RPC
//! both ways, byte for byte, except where it must step in:
//!
//! - `tools/list` answers: every tool is registered (its `inputSchema`
//!   compiled) and its definition pinned; one that differs from its pin is
//!   TOOL_DEFINITION_CHANGED, left out of the list and refused from then on
//!   (when the policy blocks high findings);
//! - `tools/call` requests: checked by the engine (rules, the server's
//!   schema, unlisted tools, changed definitions) and the episode tracker;
//!   a blocked call never reaches the server: the client gets an `isError`
//!   result with the same id that names the findings;
//! - tool results: scanned by the tracker (canaries, injected instructions,
//!   secrets followed to later calls); a flagged result gets a warning to the
//!   model put first, or is withheld.
//!
//! [`Proxy`] is that logic over whole messages, without I/O; [`serve`] runs
//! it between this process's stdio and the server; [`repin`] accepts a
//! server's current definitions.

pub mod pins;
mod proxy;
mod relay;
#[cfg(test)]
mod tests;

pub use pins::{Pin, Pins};
pub use proxy::{FlaggedResults, Options, Outcome, Peer, Proxy};
pub use relay::{repin, serve, MAX_LINE};

/// The name pins and episodes use for a server that gives none in
/// `serverInfo`: its program's file name.
pub fn default_server_name(command: &[String]) -> String {
    let program = command.first().map(String::as_str).unwrap_or("server");
    program.rsplit('/').next().unwrap_or(program).to_string()
}
