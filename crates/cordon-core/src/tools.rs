//! Tool names, as agent frameworks spell them, mapped to what the tool can do.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    Shell,
    Http,
    FileRead,
    FileWrite,
    Message,
    Other,
}

impl Capability {
    pub fn parse(s: &str) -> Option<Capability> {
        Some(match s {
            "shell" => Capability::Shell,
            "http" => Capability::Http,
            "file_read" => Capability::FileRead,
            "file_write" => Capability::FileWrite,
            "message" => Capability::Message,
            "other" => Capability::Other,
            _ => return None,
        })
    }
}

/// Names used by Claude Code, Codex, Gemini CLI, Cursor, OpenHands, SWE-agent,
/// LangChain, AutoGen, MCP reference servers and similar frameworks.
const BUILTIN: &[(&str, Capability)] = &[
    ("bash", Capability::Shell),
    ("shell", Capability::Shell),
    ("sh", Capability::Shell),
    ("zsh", Capability::Shell),
    ("run_shell_command", Capability::Shell),
    ("execute_command", Capability::Shell),
    ("execute_bash", Capability::Shell),
    ("run_command", Capability::Shell),
    ("run_terminal_cmd", Capability::Shell),
    ("terminal", Capability::Shell),
    ("exec", Capability::Shell),
    ("exec_command", Capability::Shell),
    ("local_shell", Capability::Shell),
    ("container.exec", Capability::Shell),
    ("cmd", Capability::Shell),
    ("command", Capability::Shell),
    ("shell_command", Capability::Shell),
    ("run_in_terminal", Capability::Shell),
    ("bash_tool", Capability::Shell),
    ("http_request", Capability::Http),
    ("http", Capability::Http),
    ("webfetch", Capability::Http),
    ("web_fetch", Capability::Http),
    ("fetch", Capability::Http),
    ("fetch_url", Capability::Http),
    ("curl", Capability::Http),
    ("requests_get", Capability::Http),
    ("requests_post", Capability::Http),
    ("browse", Capability::Http),
    ("get_webpage", Capability::Http),
    ("read_file", Capability::FileRead),
    ("read", Capability::FileRead),
    ("view", Capability::FileRead),
    ("cat", Capability::FileRead),
    ("open_file", Capability::FileRead),
    ("read_text_file", Capability::FileRead),
    ("get_file_contents", Capability::FileRead),
    ("write_file", Capability::FileWrite),
    ("write", Capability::FileWrite),
    ("edit", Capability::FileWrite),
    ("multiedit", Capability::FileWrite),
    ("edit_file", Capability::FileWrite),
    ("create_file", Capability::FileWrite),
    ("str_replace_editor", Capability::FileWrite),
    ("str_replace_based_edit_tool", Capability::FileWrite),
    ("apply_patch", Capability::FileWrite),
    ("replace", Capability::FileWrite),
    ("notebookedit", Capability::FileWrite),
    ("send_email", Capability::Message),
    ("send_message", Capability::Message),
    ("send_direct_message", Capability::Message),
    ("send_channel_message", Capability::Message),
    ("post_message", Capability::Message),
    ("slack_post_message", Capability::Message),
];

/// Case-insensitive tool-name table; the policy may add or override entries.
#[derive(Debug, Clone)]
pub struct ToolTable {
    /// foldhash: asked once per event; the names are the table's own.
    map: foldhash::HashMap<String, Capability>,
}

impl Default for ToolTable {
    fn default() -> Self {
        ToolTable {
            map: BUILTIN.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
        }
    }
}

impl ToolTable {
    pub fn insert(&mut self, name: &str, cap: Capability) {
        self.map.insert(name.to_ascii_lowercase(), cap);
    }

    pub fn capability(&self, tool: &str) -> Capability {
        if let Some(c) = self.map.get(tool) {
            return *c;
        }
        let lower = tool.to_ascii_lowercase();
        if let Some(c) = self.map.get(&lower) {
            return *c;
        }
        // MCP tools arrive namespaced (`mcp__server__tool`, `server.tool`, `server/tool`).
        let last = lower.rsplit(['.', '/', ':']).next().unwrap_or(&lower);
        let last = last.rsplit("__").next().unwrap_or(last);
        self.map.get(last).copied().unwrap_or(Capability::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_framework_names_map_to_capabilities() {
        let t = ToolTable::default();
        for n in [
            "bash",
            "Bash",
            "shell",
            "run_shell_command",
            "execute_command",
            "terminal",
            "exec",
        ] {
            assert_eq!(t.capability(n), Capability::Shell, "{n}");
        }
        for n in ["http_request", "WebFetch", "fetch"] {
            assert_eq!(t.capability(n), Capability::Http, "{n}");
        }
        assert_eq!(t.capability("Read"), Capability::FileRead);
        assert_eq!(t.capability("Write"), Capability::FileWrite);
        assert_eq!(t.capability("Edit"), Capability::FileWrite);
        assert_eq!(t.capability("mcp__fs__read_file"), Capability::FileRead);
        assert_eq!(t.capability("send_money"), Capability::Other);
    }
}
