//! How the sender opens its connections: plain TCP, or TLS for an
//! `https://` target (rustls; the Mozilla roots, a `--ca-file`, or no
//! verification at all for a self-signed test cluster with `--insecure`).

use brokerbench_core::conn::{handshake, tcp, Conn};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// Why TLS settings cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--ca-file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS: {0}")]
    Config(String),
}

/// The TLS client settings of `https://` targets: the Mozilla roots and
/// the certificates of `ca_file` (PEM), or no verification (`insecure`).
pub fn client_config(
    ca_file: Option<&Path>,
    insecure: bool,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                webpki: None,
                named: Vec::new(),
                provider,
            }))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            let bad = |reason: String| TlsError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let certs: Vec<CertificateDer<'static>> =
                rustls::pki_types::pem::PemObject::pem_slice_iter(&pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| bad(format!("not PEM certificates: {e:?}")))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in it".into()));
            }
            for c in &certs {
                roots.add(c.clone()).map_err(|e| bad(e.to_string()))?;
            }
            // A self-signed certificate that is its own CA (CA:TRUE, as
            // `openssl req -x509` makes by default), presented as the
            // server's: webpki refuses a CA as an end entity, but the user
            // named this very certificate.
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier {
                    webpki: Some(webpki),
                    named: certs,
                    provider,
                }))
                .with_no_client_auth()
        } else {
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Opens the sender's connections to one target.
#[derive(Clone)]
pub enum Dialer {
    Plain,
    Tls {
        connector: tokio_rustls::TlsConnector,
        name: ServerName<'static>,
    },
}

impl Dialer {
    /// Plain TCP without `tls`, else TLS to `host` (its SNI and the name
    /// its certificate must carry).
    pub fn new(tls: Option<&Arc<ClientConfig>>, host: &str) -> Result<Self, TlsError> {
        Ok(match tls {
            None => Dialer::Plain,
            Some(config) => Dialer::Tls {
                connector: tokio_rustls::TlsConnector::from(config.clone()),
                name: ServerName::try_from(host.to_string())
                    .map_err(|e| TlsError::Config(format!("{host}: {e}")))?,
            },
        })
    }

    /// One HTTP/1.1 connection to `addr`; why not, when it cannot.
    pub async fn dial(&self, addr: SocketAddr) -> Result<Conn, String> {
        let stream = tcp(addr).await.map_err(|e| e.to_string())?;
        let conn = match self {
            Dialer::Plain => handshake(stream).await,
            Dialer::Tls { connector, name } => {
                let tls = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                handshake(tls).await
            }
        };
        conn.map_err(|e| e.to_string())
    }
}

/// The sender's own check of a server's certificate: with `--ca-file`, a
/// certificate a CA in it signed (webpki's checks, the server's name
/// included), or one of the file's certificates itself, presented by the
/// server although it is a CA (`CaUsedAsEndEntity`); with `--insecure`
/// (`webpki` none), any certificate. Signatures are checked either way, so
/// the handshake is real TLS.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    named: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

/// A handshake's signature, checked by `check` with the provider's
/// algorithms (TLS 1.2's or 1.3's rules).
type SignatureCheck = fn(
    &[u8],
    &CertificateDer<'_>,
    &DigitallySignedStruct,
    &rustls::crypto::WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, rustls::Error>;

impl Verifier {
    fn signature(
        &self,
        check: SignatureCheck,
        (message, cert, dss): (&[u8], &CertificateDer<'_>, &DigitallySignedStruct),
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        check(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(e)))
                if format!("{e:?}").contains("CaUsedAsEndEntity")
                    && self.named.iter().any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(rustls::crypto::verify_tls12_signature, (message, cert, dss))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(rustls::crypto::verify_tls13_signature, (message, cert, dss))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
