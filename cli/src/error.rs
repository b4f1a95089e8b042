//! The errors the `vigil` command reports before it exits with a non-zero status.

use std::path::{Path, PathBuf};

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An input file is missing, unreadable or invalid.
    #[error("{}: {problem}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// The problem, such as `not found`.
        problem: String,
    },

    /// The core failed.
    #[error("{context}: {source}")]
    Core {
        /// The step that failed, such as `starting the shift`.
        context: String,
        /// The core's error.
        #[source]
        source: vigil_core::Error,
    },

    /// The reference server failed.
    #[error("{context}: {source}")]
    Server {
        /// The step that failed, such as `starting the server`.
        context: String,
        /// The server's error.
        #[source]
        source: vigil_server::ServerError,
    },

    /// A check of the demo or the replay did not hold.
    #[error("{0}")]
    Check(String),

    /// Anything else, such as a temporary folder that could not be created.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// Creates a [`CliError::Input`] error for `path`.
    pub fn input(path: &Path, problem: impl Into<String>) -> Self {
        CliError::Input { path: path.to_path_buf(), problem: problem.into() }
    }
}

/// Adds what the command was doing to a core or server error.
pub trait Context<T> {
    /// Wraps the error with `context`, such as `starting the shift`.
    fn context(self, context: &str) -> Result<T, CliError>;
}

impl<T> Context<T> for Result<T, vigil_core::Error> {
    fn context(self, context: &str) -> Result<T, CliError> {
        self.map_err(|source| CliError::Core { context: context.to_string(), source })
    }
}

impl<T> Context<T> for Result<T, vigil_server::ServerError> {
    fn context(self, context: &str) -> Result<T, CliError> {
        self.map_err(|source| CliError::Server { context: context.to_string(), source })
    }
}
