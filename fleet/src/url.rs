//! Database URLs: masking the password for anything printed, and connecting (TLS as libpq's
//! `sslmode` asks).
//!
//! A libpq URL (`postgresql://user:password@host:port/db?sslmode=require`) or keyword/value
//! string (`host=... user=... password=...`) is accepted. Every message this crate prints names
//! the database by [`mask`]ed URL only, so a password never reaches a log or a terminal.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};

use crate::FleetError;

/// `url` with its password replaced by `***` (in the user-info part, in a `password=` query
/// parameter, or in a keyword/value string).
pub fn mask(url: &str) -> String {
    let mut out = url.to_string();
    // user:password@ in a URL.
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let rest = &out[rest_start..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let userinfo = &rest[..at];
            if let Some(colon) = userinfo.find(':') {
                let start = rest_start + colon + 1;
                let end = rest_start + at;
                out.replace_range(start..end, "***");
            }
        }
    }
    // password=... as a query parameter or a keyword/value pair (quoted or not).
    let lower = out.to_ascii_lowercase();
    let mut masked = String::with_capacity(out.len());
    let mut i = 0;
    while let Some(found) = lower[i..].find("password=") {
        let key_start = i + found;
        let boundary =
            key_start == 0 || matches!(out.as_bytes()[key_start - 1], b'?' | b'&' | b' ' | b'\t');
        let value_start = key_start + "password=".len();
        masked.push_str(&out[i..value_start]);
        if !boundary {
            i = value_start;
            continue;
        }
        let bytes = out.as_bytes();
        let value_end = if bytes.get(value_start) == Some(&b'\'') {
            // A quoted value: up to the closing quote that is not escaped.
            let mut j = value_start + 1;
            while j < bytes.len() && !(bytes[j] == b'\'' && bytes[j - 1] != b'\\') {
                j += 1;
            }
            (j + 1).min(bytes.len())
        } else {
            out[value_start..]
                .find(['&', ' ', '\t'])
                .map_or(out.len(), |e| value_start + e)
        };
        masked.push_str("***");
        i = value_end;
    }
    masked.push_str(&out[i..]);
    masked
}

/// Parses `url` (a libpq URL or keyword/value string); errors never repeat the password.
pub fn parse(url: &str) -> Result<Config, FleetError> {
    let mut config = Config::from_str(url).map_err(|e| FleetError::Url {
        url: mask(url),
        problem: e.to_string(),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("mmv-fleet");
    }
    Ok(config)
}

/// Opens a connection to `url`: plain TCP for `sslmode=disable`, TLS when the server offers it
/// for `prefer` (the default), TLS or nothing for `require`. As in libpq, `require` encrypts
/// without checking the server's certificate (put the database behind a network you trust,
/// or terminate TLS in front of it, to authenticate the server).
pub fn connect(url: &str) -> Result<Client, FleetError> {
    let config = parse(url)?;
    let result = match config.get_ssl_mode() {
        SslMode::Disable => config.connect(NoTls),
        _ => config.connect(tls()),
    };
    result.map_err(|source| FleetError::Connect {
        url: mask(url),
        source,
    })
}

fn tls() -> tokio_postgres_rustls::MakeRustlsConnect {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
        .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// libpq's `sslmode=require`: the channel is encrypted, the server's certificate is not checked
/// (signatures are, so the handshake itself is sound).
#[derive(Debug)]
struct AcceptAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_everywhere() {
        assert_eq!(
            mask("postgresql://dev1:s3cr%40t@db.example:5432/fleet?sslmode=require"),
            "postgresql://dev1:***@db.example:5432/fleet?sslmode=require"
        );
        assert_eq!(
            mask("postgres://dev1@db/fleet?password=hunter2&sslmode=require"),
            "postgres://dev1@db/fleet?password=***&sslmode=require"
        );
        assert_eq!(
            mask("host=db user=dev1 password='a b\\'c' dbname=fleet"),
            "host=db user=dev1 password=*** dbname=fleet"
        );
        assert_eq!(
            mask("host=db password=x dbname=fleet"),
            "host=db password=*** dbname=fleet"
        );
        // Nothing to hide: unchanged.
        assert_eq!(mask("postgres://dev1@db/fleet"), "postgres://dev1@db/fleet");
        // "mypassword=" is not the password key.
        assert_eq!(mask("host=db mypassword=x"), "host=db mypassword=x");
    }

    #[test]
    fn bad_urls_are_reported_without_the_password() {
        let err = parse("postgresql://u:topsecret@db:notaport/x").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("topsecret"), "{text}");
        assert!(text.contains("u:***@db"), "{text}");
    }
}
