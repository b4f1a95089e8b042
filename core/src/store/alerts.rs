//! Panic alerts and their delivery state.
//!
//! An alert's record is stored, queued and given its state row in one transaction, so an
//! alert can never exist without the state the alert lane resumes from.

use rusqlite::{OptionalExtension, Row, params};
use uuid::Uuid;

use super::records::{StoredBody, insert_records, log_unreadable, parse_uuid};
use super::{Store, SyncState};
use crate::alert::{AlertState, AlertStatus};
use crate::error::{Error, Result};
use crate::model::{AlertKind, Record, RecordBody};

use super::records::NewRecord;

/// A change to apply to an alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertTransition {
    /// A send has started.
    Sent,
    /// The SOC stored the alert at this time, by its clock.
    Delivered {
        /// When the SOC stored the alert, in milliseconds since the Unix epoch.
        delivered_at_ms: i64,
    },
    /// An operator took the alert at this time, by the SOC's clock.
    Acknowledged {
        /// When the operator took the alert, in milliseconds since the Unix epoch.
        acknowledged_at_ms: i64,
    },
    /// The guard cancelled the alert.
    Cancelled,
}

impl AlertTransition {
    fn target(self) -> AlertState {
        match self {
            AlertTransition::Sent => AlertState::Sent,
            AlertTransition::Delivered { .. } => AlertState::Delivered,
            AlertTransition::Acknowledged { .. } => AlertState::Acknowledged,
            AlertTransition::Cancelled => AlertState::Cancelled,
        }
    }
}

const STATUS_COLUMNS: &str =
    "record_id, kind, state, updated_at_ms, delivered_at_ms, acknowledged_at_ms";

impl Store {
    /// Stores an alert's record, queues it and records it as [`AlertState::Stored`], in one
    /// durable transaction.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the record is not a panic record; storage errors as
    /// [`Store::append`].
    pub fn append_alert(&self, record: NewRecord) -> Result<(Record, AlertStatus)> {
        let RecordBody::Panic { alert: kind } = record.body else {
            return Err(Error::invalid("record.kind", "an alert must be a panic record"));
        };

        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let stored =
            insert_records(&transaction, Some(&self.key), self.signing_key(), vec![record])?
                .remove(0);
        let status = AlertStatus {
            record_id: stored.id,
            kind,
            state: AlertState::Stored,
            updated_at_ms: stored.captured_at_ms,
            delivered_at_ms: None,
            acknowledged_at_ms: None,
        };
        // The trigger on `records` has normally added this row already; the insert keeps
        // this function correct without relying on it.
        transaction.execute(
            "INSERT OR IGNORE INTO alerts (record_id, kind, state, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                status.record_id.to_string(),
                kind.code(),
                status.state.to_sql(),
                status.updated_at_ms
            ],
        )?;
        transaction.commit()?;
        Ok((stored, status))
    }

    /// Returns the state of one alert.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if no alert has this record id.
    pub fn alert(&self, record_id: Uuid) -> Result<AlertStatus> {
        let connection = self.lock();
        let row = connection
            .query_row(
                &format!("SELECT {STATUS_COLUMNS} FROM alerts WHERE record_id = ?1"),
                [record_id.to_string()],
                read_raw,
            )
            .optional()?;
        let Some(raw) = row else {
            return Err(Error::NotFound { what: "alert", id: record_id.to_string() });
        };
        raw.into_status()
    }

    /// Returns every alert the alert lane still sends, with its record, oldest first: the
    /// active ones, and cancelled ones the SOC does not have yet, because a cancel never
    /// withdraws an alert from the SOC.
    pub fn active_alerts(&self) -> Result<Vec<(Record, AlertStatus)>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT alerts.record_id, alerts.kind, alerts.state, alerts.updated_at_ms,
                    alerts.delivered_at_ms, alerts.acknowledged_at_ms,
                    records.id, records.body, records.body_envelope
             FROM alerts JOIN records ON records.id = alerts.record_id
             WHERE alerts.state IN (?1, ?2, ?3)
                OR (alerts.state = ?4 AND alerts.delivered_at_ms IS NULL)
             ORDER BY records.seq",
        )?;
        let rows = statement.query_map(
            params![
                AlertState::Stored.to_sql(),
                AlertState::Sent.to_sql(),
                AlertState::Delivered.to_sql(),
                AlertState::Cancelled.to_sql()
            ],
            |row| Ok((read_raw(row)?, StoredBody::from_row(row, 6)?)),
        )?;

        let mut alerts = Vec::new();
        for row in rows {
            let (raw, body) = row?;
            // One alert whose ciphertext does not open must not stop the others.
            match body.decode(&self.key) {
                Ok(record) => alerts.push((record, raw.into_status()?)),
                Err(error) => log_unreadable(&error),
            }
        }
        Ok(alerts)
    }

    /// Returns the newest fix record still waiting in the outbox, if any: the location
    /// update the alert lane sends while an alert is active.
    pub fn newest_queued_fix(&self) -> Result<Option<Record>> {
        let connection = self.lock();
        let body = connection
            .query_row(
                "SELECT records.id, records.body, records.body_envelope
                 FROM outbox JOIN records ON records.id = outbox.record_id
                 WHERE records.kind = 'fix' ORDER BY outbox.seq DESC LIMIT 1",
                [],
                |row| StoredBody::from_row(row, 0),
            )
            .optional()?;
        body.map(|body| body.decode(&self.key)).transpose()
    }

    /// Moves an alert forward, durably. Returns the new status, or `None` when the alert
    /// is already in that state or past it, or cancelled, so that a late or repeated reply
    /// changes nothing.
    ///
    /// Delivery also takes the record out of the outbox: the SOC has it.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if no alert has this record id; storage errors.
    pub fn advance_alert(
        &self,
        record_id: Uuid,
        transition: AlertTransition,
        now_ms: i64,
    ) -> Result<Option<AlertStatus>> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let changed = advance(&transaction, record_id, transition, now_ms)?;
        transaction.commit()?;
        Ok(changed)
    }

    /// Cancels an alert and stores `event`, the record that tells the SOC of the cancel,
    /// in one durable transaction. Returns the new status, or `None` if the alert was
    /// cancelled already; then `event` is not stored.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if no alert has this record id; storage errors.
    pub fn cancel_alert(
        &self,
        record_id: Uuid,
        event: Option<NewRecord>,
        now_ms: i64,
    ) -> Result<Option<AlertStatus>> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let changed = advance(&transaction, record_id, AlertTransition::Cancelled, now_ms)?;
        if changed.is_some()
            && let Some(event) = event
        {
            insert_records(&transaction, Some(&self.key), self.signing_key(), vec![event])?;
        }
        transaction.commit()?;
        Ok(changed)
    }
}

/// Applies a transition inside `transaction`; see [`Store::advance_alert`].
fn advance(
    transaction: &rusqlite::Transaction<'_>,
    record_id: Uuid,
    transition: AlertTransition,
    now_ms: i64,
) -> Result<Option<AlertStatus>> {
    let id = record_id.to_string();

    let current = transaction
        .query_row(
            &format!("SELECT {STATUS_COLUMNS} FROM alerts WHERE record_id = ?1"),
            [&id],
            read_raw,
        )
        .optional()?
        .ok_or_else(|| Error::NotFound { what: "alert", id: id.clone() })?
        .into_status()?;

    let target = transition.target();
    if current.state >= target || current.state == AlertState::Cancelled {
        // A late delivery time still counts, so the app can show it after a cancel.
        if let (AlertTransition::Delivered { delivered_at_ms }, None) =
            (transition, current.delivered_at_ms)
        {
            transaction.execute(
                "UPDATE alerts SET delivered_at_ms = ?2 WHERE record_id = ?1",
                params![id, delivered_at_ms],
            )?;
            dequeue(transaction, &id, now_ms)?;
        }
        return Ok(None);
    }

    let mut next = AlertStatus { state: target, updated_at_ms: now_ms, ..current };
    match transition {
        AlertTransition::Delivered { delivered_at_ms } => {
            next.delivered_at_ms = Some(delivered_at_ms);
            dequeue(transaction, &id, now_ms)?;
        }
        AlertTransition::Acknowledged { acknowledged_at_ms } => {
            next.acknowledged_at_ms = Some(acknowledged_at_ms);
            dequeue(transaction, &id, now_ms)?;
        }
        AlertTransition::Sent | AlertTransition::Cancelled => {}
    }
    transaction.execute(
        "UPDATE alerts SET state = ?2, updated_at_ms = ?3, delivered_at_ms = ?4,
                acknowledged_at_ms = ?5 WHERE record_id = ?1",
        params![
            id,
            next.state.to_sql(),
            next.updated_at_ms,
            next.delivered_at_ms,
            next.acknowledged_at_ms
        ],
    )?;
    Ok(Some(next))
}

/// Takes a delivered alert's record out of the outbox and marks it acknowledged.
fn dequeue(transaction: &rusqlite::Transaction<'_>, id: &str, now_ms: i64) -> Result<()> {
    if transaction.execute("DELETE FROM outbox WHERE record_id = ?1", [id])? == 1 {
        transaction.execute(
            "UPDATE records SET sync_state = ?2, acked_at_ms = ?3 WHERE id = ?1",
            params![id, SyncState::Acknowledged.to_sql(), now_ms],
        )?;
    }
    Ok(())
}

/// An alert row as stored, before its text columns are checked.
struct RawStatus {
    record_id: String,
    kind: String,
    state: i64,
    updated_at_ms: i64,
    delivered_at_ms: Option<i64>,
    acknowledged_at_ms: Option<i64>,
}

fn read_raw(row: &Row<'_>) -> rusqlite::Result<RawStatus> {
    Ok(RawStatus {
        record_id: row.get(0)?,
        kind: row.get(1)?,
        state: row.get(2)?,
        updated_at_ms: row.get(3)?,
        delivered_at_ms: row.get(4)?,
        acknowledged_at_ms: row.get(5)?,
    })
}

impl RawStatus {
    fn into_status(self) -> Result<AlertStatus> {
        let kind = AlertKind::from_code(&self.kind)
            .ok_or_else(|| Error::Corrupt(format!("unknown alert kind {:?}", self.kind)))?;
        Ok(AlertStatus {
            record_id: parse_uuid(&self.record_id)?,
            kind,
            state: AlertState::from_sql(self.state)?,
            updated_at_ms: self.updated_at_ms,
            delivered_at_ms: self.delivered_at_ms,
            acknowledged_at_ms: self.acknowledged_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::model::{Location, NoFixReason};
    use crate::store::schema;

    const T0: i64 = 1_700_000_000_000;

    fn alert(kind: AlertKind) -> NewRecord {
        NewRecord {
            id: Uuid::now_v7(),
            device_id: "device-1".into(),
            guard_id: "guard-1".into(),
            shift_id: None,
            captured_at_ms: T0,
            location: Location::NoFix { reason: NoFixReason::Unavailable },
            clock: None,
            attachments: Vec::new(),
            body: RecordBody::Panic { alert: kind },
        }
    }

    #[test]
    fn alert_states_only_move_forward() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(folder.path().join("device.db")).unwrap();
        let (record, stored) = store.append_alert(alert(AlertKind::ManDown)).unwrap();
        assert_eq!(stored.state, AlertState::Stored);
        assert_eq!(stored.kind, AlertKind::ManDown);

        let sent = store.advance_alert(record.id, AlertTransition::Sent, T0 + 1).unwrap();
        assert_eq!(sent.map(|status| status.state), Some(AlertState::Sent));
        let delivered = AlertTransition::Delivered { delivered_at_ms: T0 + 5 };
        let status = store.advance_alert(record.id, delivered, T0 + 6).unwrap().unwrap();
        assert_eq!((status.state, status.delivered_at_ms), (AlertState::Delivered, Some(T0 + 5)));
        assert_eq!(store.record(record.id).unwrap().1, SyncState::Acknowledged);
        assert_eq!(store.sync_counts().unwrap().pending, 0);

        // A late "sent" or a repeated delivery changes nothing.
        assert_eq!(store.advance_alert(record.id, AlertTransition::Sent, T0 + 7).unwrap(), None);
        let repeat = AlertTransition::Delivered { delivered_at_ms: T0 + 99 };
        assert_eq!(store.advance_alert(record.id, repeat, T0 + 8).unwrap(), None);
        assert_eq!(store.alert(record.id).unwrap(), status);
        assert_eq!(store.active_alerts().unwrap().len(), 1);

        let acknowledged = AlertTransition::Acknowledged { acknowledged_at_ms: T0 + 20 };
        let done = store.advance_alert(record.id, acknowledged, T0 + 21).unwrap().unwrap();
        assert_eq!(done.acknowledged_at_ms, Some(T0 + 20));
        assert!(store.active_alerts().unwrap().is_empty());
    }

    #[test]
    fn cancelled_alert_stays_cancelled() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(folder.path().join("device.db")).unwrap();
        let (record, _) = store.append_alert(alert(AlertKind::Panic)).unwrap();

        let cancelled = store.advance_alert(record.id, AlertTransition::Cancelled, T0).unwrap();
        assert_eq!(cancelled.map(|status| status.state), Some(AlertState::Cancelled));
        let delivered = AlertTransition::Delivered { delivered_at_ms: T0 + 5 };
        assert_eq!(store.advance_alert(record.id, delivered, T0 + 6).unwrap(), None);

        let status = store.alert(record.id).unwrap();
        assert_eq!(status.state, AlertState::Cancelled);
        assert_eq!(status.delivered_at_ms, Some(T0 + 5), "a late delivery time is kept");
        assert!(store.active_alerts().unwrap().is_empty());
    }

    #[test]
    fn plain_append_puts_panic_on_lane() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(folder.path().join("device.db")).unwrap();

        let stored = store.append(vec![alert(AlertKind::Duress)]).unwrap().remove(0);

        let status = store.alert(stored.id).unwrap();
        assert_eq!(status.state, AlertState::Stored);
        assert_eq!(status.kind, AlertKind::Duress);
        assert_eq!(store.active_alerts().unwrap().len(), 1);
        let sent = store.advance_alert(stored.id, AlertTransition::Sent, T0 + 1).unwrap();
        assert_eq!(sent.map(|status| status.state), Some(AlertState::Sent));
    }

    #[test]
    fn append_alert_rejects_other_kinds() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(folder.path().join("device.db")).unwrap();
        let record = NewRecord { body: RecordBody::ShiftEnd, ..alert(AlertKind::Panic) };

        let result = store.append_alert(record);

        assert!(matches!(result, Err(Error::InvalidInput { .. })), "{result:?}");
        assert_eq!(store.sync_counts().unwrap().captured, 0);
    }

    #[test]
    fn migration_backfills_queued_panics() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("old.db");
        let alerts_migration = schema::MIGRATIONS
            .iter()
            .position(|sql| sql.contains("CREATE TABLE alerts"))
            .expect("a migration creates the alerts table");

        let record = {
            let mut connection = Connection::open(&path).unwrap();
            schema::apply_pragmas(&connection).unwrap();
            schema::migrate_to(&mut connection, alerts_migration).unwrap();
            let transaction = connection.transaction().unwrap();
            let stored = insert_records(&transaction, None, None, vec![alert(AlertKind::Panic)])
                .unwrap()
                .remove(0);
            transaction.commit().unwrap();
            stored
        };

        let store = Store::open(&path).unwrap();
        let status = store.alert(record.id).unwrap();
        assert_eq!(status.state, AlertState::Stored);
        assert_eq!(status.kind, AlertKind::Panic);
        assert_eq!(store.active_alerts().unwrap().len(), 1);
    }
}
