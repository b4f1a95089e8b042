//! TLS for the link to the SOC: rustls with the `ring` provider, the Mozilla root
//! certificates or a custom CA, and optional SPKI pinning.
//!
//! A pin is the SHA-256 of a certificate's DER-encoded SubjectPublicKeyInfo, in standard
//! base64 (the form of HTTP Public Key Pinning, RFC 7469, and of
//! `openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`).
//! With pins set, a chain is accepted only if it validates against the trusted roots AND
//! one of its certificates has a pinned SPKI. A pin on the SOC's intermediate CA or on its
//! own key both work, and a primary and a backup pin allow a key rotation.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};

/// The message of the certificate error a pin mismatch raises; [`untrusted_reason`] finds it
/// again in the error chain.
const PIN_MISMATCH: &str = "no certificate in the server's chain matches a configured SPKI pin";

/// The trust settings for the SOC's TLS certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// SHA-256 hashes of trusted SubjectPublicKeyInfos, in standard base64 (44 characters):
    /// usually a primary and a backup. Empty turns pinning off.
    pub spki_pins: Vec<String>,
    /// PEM certificates of the CAs to trust in place of the built-in Mozilla roots, for
    /// private deployments and tests. `None` trusts the built-in roots.
    pub ca_certificates_pem: Option<String>,
}

/// Builds the rustls client configuration for `settings`.
///
/// # Errors
///
/// [`Error::InvalidInput`] for a malformed pin or CA certificate.
pub(crate) fn client_config(settings: &TlsSettings) -> Result<rustls::ClientConfig> {
    // NOTE: rustls 0.23.48 deprecates the ring provider because it lacks the post-quantum
    // X25519MLKEM768 key exchange; ring is kept because aws-lc-rs needs a C/CMake build.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(root_store(settings.ca_certificates_pem.as_deref())?);
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|error| Error::invalid("tls.ca_certificates_pem", error.to_string()))?;
    let pins = decode_pins(&settings.spki_pins)?;

    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| Error::invalid("tls", error.to_string()))?;
    let config = if pins.is_empty() {
        builder.with_webpki_verifier(webpki).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier { webpki, pins }))
            .with_no_client_auth()
    };
    Ok(config)
}

/// Installs rustls's `ring` provider as the process default unless one is installed.
///
/// [`crate::sync::SyncClient`] needs no default because it passes its own configuration,
/// but any other `reqwest::Client` in the process (tests, tools) panics at build time
/// without one, because reqwest is built with the `rustls-no-provider` feature.
pub fn install_default_crypto_provider() {
    // NOTE: see `client_config` for why the deprecated ring provider is used.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    // An error means another provider is already installed, which serves as well.
    let _ = provider.install_default();
}

/// Returns the pin of a DER certificate: the base64 SHA-256 of its SubjectPublicKeyInfo.
fn spki_pin(certificate_der: &[u8]) -> Result<String> {
    let certificate = CertificateDer::from(certificate_der);
    let parsed = ParsedCertificate::try_from(&certificate)
        .map_err(|error| Error::invalid("certificate", error.to_string()))?;
    Ok(STANDARD.encode(spki_hash(&parsed)))
}

/// Returns the pins of every certificate in a PEM file, in file order.
///
/// # Errors
///
/// [`Error::InvalidInput`] if the text contains no certificate or an invalid one.
pub fn spki_pins_from_pem(pem: &str) -> Result<Vec<String>> {
    let certificates = parse_pem(pem, "certificate")?;
    certificates.iter().map(|certificate| spki_pin(certificate)).collect()
}

/// Returns why the TLS layer rejected the server, if `error` comes from a certificate
/// check: an unknown CA, an expired or mismatched certificate, or a pin mismatch.
pub(crate) fn untrusted_reason(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(rustls::Error::InvalidCertificate(reason)) =
            error.downcast_ref::<rustls::Error>()
        {
            return Some(describe(reason));
        }
        // hyper hands the rustls error over inside an `io::Error`, whose `source` skips it.
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(reason) = untrusted_reason(inner)
        {
            return Some(reason);
        }
        current = error.source();
    }
    None
}

fn describe(reason: &CertificateError) -> String {
    match reason {
        CertificateError::Other(other) if other.to_string() == PIN_MISMATCH => {
            PIN_MISMATCH.to_owned()
        }
        // A CA with the trusted CA's name but another key gives `BadSignature`.
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            "the server's certificate is not signed by a trusted CA".to_owned()
        }
        other => format!("the server's certificate is invalid: {other}"),
    }
}

/// A pin mismatch, carried in [`CertificateError::Other`].
#[derive(Debug)]
struct PinMismatch;

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(PIN_MISMATCH)
    }
}

impl std::error::Error for PinMismatch {}

/// Validates the chain with webpki, then requires a pinned SPKI in it.
#[derive(Debug)]
struct PinnedVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    pins: Vec<[u8; 32]>,
}

impl PinnedVerifier {
    fn is_pinned(&self, certificate: &CertificateDer<'_>) -> bool {
        match ParsedCertificate::try_from(certificate) {
            Ok(parsed) => self.pins.contains(&spki_hash(&parsed)),
            Err(_) => false,
        }
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;

        // NOTE: a pin on the root CA itself matches only if the server sends the root in
        // its chain, because webpki does not return the chain it built.
        let chain = std::iter::once(end_entity).chain(intermediates);
        if chain.into_iter().any(|certificate| self.is_pinned(certificate)) {
            Ok(verified)
        } else {
            tracing::warn!("rejected the server's certificate: no SPKI pin matches");
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                Arc::new(PinMismatch),
            ))))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

fn spki_hash(certificate: &ParsedCertificate<'_>) -> [u8; 32] {
    let spki = certificate.subject_public_key_info();
    ring::digest::digest(&ring::digest::SHA256, spki.as_ref())
        .as_ref()
        .try_into()
        .expect("SHA-256 digests are 32 bytes")
}

fn decode_pins(pins: &[String]) -> Result<Vec<[u8; 32]>> {
    let mut decoded = Vec::with_capacity(pins.len());
    for pin in pins {
        let bytes = STANDARD.decode(pin.trim()).map_err(|error| {
            Error::invalid("tls.spki_pins", format!("{pin:?} is not standard base64: {error}"))
        })?;
        let hash: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            Error::invalid(
                "tls.spki_pins",
                format!("{pin:?} decodes to {} bytes; a SHA-256 pin is 32", bytes.len()),
            )
        })?;
        decoded.push(hash);
    }
    Ok(decoded)
}

fn root_store(ca_pem: Option<&str>) -> Result<RootCertStore> {
    let Some(pem) = ca_pem else {
        return Ok(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() });
    };

    let mut store = RootCertStore::empty();
    for certificate in parse_pem(pem, "tls.ca_certificates_pem")? {
        store
            .add(certificate)
            .map_err(|error| Error::invalid("tls.ca_certificates_pem", error.to_string()))?;
    }
    Ok(store)
}

fn parse_pem(pem: &str, field: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|error| Error::invalid(field, format!("unreadable PEM: {error}")))?;
    if certificates.is_empty() {
        return Err(Error::invalid(field, "contains no PEM CERTIFICATE block"));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_must_be_sha256_in_base64() {
        let cases = [
            ("not-base64!", "is not standard base64"),
            ("AAAA", "decodes to 3 bytes"),
            ("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU", "is not standard base64"),
        ];

        for (pin, expected) in cases {
            let error = decode_pins(&[pin.to_owned()]).unwrap_err().to_string();
            assert!(error.contains(expected), "{pin}: {error}");
        }
        assert_eq!(
            decode_pins(&["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into()]).unwrap().len(),
            1
        );
    }

    #[test]
    fn ca_pem_without_certificate_is_invalid() {
        let settings =
            TlsSettings { spki_pins: Vec::new(), ca_certificates_pem: Some("junk".into()) };

        let error = client_config(&settings).unwrap_err();

        assert!(
            matches!(&error, Error::InvalidInput { field, .. } if field == "tls.ca_certificates_pem"),
            "{error:?}"
        );
    }
}
