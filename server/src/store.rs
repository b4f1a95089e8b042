//! Read-only inspection of a server database, for tests, the demo and operators.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;
use vigil_core::model::Record;
use vigil_core::time::TimeFlag;

use crate::db::{decode, schema};
use crate::error::ServerError;

/// A read-only connection to a server database.
///
/// It may be opened while a server writes to the same file: WAL mode lets it read the last
/// committed state. Every method blocks on disk I/O, so async code should keep calls short
/// or move them to `tokio::task::spawn_blocking`.
#[derive(Debug)]
pub struct ServerStore {
    connection: Connection,
}

/// A panic alert the server has stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAlert {
    /// The id of the panic record.
    pub record_id: Uuid,
    /// The device that raised the alert.
    pub device_id: String,
    /// When the device captured the alert, by its clock, in milliseconds since the Unix
    /// epoch.
    pub captured_at_ms: i64,
    /// When the server first stored the alert, in milliseconds since the Unix epoch.
    pub delivered_at_ms: i64,
    /// When an operator acknowledged the alert, if one did.
    pub acknowledged_at_ms: Option<i64>,
    /// When the server received the guard's cancel of the alert, if it did.
    pub cancelled_at_ms: Option<i64>,
}

/// A record's capture time as its device claimed it and as the server corrected it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTime {
    /// The record's id.
    pub id: Uuid,
    /// The record's sequence number on its device.
    pub seq: u64,
    /// The device's wall clock at capture, in milliseconds since the Unix epoch.
    pub claimed_ms: i64,
    /// The capture time on the server's clock, worked out from the device's monotonic
    /// clock; `None` when the record or its push carried no clock reading.
    pub corrected_ms: Option<i64>,
    /// Reasons the corrected time is less certain; empty when the monotonic clock placed it.
    pub flags: Vec<TimeFlag>,
}

/// A sequence number that more than one stored record of a device carries.
///
/// Record ids make every upload idempotent, so this only happens when a device gave two
/// different records the same `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateSeq {
    /// The device.
    pub device_id: String,
    /// The repeated sequence number.
    pub seq: u64,
    /// How many stored records carry it.
    pub count: u64,
}

impl ServerStore {
    /// Opens the database at `path` read-only.
    ///
    /// # Errors
    ///
    /// [`ServerError::Database`] if the file is missing or is not a database, and
    /// [`ServerError::Corrupt`] if no server has created its schema at this version.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ServerError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(path.as_ref(), flags)?;
        schema::apply_read_pragmas(&connection)?;

        let version = schema::version(&connection)?;
        if version != schema::latest_version() {
            return Err(ServerError::Corrupt(format!(
                "{} has schema version {version}, expected {}; start the server on it first",
                path.as_ref().display(),
                schema::latest_version()
            )));
        }
        Ok(Self { connection })
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Returns the number of stored records of all devices.
    pub fn record_count(&self) -> Result<u64, ServerError> {
        let count: i64 =
            self.connection.query_row("SELECT COUNT(*) FROM records", [], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Returns the stored records of `device_id`, ordered by `seq`, then by id.
    pub fn records_for_device(&self, device_id: &str) -> Result<Vec<Record>, ServerError> {
        let mut statement = self
            .connection
            .prepare("SELECT content FROM records WHERE device_id = ?1 ORDER BY seq, id")?;
        let rows = statement.query_map([device_id], |row| row.get::<_, String>(0))?;

        let mut records = Vec::new();
        for content in rows {
            records.push(decode("record", &content?)?);
        }
        Ok(records)
    }

    /// Returns the ids of the enrolled devices, sorted.
    pub fn device_ids(&self) -> Result<Vec<String>, ServerError> {
        let mut statement =
            self.connection.prepare("SELECT device_id FROM devices ORDER BY device_id")?;
        let rows = statement.query_map([], |row| row.get(0))?;

        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Returns every `(device, seq)` pair that more than one stored record carries. An
    /// empty list means no device sent two records with the same sequence number.
    pub fn duplicate_seqs(&self) -> Result<Vec<DuplicateSeq>, ServerError> {
        let mut statement = self.connection.prepare(
            "SELECT device_id, seq, COUNT(*) FROM records
             GROUP BY device_id, seq HAVING COUNT(*) > 1
             ORDER BY device_id, seq",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(DuplicateSeq {
                device_id: row.get(0)?,
                seq: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                count: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
            })
        })?;

        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Returns the stored panic alerts, oldest delivery first.
    pub fn alerts(&self) -> Result<Vec<StoredAlert>, ServerError> {
        list_alerts(&self.connection)
    }

    /// Returns the capture time of each stored record of `device_id`, as the device
    /// claimed it and as the server corrected it, ordered by `seq`.
    pub fn record_times(&self, device_id: &str) -> Result<Vec<RecordTime>, ServerError> {
        let mut statement = self.connection.prepare(
            "SELECT id, seq, captured_at_ms, corrected_at_ms, time_flags FROM records
             WHERE device_id = ?1 ORDER BY seq, id",
        )?;
        let rows = statement.query_map([device_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Option<i64>>(3)?,
                row.get::<_, Option<String>>(4)?,
            ))
        })?;

        let mut times = Vec::new();
        for row in rows {
            let (id, seq, claimed_ms, corrected_ms, flags) = row?;
            let id = Uuid::parse_str(&id).map_err(|error| {
                ServerError::Corrupt(format!("record id {id:?} is invalid: {error}"))
            })?;
            let flags = match flags {
                Some(json) => decode("time flags", &json)?,
                None => Vec::new(),
            };
            times.push(RecordTime {
                id,
                seq: u64::try_from(seq).unwrap_or(0),
                claimed_ms,
                corrected_ms,
                flags,
            });
        }
        Ok(times)
    }
}

/// Lists every alert stored in the server database, oldest delivery first.
pub(crate) fn list_alerts(connection: &Connection) -> Result<Vec<StoredAlert>, ServerError> {
    let mut statement = connection.prepare(
        "SELECT alerts.record_id, alerts.device_id, records.captured_at_ms,
                alerts.delivered_at_ms, alerts.acknowledged_at_ms,
                alerts.cancelled_at_ms
         FROM alerts JOIN records ON records.id = alerts.record_id
         ORDER BY alerts.delivered_at_ms, alerts.record_id",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
        ))
    })?;

    let mut alerts = Vec::new();
    for row in rows {
        let (
            record_id,
            device_id,
            captured_at_ms,
            delivered_at_ms,
            acknowledged_at_ms,
            cancelled_at_ms,
        ) = row?;
        let record_id = Uuid::parse_str(&record_id).map_err(|error| {
            ServerError::Corrupt(format!("alert record id {record_id:?} is invalid: {error}"))
        })?;
        alerts.push(StoredAlert {
            record_id,
            device_id,
            captured_at_ms,
            delivered_at_ms,
            acknowledged_at_ms,
            cancelled_at_ms,
        });
    }
    Ok(alerts)
}
