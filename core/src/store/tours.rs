//! Reading what tours need from a shift: its start and its scans and closed rounds.

use rusqlite::{OptionalExtension, params_from_iter};
use uuid::Uuid;

use super::Store;
use super::records::StoredBody;
use crate::error::Result;
use crate::model::Record;

impl Store {
    /// Returns when the shift started, by the device clock, or `None` for an unknown shift.
    pub fn shift_started_at_ms(&self, shift_id: Uuid) -> Result<Option<i64>> {
        let connection = self.lock();
        let started = connection
            .query_row(
                "SELECT started_at_ms FROM shifts WHERE id = ?1",
                [shift_id.to_string()],
                |row| row.get(0),
            )
            .optional()?;
        Ok(started)
    }

    /// Returns the records of a shift whose kind is one of `kinds` (such as
    /// `checkpoint_scan`), in capture order.
    pub fn shift_records_of_kinds(&self, shift_id: Uuid, kinds: &[&str]) -> Result<Vec<Record>> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        // Without ORDER BY, SQLite uses the (shift_id, kind, seq) index and reads only the
        // matching rows; ordering by seq in SQL makes it walk every record of the shift.
        let placeholders = vec!["?"; kinds.len()].join(", ");
        let sql = format!(
            "SELECT seq, id, body, body_envelope FROM records
             WHERE shift_id = ? AND kind IN ({placeholders})"
        );

        let connection = self.lock();
        let mut statement = connection.prepare_cached(&sql)?;
        let shift = shift_id.to_string();
        let values = std::iter::once(shift.as_str()).chain(kinds.iter().copied());
        let mut rows = statement
            .query_map(params_from_iter(values), |row| {
                Ok((row.get::<_, i64>(0)?, StoredBody::from_row(row, 1)?))
            })?
            .collect::<rusqlite::Result<Vec<(i64, StoredBody)>>>()?;
        rows.sort_unstable_by_key(|(seq, _)| *seq);
        let bodies = rows.into_iter().map(|(_, body)| body);
        bodies.map(|body| body.decode(&self.key)).collect()
    }
}
