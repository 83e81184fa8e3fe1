//! Cordon's own records (`cordon run`, or `cordon ingest --jsonl` output): JSON lines of `NetRecord`.

use cordon_core::NetRecord;

use crate::{Ctx, Parse};

pub(crate) struct Sandbox;

impl Parse for Sandbox {
    fn line(&mut self, line: &[u8], ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        let mut rec: NetRecord =
            serde_json::from_slice(line).map_err(|e| format!("not a NetRecord: {e}"))?;
        if rec.source.is_empty() || rec.kind.is_empty() {
            return Err("source and kind must not be empty".into());
        }
        if let Some(a) = &rec.action {
            if !matches!(a.as_str(), "allowed" | "blocked" | "alert") {
                return Err(format!(
                    "action {:?} is not allowed, blocked or alert",
                    crate::clip(a)
                ));
            }
        }
        if rec.host.is_none() {
            rec.host.clone_from(&ctx.opts.default_host);
        }
        // Where it was read from now; where it was first read from is kept.
        if rec.origin.is_none() {
            rec.origin = Some(ctx.origin.to_owned());
            rec.line = Some(ctx.line);
        }
        out.push(rec);
        Ok(true)
    }
}
