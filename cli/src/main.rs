//! `vigil`: runs a guard's shift from the command line.
//!
//! - `vigil demo` plays a simulated patrol against the reference server, in-process.
//! - `vigil replay --track FILE` plays a recorded GPX or NMEA track through the core.
//! - `vigil serve` runs the reference SOC server until Ctrl-C.
//! - `vigil tag-key` creates the SOC's tag signing keys and signs checkpoint tags.
//! - `vigil alerts list` and `vigil alerts ack ID` show and acknowledge a server's alerts.
//! - `vigil export` fetches a device's records as evidence; `vigil verify FILE` checks them
//!   offline.
//!
//! Logs go to stderr; set `RUST_LOG` (for example `RUST_LOG=info`) to see more.

mod alerts;
mod demo;
mod devices;
mod error;
mod evidence;
mod passphrase;
mod replay;
mod report;
mod rescue;
mod serve;
mod site;
mod tag_key;
mod tls;
mod tracks;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use tracing_subscriber::EnvFilter;
use vigil_core::wording::Language;

use crate::error::CliError;

/// Runs a guard's shift from the command line: a demo, a replay of a real track, or the
/// reference SOC server.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play a simulated patrol against an in-process server and print the shift report.
    Demo {
        /// Seed of the simulated GPS noise.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Language of refusal texts.
        #[arg(long, value_enum, default_value = "en")]
        language: LanguageArg,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Play a recorded GPX or NMEA 0183 track through the core and print what it stored,
    /// rejected and flagged.
    Replay {
        /// The track: GPX 1.0 or 1.1, or an NMEA 0183 log. The format is read from the
        /// content.
        #[arg(long, value_name = "FILE")]
        track: PathBuf,
        /// A GeoJSON file to build the site from: a polygon is the perimeter, its corners
        /// and the Point features are GPS checkpoints.
        #[arg(long, value_name = "FILE.geojson")]
        site: Option<PathBuf>,
        /// The id of the polygon feature to use as the perimeter, such as `way/52538639`;
        /// by default the largest building.
        #[arg(long, value_name = "ID", requires = "site")]
        perimeter_id: Option<String>,
        /// A file whose first line is the passphrase that encrypts the replay's device
        /// store; by default a random one.
        #[arg(long, value_name = "FILE", env = "VIGIL_PASSPHRASE_FILE")]
        passphrase_file: Option<PathBuf>,
        /// Language of refusal texts.
        #[arg(long, value_enum, default_value = "en")]
        language: LanguageArg,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the reference SOC server until Ctrl-C.
    Serve {
        /// Address and port to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// SQLite database file; created if missing.
        #[arg(long, value_name = "PATH", default_value = "vigil-server.db")]
        database: PathBuf,
        /// The code devices must send to enroll. Prefer the environment variable: a
        /// command-line argument is visible to other users of the machine.
        #[arg(long, value_name = "CODE", env = "VIGIL_ENROLLMENT_CODE", hide_env_values = true)]
        enrollment_code: String,
        /// A GeoJSON file with the site assigned to every device.
        #[arg(long, value_name = "FILE.geojson")]
        site: Option<PathBuf>,
        /// The id of the polygon feature to use as the perimeter; by default the largest
        /// building.
        #[arg(long, value_name = "ID", requires = "site")]
        perimeter_id: Option<String>,
        /// A public key devices verify signed checkpoint tags with, as `vigil tag-key new`
        /// prints it. Repeat for several keys.
        #[arg(long, value_name = "KEY_ID=PUBLIC_KEY", value_parser = tag_key::parse_public)]
        tag_key: Vec<vigil_core::checkin::TagKey>,
        /// The bearer token of the operator endpoints (`/v1/operator/...`); they are off
        /// without it. Prefer the environment variable, as for the enrollment code.
        #[arg(long, value_name = "TOKEN", env = "VIGIL_OPERATOR_TOKEN", hide_env_values = true)]
        operator_token: Option<String>,
        /// A PEM file with the server's TLS certificate chain, the server's certificate
        /// first. With `--tls-key`, the server serves HTTPS; without, it serves plain HTTP
        /// and only on a loopback address.
        #[arg(long, value_name = "FILE.pem", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// A PEM file with the private key of `--tls-cert` (PKCS #8, PKCS #1 or SEC1).
        #[arg(long, value_name = "FILE.pem", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Generate development TLS certificates and print SPKI pins for devices.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Create the SOC's Ed25519 keys for signed checkpoint tags, and sign tags.
    #[command(subcommand)]
    TagKey(TagKeyCommand),
    /// Show or acknowledge the alerts stored by a reference server, on the server machine.
    Alerts {
        #[command(subcommand)]
        action: AlertsAction,
    },
    /// List the devices that send heartbeats, marking those silent for longer than the
    /// limit.
    Devices {
        /// The server's SQLite database file.
        #[arg(long, value_name = "PATH", default_value = "vigil-server.db")]
        database: PathBuf,
        /// List only the silent devices.
        #[arg(long)]
        silent: bool,
        /// Seconds without a heartbeat after which a device counts as silent.
        #[arg(long, value_name = "SECONDS", default_value_t = 180)]
        silent_after_s: u64,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch every record a SOC server stores from one device, with its public key, as an
    /// evidence file for `vigil verify`. The JSON goes to stdout.
    Export {
        /// The server's base URL, such as `http://127.0.0.1:8080`.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The server's operator token. Prefer the environment variable: a command-line
        /// argument is visible to other users of the machine.
        #[arg(long, value_name = "TOKEN", env = "VIGIL_OPERATOR_TOKEN", hide_env_values = true)]
        operator_token: String,
        /// The device's id.
        #[arg(long, value_name = "ID")]
        device: String,
    },
    /// Check an evidence file from `vigil export` offline: every signature, every link,
    /// and no missing or reordered record. Exits non-zero on any fault.
    Verify {
        /// The evidence file.
        file: PathBuf,
        /// The device's Ed25519 public key (base64url) as registered at enrollment. Without
        /// it the key inside the file is used, which proves only that the file is
        /// self-consistent.
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deliver the sealed records of a device store whose key-encryption key is lost (it
    /// fails with "locked"): a new store adopts them and sends them to the server, which
    /// stores them as the old device's. The locked file is only read.
    Rescue {
        /// The device store that no longer opens.
        #[arg(long, value_name = "OLD.db")]
        locked: PathBuf,
        /// The new device store; created if missing. Run again with the same one to
        /// deliver records still pending.
        #[arg(long, value_name = "PATH")]
        database: PathBuf,
        /// The server's base URL, such as `http://127.0.0.1:8080`.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The new store's device id; it must differ from the locked store's, which the
        /// server keeps bound to the lost signing key.
        #[arg(long, value_name = "ID")]
        device: String,
        /// The guard id the new store enrolls with.
        #[arg(long, value_name = "ID")]
        guard: String,
        /// The server's enrollment code. Prefer the environment variable: a command-line
        /// argument is visible to other users of the machine.
        #[arg(long, value_name = "CODE", env = "VIGIL_ENROLLMENT_CODE", hide_env_values = true)]
        enrollment_code: String,
        /// A file whose first line is the new store's passphrase. Without it, the store's
        /// key is kept in a key file next to the database.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue a command for an enrolled device in a reference server's database; the device
    /// applies it at its next sync.
    Command {
        /// The command.
        #[arg(value_enum)]
        kind: CommandArg,
        /// The device's id, as it enrolled.
        #[arg(long)]
        device: String,
        /// The server's SQLite database file.
        #[arg(long, value_name = "PATH", default_value = "vigil-server.db")]
        database: PathBuf,
    },
    /// Verify an SMS fallback alert against the device keys in a reference server's
    /// database, and print what it carries. Exits non-zero if it does not verify.
    SmsVerify {
        /// The server's SQLite database file.
        #[arg(long, value_name = "PATH", default_value = "vigil-server.db")]
        database: PathBuf,
        /// The SMS text as received, starting with VG1.
        text: String,
    },
}

#[derive(Debug, Subcommand)]
enum TlsCommand {
    /// Write a new development CA and a server certificate it signs to a folder
    /// (ca.pem, server-chain.pem, server-key.pem), and print their SPKI pins. Not for
    /// production: the CA key is discarded, so the certificate cannot be renewed.
    DevCert {
        /// The folder to write to; existing files are never overwritten.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A host name or IP address the certificate is valid for. Repeat for several.
        #[arg(long = "name", value_name = "HOST", default_values = ["localhost", "127.0.0.1"])]
        names: Vec<String>,
    },
    /// Print the SPKI pin of every certificate in a PEM file, one a line, for a device's
    /// `spki_pins`.
    Pin {
        /// The PEM certificate file.
        certificate: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TagKeyCommand {
    /// Generate a key pair: write the secret key to a new file and print the public key
    /// as KEY_ID=PUBLIC_KEY, for `vigil serve --tag-key`.
    New {
        /// The key's id, named in every tag it signs.
        #[arg(long)]
        key_id: String,
        /// The new file for the secret key (PKCS#8 v2, DER); an existing file is never
        /// overwritten.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print the signed tag text of a checkpoint, to print as a QR code or write to an NFC
    /// tag.
    Sign {
        /// The secret key file written by `vigil tag-key new`.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The key's id, as given to `vigil tag-key new`.
        #[arg(long)]
        key_id: String,
        /// The site's id.
        #[arg(long)]
        site: String,
        /// The checkpoint's id within the site.
        #[arg(long)]
        checkpoint: String,
    },
}

#[derive(Debug, Subcommand)]
enum AlertsAction {
    /// List the active alerts (neither acknowledged nor cancelled), oldest first.
    List {
        /// The server's SQLite database file.
        #[arg(long, value_name = "PATH", default_value = "vigil-server.db")]
        database: PathBuf,
        /// List acknowledged and cancelled alerts too.
        #[arg(long)]
        all: bool,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an alert: the device learns of it from its next resend, within its
    /// resend interval (2 s by default).
    Ack {
        /// The alert's record id, as `vigil alerts list` prints it.
        id: String,
        /// The server's SQLite database file.
        #[arg(long, value_name = "PATH", default_value = "vigil-server.db")]
        database: PathBuf,
    },
}

/// The commands an operator can queue for a device.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum CommandArg {
    /// Delete the device's local records, keys and files, after it tries to send its
    /// outbox for a few seconds.
    Wipe,
}

/// The languages Vigil ships wording for.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum LanguageArg {
    /// English.
    En,
    /// Spanish.
    Es,
    /// Brazilian Portuguese.
    #[value(name = "pt-BR")]
    PtBr,
}

impl From<LanguageArg> for Language {
    fn from(language: LanguageArg) -> Self {
        match language {
            LanguageArg::En => Language::English,
            LanguageArg::Es => Language::Spanish,
            LanguageArg::PtBr => Language::BrazilianPortuguese,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's warnings (the panic alert, the failed sync during the outage) are part of
    // the script, and its report shows them, so by default it logs errors only.
    let default_level = match cli.command {
        Command::Serve { .. } => "info",
        Command::Replay { .. } => "warn",
        Command::Demo { .. } => "error",
        Command::TagKey(_) => "warn",
        Command::Tls(_) => "warn",
        Command::Alerts { .. } => "warn",
        Command::SmsVerify { .. } => "warn",
        Command::Devices { .. } => "warn",
        Command::Export { .. } | Command::Verify { .. } => "warn",
        Command::Command { .. } => "warn",
        Command::Rescue { .. } => "warn",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Demo { seed, language, json } => {
            let options = demo::DemoOptions { seed, language: language.into() };
            let report = runtime()?.block_on(demo::run(options))?;
            print(&report, json, || report.to_text())?;
            if report.problems.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                for problem in &report.problems {
                    eprintln!("error: {problem}");
                }
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Replay { track, site, perimeter_id, passphrase_file, language, json } => {
            let options = replay::ReplayOptions {
                track,
                site,
                perimeter_id,
                passphrase_file,
                language: language.into(),
            };
            let report = replay::run(&options)?;
            print(&report, json, || report.to_text())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            listen,
            database,
            enrollment_code,
            site,
            perimeter_id,
            tag_key,
            operator_token,
            tls_cert,
            tls_key,
        } => {
            let options = serve::ServeOptions {
                listen,
                database,
                enrollment_code,
                site,
                perimeter_id,
                tag_keys: tag_key,
                operator_token,
                tls: tls_cert.zip(tls_key),
            };
            runtime()?.block_on(serve::run(options))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::TagKey(command) => run_tag_key(command),
        Command::Tls(TlsCommand::DevCert { out, names }) => {
            for pin in tls::dev_cert(&out, &names)? {
                println!("{pin}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tls(TlsCommand::Pin { certificate }) => {
            for pin in tls::pins(&certificate)? {
                println!("{pin}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts { action: AlertsAction::List { database, all, json } } => {
            let alerts = alerts::list(&database, all)?;
            print(&alerts, json, || alerts::to_text(&alerts))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts { action: AlertsAction::Ack { id, database } } => {
            let acknowledged_at_ms = alerts::acknowledge(&database, &id)?;
            println!("alert {id} acknowledged at {acknowledged_at_ms} ms");
            Ok(ExitCode::SUCCESS)
        }
        Command::Devices { database, silent, silent_after_s, json } => {
            let devices = devices::list(&database, silent_after_s, silent)?;
            print(&devices, json, || devices::to_text(&devices))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { server, operator_token, device } => {
            let json = runtime()?.block_on(evidence::export(&server, &operator_token, &device))?;
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { file, public_key, json } => {
            let report = evidence::verify(&file, public_key.as_deref())?;
            print(&report, json, || report.to_text())?;
            if report.faults.is_empty() { Ok(ExitCode::SUCCESS) } else { Ok(ExitCode::FAILURE) }
        }
        Command::Command { kind: CommandArg::Wipe, device, database } => {
            let now_ms = vigil_core::Clock::now_ms(&vigil_core::SystemClock);
            let kind = vigil_core::protocol::CommandKind::Wipe;
            let queued = vigil_server::queue_command(&database, &device, kind, now_ms).map_err(
                |source| CliError::Server { context: "queueing the command".into(), source },
            )?;
            println!("queued command {} ({}) for device {device}", queued.seq, queued.kind);
            Ok(ExitCode::SUCCESS)
        }
        Command::Rescue {
            locked,
            database,
            server,
            device,
            guard,
            enrollment_code,
            passphrase_file,
            json,
        } => {
            let options = rescue::RescueOptions {
                locked,
                database,
                server,
                device,
                guard,
                enrollment_code,
                passphrase_file,
            };
            let report = runtime()?.block_on(rescue::run(options))?;
            print(&report, json, || report.to_text())?;
            if report.pending == 0 { Ok(ExitCode::SUCCESS) } else { Ok(ExitCode::FAILURE) }
        }
        Command::SmsVerify { database, text } => {
            let verified = alerts::verify_sms(&database, &text)?;
            println!("{}", alerts::verified_sms_text(&verified));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_tag_key(command: TagKeyCommand) -> Result<ExitCode, CliError> {
    match command {
        TagKeyCommand::New { key_id, out } => {
            let public = tag_key::generate(&key_id, &out)?;
            println!("{}={}", public.key_id, public.public_key);
        }
        TagKeyCommand::Sign { key, key_id, site, checkpoint } => {
            println!("{}", tag_key::sign(&key, &key_id, &site, &checkpoint)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::Other(format!("failed to start the async runtime: {error}")))
}

fn print<T: Serialize>(
    report: &T,
    json: bool,
    text: impl FnOnce() -> String,
) -> Result<(), CliError> {
    if json {
        let encoded = serde_json::to_string_pretty(report).map_err(|error| {
            CliError::Other(format!("failed to encode the report as JSON: {error}"))
        })?;
        println!("{encoded}");
    } else {
        print!("{}", text());
    }
    Ok(())
}

/// Formats an error with its sources, as `outer: inner: innermost`, skipping a source
/// whose text the outer message already contains.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        source = inner.source();
    }
    text
}
