//! Names shared by the crash-loop test and its worker process.

/// The enrollment code of the crash-loop server.
pub const CODE: &str = "enroll-crash";

/// The device id the worker enrolls as.
pub const DEVICE: &str = "device-crash";
