//! The policy: what to do with findings. Parsed from TOML; every error names
//! its line so `cordon policy check FILE` can point at it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::Severity;
use crate::tools::{Capability, ToolTable};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Record and warn, never block.
    Monitor,
    /// Block calls with a finding at a `block_on` severity.
    Block,
}

/// What a verdict is when the guard itself fails on an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Treat the call as blocked.
    Closed,
    /// Let the call run, recording the error.
    Open,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EgressPolicy {
    /// Hosts (`pypi.org`, `*.githubusercontent.com`) and CIDRs added to the defaults.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Hosts and CIDRs never allowed, even when an allow entry matches.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Drop the built-in allowlist of package registries and code hosts.
    #[serde(default)]
    pub replace_defaults: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryPolicy {
    /// When non-empty, a call to any other tool raises UNKNOWN_TOOL_CALL.
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default = "default_unknown_severity")]
    pub unknown_severity: Severity,
    /// Files of tool definitions with JSON Schemas: an MCP `tools/list`
    /// result, or a list of `{name, parameters | inputSchema}`. Their tools
    /// join `tools`, and calls are checked against their schemas. Relative
    /// paths are read from the policy file's directory.
    #[serde(default)]
    pub import: Vec<String>,
}

fn default_unknown_severity() -> Severity {
    Severity::High
}

impl Default for RegistryPolicy {
    fn default() -> Self {
        RegistryPolicy {
            tools: Vec::new(),
            unknown_severity: default_unknown_severity(),
            import: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    pub severity: Option<Severity>,
    pub confidence: Option<f64>,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RulesPolicy {
    /// Rule ids to turn off.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Per-rule changes, keyed by rule id.
    #[serde(default)]
    pub overrides: BTreeMap<String, RuleOverride>,
    /// Extra rules, in the rule pack's format (checked by the rule compiler).
    #[serde(default)]
    pub add: Vec<toml::Value>,
}

/// Where a call's arguments may come from: what counts as a sink, which of
/// its arguments are traced, and extra cues of injected instructions.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FlowPolicy {
    /// Tools that are sinks whatever their name says.
    #[serde(default)]
    pub sinks: Vec<String>,
    /// Tools that only read whatever their name says.
    #[serde(default)]
    pub readonly: Vec<String>,
    /// Per tool, the only arguments traced (`send_money = ["recipient", "amount"]`).
    #[serde(default)]
    pub sensitive_args: BTreeMap<String, Vec<String>>,
    /// Extra regexes that mark injected instructions in tool results.
    #[serde(default)]
    pub cues: Vec<String>,
}

/// A task profile narrows or widens the policy for episodes whose task matches.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Task types (exact, case-insensitive) or words in the task text that select this profile.
    #[serde(default)]
    pub tasks: Vec<String>,
    pub mode: Option<Mode>,
    pub block_on: Option<Vec<Severity>>,
    #[serde(default)]
    pub egress_allow: Vec<String>,
    #[serde(default)]
    pub disable: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default = "default_version")]
    version: u32,
    #[serde(default = "default_mode")]
    mode: Mode,
    #[serde(default = "default_block_on")]
    block_on: Vec<Severity>,
    fail: Option<FailMode>,
    #[serde(default)]
    egress: EgressPolicy,
    /// Extra tool-name → capability entries (`shell`, `http`, `file_read`, ...).
    #[serde(default)]
    tools: BTreeMap<String, String>,
    #[serde(default)]
    registry: RegistryPolicy,
    #[serde(default)]
    rules: RulesPolicy,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
    /// Bounds on what one input may cost the guard.
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    flow: FlowPolicy,
    #[serde(default)]
    sandbox: SandboxPolicy,
}

fn default_version() -> u32 {
    1
}
fn default_mode() -> Mode {
    Mode::Block
}
fn default_block_on() -> Vec<Severity> {
    vec![Severity::Critical, Severity::High]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Inputs longer than this are analysed on their first `max_input_bytes` only, and flagged.
    #[serde(default = "default_max_input")]
    pub max_input_bytes: usize,
    /// How deep wrappers, `eval`, `bash -c` and decoded payloads are followed.
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
}

fn default_max_input() -> usize {
    256 * 1024
}
fn default_max_depth() -> usize {
    8
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: default_max_input(),
            max_depth: default_max_depth(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub version: u32,
    pub mode: Mode,
    pub block_on: Vec<Severity>,
    pub fail: FailMode,
    pub egress: EgressPolicy,
    pub tools: ToolTable,
    pub registry: RegistryPolicy,
    pub rules: RulesPolicy,
    pub profiles: BTreeMap<String, Profile>,
    pub limits: Limits,
    pub flow: FlowPolicy,
    pub sandbox: SandboxPolicy,
}

/// What `cordon run` does when the kernel lacks a sandbox feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnMissing {
    /// Exit with an error naming the missing feature.
    Refuse,
    /// Run with what remains, and record what was missing.
    Degrade,
}

/// `[sandbox]`: the boundary `cordon run` enforces around a command. The
/// egress lists add to `[egress]`; everything else is specific to the sandbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxPolicy {
    /// Overrides the top-level `mode` for `cordon run`.
    pub mode: Option<Mode>,
    #[serde(default = "default_on_missing")]
    pub on_missing: OnMissing,
    /// Hosts, `*.domain` globs, IPs and CIDRs the proxy lets through (with `[egress] allow`).
    /// Private, loopback, link-local and CGNAT addresses are refused, even behind a
    /// name, unless an IP or CIDR entry here (or in `[egress]`) names them.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Hosts and CIDRs always refused (with `[egress] deny`).
    #[serde(default)]
    pub deny: Vec<String>,
    /// Destination ports the proxy connects to.
    #[serde(default = "default_ports")]
    pub ports: Vec<u16>,
    /// Static DNS answers (`"pool.test" = "10.231.1.2"` or a list of addresses),
    /// consulted before the system resolver.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostAddrs>,
    /// Extra read-write paths (`~` is the home directory).
    #[serde(default)]
    pub writable: Vec<String>,
    /// Extra paths hidden from the command (added to the built-in secret list).
    #[serde(default)]
    pub hidden: Vec<String>,
    /// Fraction of the machine's cores the command's process tree must use ...
    #[serde(default = "default_cpu_threshold")]
    pub cpu_threshold: f64,
    /// ... for this many seconds in a row to raise RESOURCE_HIJACKING.
    #[serde(default = "default_cpu_seconds")]
    pub cpu_seconds: u64,
    /// Distinct destinations (address and port) within `scan_window_s` that make a scan.
    #[serde(default = "default_scan_threshold")]
    pub scan_threshold: usize,
    #[serde(default = "default_scan_window")]
    pub scan_window_s: u64,
}

/// One address or several, for `[sandbox.hosts]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum HostAddrs {
    One(String),
    Many(Vec<String>),
}

impl HostAddrs {
    pub fn addrs(&self) -> Vec<std::net::IpAddr> {
        let list: Vec<&String> = match self {
            HostAddrs::One(a) => vec![a],
            HostAddrs::Many(v) => v.iter().collect(),
        };
        list.iter().filter_map(|a| a.trim().parse().ok()).collect()
    }
}

fn default_on_missing() -> OnMissing {
    OnMissing::Refuse
}
fn default_ports() -> Vec<u16> {
    // Web, git over SSH (only ever to an allowed host) and git://.
    vec![80, 443, 22, 9418]
}
fn default_cpu_threshold() -> f64 {
    0.9
}
fn default_cpu_seconds() -> u64 {
    120
}
fn default_scan_threshold() -> usize {
    12
}
fn default_scan_window() -> u64 {
    10
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        SandboxPolicy {
            mode: None,
            on_missing: default_on_missing(),
            allow: Vec::new(),
            deny: Vec::new(),
            ports: default_ports(),
            hosts: BTreeMap::new(),
            writable: Vec::new(),
            hidden: Vec::new(),
            cpu_threshold: default_cpu_threshold(),
            cpu_seconds: default_cpu_seconds(),
            scan_threshold: default_scan_threshold(),
            scan_window_s: default_scan_window(),
        }
    }
}

/// A `[sandbox]` allow/deny entry: a host name, `*.domain`, IP or CIDR.
/// Names are checked for shape only; the sandbox compiles the lists.
fn sandbox_entry_error(e: &str) -> Option<String> {
    let e = e.trim();
    if e.is_empty() {
        return Some("empty entry".into());
    }
    match cordon_net::Cidr::parse(e) {
        Ok(_) => return None,
        Err(cordon_net::CidrError::Address) if e.contains('/') => {
            return Some(format!("`{e}`: CIDR address is not an IP"))
        }
        Err(cordon_net::CidrError::PrefixLength) => {
            return Some(format!("`{e}`: bad CIDR prefix length"))
        }
        Err(cordon_net::CidrError::Address) => {} // a name or a glob
    }
    let name = e.strip_prefix("*.").unwrap_or(e);
    let ok = !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    (!ok).then(|| format!("`{e}`: not a host name, *.domain glob, IP or CIDR"))
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}, column {column}: {message}")]
pub struct PolicyError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl PolicyError {
    fn at(src: &str, offset: usize, message: String) -> PolicyError {
        let before = &src[..offset.min(src.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map(|p| offset - p).unwrap_or(offset + 1);
        PolicyError {
            line,
            column,
            message,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::from_toml("").expect("empty policy is valid")
    }
}

impl Policy {
    /// Parse a policy file. All problems found are returned, each with its line.
    pub fn from_toml(src: &str) -> Result<Policy, Vec<PolicyError>> {
        let file: PolicyFile = toml::from_str(src).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            vec![PolicyError::at(src, offset, e.message().to_string())]
        })?;
        let mut errors = Vec::new();
        let locate = |needle: &str| src.find(needle).unwrap_or(0);
        if file.version != 1 {
            errors.push(PolicyError::at(
                src,
                locate("version"),
                format!("unsupported policy version {}, expected 1", file.version),
            ));
        }
        let mut tools = ToolTable::default();
        for (name, cap) in &file.tools {
            match Capability::parse(cap) {
                Some(c) => tools.insert(name, c),
                None => errors.push(PolicyError::at(
                    src,
                    locate(name),
                    format!("tool `{name}`: unknown capability `{cap}` (expected shell, http, file_read, file_write, message or other)"),
                )),
            }
        }
        for (id, o) in &file.rules.overrides {
            if let Some(c) = o.confidence {
                if !(0.0..=1.0).contains(&c) {
                    errors.push(PolicyError::at(
                        src,
                        locate(id),
                        format!("rule `{id}`: confidence {c} is not in [0, 1]"),
                    ));
                }
            }
        }
        let sb = &file.sandbox;
        for e in sb.allow.iter().chain(&sb.deny) {
            if let Some(why) = sandbox_entry_error(e) {
                errors.push(PolicyError::at(
                    src,
                    locate(&format!("\"{e}\"")),
                    format!("[sandbox]: {why}"),
                ));
            }
        }
        for (name, addrs) in &sb.hosts {
            let given = match addrs {
                HostAddrs::One(_) => 1,
                HostAddrs::Many(v) => v.len(),
            };
            if given == 0 || addrs.addrs().len() != given {
                // The key at the start of a line (bare or quoted), not the name anywhere.
                let at = [format!("\n{name}"), format!("\n\"{name}\"")]
                    .iter()
                    .filter_map(|k| src.find(k.as_str()))
                    .min()
                    .map_or(0, |i| i + 1);
                errors.push(PolicyError::at(
                    src,
                    at,
                    format!("[sandbox.hosts] `{name}`: every value must be an IP address"),
                ));
            }
        }
        if !(sb.cpu_threshold > 0.0 && sb.cpu_threshold <= 1.0) {
            errors.push(PolicyError::at(
                src,
                locate("cpu_threshold"),
                format!(
                    "[sandbox] cpu_threshold {} is not in (0, 1]",
                    sb.cpu_threshold
                ),
            ));
        }
        if sb.scan_threshold < 2 {
            errors.push(PolicyError::at(
                src,
                locate("scan_threshold"),
                "[sandbox] scan_threshold must be at least 2".into(),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let fail = file.fail.unwrap_or(match file.mode {
            Mode::Block => FailMode::Closed,
            Mode::Monitor => FailMode::Open,
        });
        Ok(Policy {
            version: file.version,
            mode: file.mode,
            block_on: file.block_on,
            fail,
            egress: file.egress,
            tools,
            registry: file.registry,
            rules: file.rules,
            profiles: file.profiles,
            limits: file.limits,
            flow: file.flow,
            sandbox: file.sandbox,
        })
    }

    /// The profile a task selects: by exact task type, else by a word in the task text.
    pub fn profile_for(&self, task: Option<&str>) -> Option<(&str, &Profile)> {
        let task = task?.to_ascii_lowercase();
        let exact = self.profiles.iter().find(|(name, p)| {
            name.eq_ignore_ascii_case(&task)
                || p.tasks.iter().any(|t| t.eq_ignore_ascii_case(&task))
        });
        exact
            .or_else(|| {
                self.profiles.iter().find(|(_, p)| {
                    p.tasks.iter().any(|t| {
                        task.split(|c: char| !c.is_alphanumeric())
                            .any(|w| w.eq_ignore_ascii_case(t))
                    })
                })
            })
            .map(|(n, p)| (n.as_str(), p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_blocks_high_and_critical_fail_closed() {
        let p = Policy::default();
        assert_eq!(p.mode, Mode::Block);
        assert_eq!(p.block_on, vec![Severity::Critical, Severity::High]);
        assert_eq!(p.fail, FailMode::Closed);
    }

    #[test]
    fn monitor_mode_fails_open_unless_told() {
        assert_eq!(
            Policy::from_toml("mode = \"monitor\"").unwrap().fail,
            FailMode::Open
        );
        assert_eq!(
            Policy::from_toml("mode = \"monitor\"\nfail = \"closed\"")
                .unwrap()
                .fail,
            FailMode::Closed
        );
    }

    #[test]
    fn errors_name_their_line() {
        let err = Policy::from_toml("mode = \"block\"\n\nblock_on = [\"severe\"]\n").unwrap_err();
        assert_eq!(err[0].line, 3, "{err:?}");
        assert!(
            err[0].message.contains("severe") || err[0].message.contains("variant"),
            "{err:?}"
        );
        let err = Policy::from_toml("mode = \"block\"\nunknown_key = 1\n").unwrap_err();
        assert_eq!(err[0].line, 2);
        let err = Policy::from_toml("[tools]\nmy_tool = \"teleport\"\n").unwrap_err();
        assert_eq!(err[0].line, 2);
        assert!(err[0].message.contains("teleport"));
    }

    #[test]
    fn sandbox_table_parses_and_names_bad_lines() {
        let p = Policy::from_toml(
            "[sandbox]\non_missing = \"degrade\"\nallow = [\"10.231.0.0/16\", \"*.example.com\"]\nports = [8000]\n[sandbox.hosts]\n\"pool.test\" = \"10.231.1.2\"\n\"two.test\" = [\"10.0.0.1\", \"::1\"]\n",
        )
        .unwrap();
        assert_eq!(p.sandbox.on_missing, OnMissing::Degrade);
        assert_eq!(p.sandbox.ports, vec![8000]);
        assert_eq!(p.sandbox.hosts["two.test"].addrs().len(), 2);
        assert_eq!(Policy::default().sandbox.ports, vec![80, 443, 22, 9418]);
        let err = Policy::from_toml("[sandbox]\nmode = \"block\"\nallow = [\"10.0.0.0/40\"]\n")
            .unwrap_err();
        assert_eq!(err[0].line, 3, "{err:?}");
        let err =
            Policy::from_toml("[sandbox]\n\n[sandbox.hosts]\nx = \"not-an-ip\"\n").unwrap_err();
        assert_eq!(err[0].line, 4, "{err:?}");
        let err = Policy::from_toml("[sandbox]\non_missing = \"maybe\"\n").unwrap_err();
        assert_eq!(err[0].line, 2, "{err:?}");
        let err = Policy::from_toml("[sandbox]\ncpu_threshold = 2.0\n").unwrap_err();
        assert_eq!(err[0].line, 2, "{err:?}");
    }

    #[test]
    fn profiles_select_by_task_type_or_word() {
        let p = Policy::from_toml(
            "[profiles.devops]\ntasks = [\"infra\"]\nblock_on = [\"critical\"]\n",
        )
        .unwrap();
        assert_eq!(p.profile_for(Some("devops")).unwrap().0, "devops");
        assert_eq!(
            p.profile_for(Some("fix the infra pipeline")).unwrap().0,
            "devops"
        );
        assert!(p.profile_for(Some("coding")).is_none());
        assert!(p.profile_for(None).is_none());
    }
}
