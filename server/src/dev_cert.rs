//! Development certificates: a throwaway CA and a server certificate it signs, generated
//! in memory, for tests and for trying TLS without a real CA.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use crate::error::ServerError;

/// A freshly generated CA and server certificate, in PEM.
#[derive(Clone)]
pub struct DevCertificate {
    /// The CA certificate, for a device's `ca_certificates_pem`.
    pub ca_pem: String,
    /// The server certificate followed by the CA certificate, for [`crate::ServerTls`].
    pub chain_pem: String,
    /// The server certificate's private key, in PKCS #8 PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for DevCertificate {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DevCertificate")
            .field("ca_pem", &self.ca_pem)
            .finish_non_exhaustive()
    }
}

/// Generates a CA and a server certificate for `names` (host names or IP addresses, such
/// as `localhost` and `127.0.0.1`), with new ECDSA P-256 keys. Nothing is written to disk.
///
/// # Errors
///
/// [`ServerError::InvalidConfig`] for a name that is not a valid DNS name or IP address.
pub fn generate_dev_certificate(names: &[&str]) -> Result<DevCertificate, ServerError> {
    let invalid = |error: rcgen::Error| {
        ServerError::InvalidConfig(format!("failed to generate a development certificate: {error}"))
    };

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(invalid)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Vigil development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(invalid)?;
    let ca_certificate = ca_params.self_signed(&ca_key).map_err(invalid)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let mut server_params = CertificateParams::new(names).map_err(invalid)?;
    server_params.distinguished_name.push(DnType::CommonName, "Vigil development server");
    let server_key = KeyPair::generate().map_err(invalid)?;
    let server_certificate = server_params.signed_by(&server_key, &issuer).map_err(invalid)?;

    Ok(DevCertificate {
        ca_pem: ca_certificate.pem(),
        chain_pem: format!("{}{}", server_certificate.pem(), ca_certificate.pem()),
        key_pem: server_key.serialize_pem(),
    })
}
