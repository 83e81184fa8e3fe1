//! Storage of network and sandbox telemetry ([`NetRecord`], net_events table).

use cordon_core::NetRecord;
use rusqlite::{params, Row};
use serde_json::Value;

use crate::{sql_err, Store, StoreError};

const NET_COLUMNS: &str =
    "source, kind, ts_us, end_us, host, proto, src, sport, dst, dport, action, bytes_out, bytes_in, detail, session, call_id, origin, line";

impl Store {
    /// Append network records in one transaction; returns after the commit is durable.
    pub fn record_net(&mut self, batch: &[NetRecord]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let sql = sql_err(&self.path);
        let tx = self.conn.transaction().map_err(sql)?;
        {
            let mut insert = tx
                .prepare_cached(&format!(
                    "INSERT INTO net_events ({NET_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
                ))
                .map_err(sql)?;
            for r in batch {
                let detail = (!r.detail.is_null()).then(|| r.detail.to_string());
                insert
                    .execute(params![
                        r.source,
                        r.kind,
                        r.ts_us,
                        r.end_us,
                        r.host,
                        r.proto,
                        r.src,
                        r.sport,
                        r.dst,
                        r.dport,
                        r.action,
                        r.bytes_out.map(|b| b as i64),
                        r.bytes_in.map(|b| b as i64),
                        detail,
                        r.session,
                        r.call_id,
                        r.origin,
                        r.line.map(|l| l as i64),
                    ])
                    .map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)
    }

    /// Network records that started in `[since_us, until_us]` (either bound
    /// open when `None`), oldest first.
    pub fn net_events(
        &self,
        since_us: Option<i64>,
        until_us: Option<i64>,
    ) -> Result<Vec<NetRecord>, StoreError> {
        let sql = sql_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {NET_COLUMNS} FROM net_events WHERE ts_us >= ?1 AND ts_us <= ?2 ORDER BY ts_us, id"
            ))
            .map_err(sql)?;
        let rows = stmt
            .query_map(
                params![since_us.unwrap_or(i64::MIN), until_us.unwrap_or(i64::MAX)],
                net_row,
            )
            .map_err(sql)?;
        rows.collect::<Result<_, _>>().map_err(sql)
    }
}

fn net_row(r: &Row) -> rusqlite::Result<NetRecord> {
    let detail: Option<String> = r.get(13)?;
    Ok(NetRecord {
        source: r.get(0)?,
        kind: r.get(1)?,
        ts_us: r.get(2)?,
        end_us: r.get(3)?,
        host: r.get(4)?,
        proto: r.get(5)?,
        src: r.get(6)?,
        sport: r.get(7)?,
        dst: r.get(8)?,
        dport: r.get(9)?,
        action: r.get(10)?,
        bytes_out: r.get::<_, Option<i64>>(11)?.map(|b| b as u64),
        bytes_in: r.get::<_, Option<i64>>(12)?.map(|b| b as u64),
        detail: detail
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or(Value::Null),
        session: r.get(14)?,
        call_id: r.get(15)?,
        origin: r.get(16)?,
        line: r.get::<_, Option<i64>>(17)?.map(|l| l as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_records_round_trip_and_filter_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("c.db")).unwrap();
        let a = NetRecord {
            source: "zeek".into(),
            kind: "flow".into(),
            ts_us: 1_000,
            end_us: Some(2_000),
            src: Some("10.0.0.5".into()),
            dst: Some("203.0.113.9".into()),
            dport: Some(22),
            bytes_out: Some(u64::from(u32::MAX) + 7),
            detail: serde_json::json!({"uid": "C1"}),
            origin: Some("conn.log".into()),
            line: Some(9),
            ..Default::default()
        };
        let b = NetRecord {
            source: "sandbox".into(),
            kind: "connect".into(),
            ts_us: 5_000,
            session: Some("ep".into()),
            ..Default::default()
        };
        store.record_net(&[b.clone(), a.clone()]).unwrap();
        assert_eq!(
            store.net_events(None, None).unwrap(),
            vec![a.clone(), b.clone()]
        );
        assert_eq!(store.net_events(Some(1_001), None).unwrap(), vec![b]);
        assert_eq!(store.net_events(None, Some(4_999)).unwrap(), vec![a]);
    }
}
