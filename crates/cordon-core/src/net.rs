//! Network and sandbox telemetry in one shape: what `cordon ingest` reads
//! from firewall and flow logs and what `cordon run` records, so that
//! `cordon correlate` can line any of it up against episodes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One network (or sandbox) event, whatever format it came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetRecord {
    /// `iptables`, `nftables`, `conntrack`, `zeek`, `suricata`, `vpcflow`, `sandbox`.
    pub source: String,
    /// `flow`, `packet`, `alert`, `dns`, `connect`, `process`, `resource`, ...
    pub kind: String,
    /// When it started, Unix microseconds, in the reporter's clock.
    pub ts_us: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_us: Option<i64>,
    /// Who reported it: hostname, sensor, interface, network namespace, ENI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    /// `allowed`, `blocked` or `alert`; `None` when the record does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
    /// What else the format carries (alert signature, DNS query, argv, ...), a JSON object.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub detail: Value,
    /// The episode and tool call, when the record itself names them (sandbox records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// File it was read from (`-` for stdin) and its line there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}
