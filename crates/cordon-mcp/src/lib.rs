//! The MCP proxy (to be written).
