//! Reading the sealed boxes out of a database whose key-encryption key is lost.
//!
//! Each record's box sealed to the SOC and its signature are stored in clear columns, so
//! the records not yet acknowledged can still be delivered when the data key cannot be
//! unwrapped, for example after a keystore reset.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;

use crate::error::{Error, Result};

/// One unacknowledged record read from a locked database: its box sealed to the SOC and
/// the original device's signature, exactly as stored at capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RescuedRecord {
    /// The record's id.
    pub id: Uuid,
    /// The record's sequence number on the original device.
    pub seq: u64,
    /// The box sealed to the SOC's public key.
    pub sealed: Vec<u8>,
    /// The original device's Ed25519 signature over the record's canonical bytes.
    pub signature: Vec<u8>,
}

/// The unacknowledged records of a locked database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescuedEvidence {
    /// The records with a sealed box and a signature, by sequence number.
    pub records: Vec<RescuedRecord>,
    /// Unacknowledged records stored without a box or a signature (captured before the
    /// SOC's key was known). Only the lost data key can read them, so they cannot be
    /// delivered.
    pub unsealed: u64,
}

/// Reads the records the SOC has not acknowledged from the database at `path`, without
/// any key. The file is opened read-only and nothing in it is changed.
///
/// # Errors
///
/// [`Error::InvalidInput`] if `path` does not exist; [`Error::Corrupt`] if the file is
/// not a Vigil database with sealed records; [`Error::Storage`] if SQLite fails.
pub fn rescue_sealed(path: impl AsRef<Path>) -> Result<RescuedEvidence> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(Error::invalid("locked_path", "no database file at this path"));
    }

    // Read-only, so a WAL left by the old store is read but never checkpointed into it.
    // NOTE: only a WAL with its -shm index beside it has been tested; SQLite may refuse a
    // read-only open of a WAL left without one.
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let has_boxes: bool = connection
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('records') WHERE name = 'sealed'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map(|count| count == 1)
        .map_err(|error| Error::Corrupt(format!("not a Vigil database: {error}")))?;
    if !has_boxes {
        return Err(Error::Corrupt("the database has no sealed records column".into()));
    }

    // Sync states 0 and 1 are stored and sent; 2 is acknowledged and 3 rejected for good.
    let mut statement = connection.prepare(
        "SELECT id, seq, sealed, signature FROM records WHERE sync_state IN (0, 1) ORDER BY seq",
    )?;
    let mut rows = statement.query([])?;

    let mut evidence = RescuedEvidence::default();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let seq: i64 = row.get(1)?;
        let sealed: Option<Vec<u8>> = row.get(2)?;
        let signature: Option<Vec<u8>> = row.get(3)?;

        let (Some(sealed), Some(signature)) = (sealed, signature) else {
            evidence.unsealed += 1;
            continue;
        };
        let id = Uuid::parse_str(&id)
            .map_err(|_| Error::Corrupt("a stored record id is not a UUID".into()))?;
        let seq =
            u64::try_from(seq).map_err(|_| Error::Corrupt(format!("negative stored seq {seq}")))?;
        evidence.records.push(RescuedRecord { id, seq, sealed, signature });
    }
    Ok(evidence)
}
