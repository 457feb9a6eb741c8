//! TLS listeners: rustls server configs, certificate rotation and client-cert facts.
//!
//! rustls only implements forward-secret (ECDHE) AEAD suites, so the default suite
//! list already satisfies the policy; we choose the protocol versions (1.2+ or
//! 1.3-only) and ALPN (`h2`, `http/1.1`). A listener's TLS is a [`TlsListener`],
//! built with the configuration it belongs to (a failure names the `tls` field
//! it is about, see [`ListenerTlsError`]). Its certificate is served through
//! [`ReloadingCert`], which re-reads the PEM files when their modification time
//! changes (rotation without restart; a broken new pair is logged and the old one
//! kept); a changed client CA bundle is picked up the same way
//! ([`TlsListener::refresh`]), and a reload re-reads all of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use base64::Engine;
use rampart_config::{ClientAuth, ListenerTls, TlsMinVersion};
use rampart_core::{ClientCert, TlsInfo};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use rustls_pki_types::CertificateDer;
use tokio_rustls::TlsAcceptor;

use crate::upstream::{load_certs, load_key};

mod subject;

/// A certificate and key re-read from disk when they change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    stamp: parking_lot::Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The field of a listener's `tls` section a failure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsField {
    /// `cert`.
    Cert,
    /// `key`.
    Key,
    /// `client_ca`.
    ClientCa,
    /// The section as a whole.
    Section,
}

impl TlsField {
    /// The field's name under `tls` (empty for the section).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cert => "cert",
            Self::Key => "key",
            Self::ClientCa => "client_ca",
            Self::Section => "",
        }
    }
}

/// Why a listener's TLS settings could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct ListenerTlsError {
    /// The field it is about.
    pub field: TlsField,
    /// What is wrong.
    pub reason: String,
}

impl ListenerTlsError {
    fn new(field: TlsField, reason: impl ToString) -> Self {
        Self {
            field,
            reason: reason.to_string(),
        }
    }
}

fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, ListenerTlsError> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let chain =
        load_certs(cert, "certificate").map_err(|e| ListenerTlsError::new(TlsField::Cert, e))?;
    let private = load_key(key).map_err(|e| ListenerTlsError::new(TlsField::Key, e))?;
    CertifiedKey::from_der(chain, private, &provider).map_err(|err| {
        match err {
            rustls::Error::InconsistentKeys(_) => ListenerTlsError::new(
                TlsField::Key,
                format!(
                    "the private key in {} does not match the certificate in {}",
                    key.display(),
                    cert.display()
                ),
            ),
            // The end-entity certificate is parsed to compare its public key.
            rustls::Error::InvalidCertificate(why) => ListenerTlsError::new(
                TlsField::Cert,
                format!(
                    "cannot parse the certificate in {}: {why:?}",
                    cert.display()
                ),
            ),
            other => ListenerTlsError::new(
                TlsField::Key,
                format!("cannot use the private key in {}: {other}", key.display()),
            ),
        }
    })
}

impl ReloadingCert {
    /// Loads the pair now (an error here is a configuration error).
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, ListenerTlsError> {
        Self::load_with(cert_path, key_path, load_certified_key)
    }

    /// [`Self::load`], reading the pair with `read` (a test rotates the files
    /// while it runs).
    fn load_with(
        cert_path: &Path,
        key_path: &Path,
        read: impl FnOnce(&Path, &Path) -> Result<CertifiedKey, ListenerTlsError>,
    ) -> Result<Self, ListenerTlsError> {
        // Stamped before reading: a rotation landing during the read leaves
        // the files newer than the stamp, so the next poll reads them again
        // (stamped after, it would look already read and never be served).
        let stamp = (modified(cert_path), modified(key_path));
        let key = read(cert_path, key_path)?;
        Ok(Self {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: ArcSwap::from_pointee(key),
            stamp: parking_lot::Mutex::new(stamp),
        })
    }

    /// Whether both files are as they were last read.
    fn files_unchanged(&self) -> bool {
        *self.stamp.lock() == (modified(&self.cert_path), modified(&self.key_path))
    }

    /// Re-reads the files if either changed; returns whether a new pair is served.
    /// The stamp is taken before the read here too, for the same reason.
    pub fn refresh(&self) -> bool {
        let now = (modified(&self.cert_path), modified(&self.key_path));
        {
            let mut stamp = self.stamp.lock();
            if *stamp == now {
                return false;
            }
            *stamp = now;
        }
        match load_certified_key(&self.cert_path, &self.key_path) {
            Ok(key) => {
                self.current.store(Arc::new(key));
                tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
                metrics::counter!("rampart_tls_cert_reloads_total", "result" => "ok").increment(1);
                true
            }
            Err(err) => {
                // Mid-rotation a cert may not match its key yet; the next poll retries.
                tracing::warn!(cert = %self.cert_path.display(), error = %err, "TLS certificate reload failed; keeping the old one");
                metrics::counter!("rampart_tls_cert_reloads_total", "result" => "error")
                    .increment(1);
                let mut stamp = self.stamp.lock();
                *stamp = (None, None);
                false
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// A listener's TLS: its rustls server config and the certificate it serves.
/// The client CA bundle is watched like the certificate: when its file
/// changes, the verifier (and so the server config) is rebuilt; a bundle that
/// cannot be used is logged and counted, and the old one kept.
#[derive(Debug)]
pub struct TlsListener {
    config: ArcSwap<ServerConfig>,
    cert: Arc<ReloadingCert>,
    min_version: TlsMinVersion,
    client_ca: Option<(PathBuf, ClientAuth)>,
    ca_stamp: parking_lot::Mutex<Option<SystemTime>>,
}

impl TlsListener {
    /// Reads the certificate, key and client CA and builds the server config.
    pub fn load(tls: &ListenerTls) -> Result<Self, ListenerTlsError> {
        let cert = Arc::new(ReloadingCert::load(&tls.cert, &tls.key)?);
        // Stamped before reading (see `ReloadingCert::load_with`).
        let ca_stamp = tls.client_ca.as_ref().and_then(|(ca, _)| modified(ca));
        let verifier = match &tls.client_ca {
            Some((ca, mode)) => Some(client_verifier(ca, *mode)?),
            None => None,
        };
        let config = server_config(tls.min_version, verifier, cert.clone())?;
        Ok(Self {
            config: ArcSwap::new(config),
            cert,
            min_version: tls.min_version,
            client_ca: tls.client_ca.clone(),
            ca_stamp: parking_lot::Mutex::new(ca_stamp),
        })
    }

    /// Whether the certificate, key and client CA files are as they were last
    /// read (a reload then keeps this listener's TLS as it is).
    pub fn files_unchanged(&self) -> bool {
        self.cert.files_unchanged()
            && self
                .client_ca
                .as_ref()
                .is_none_or(|(ca, _)| *self.ca_stamp.lock() == modified(ca))
    }

    /// An acceptor for one connection, with the settings of the moment.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.load_full())
    }

    /// Picks up a rotated certificate (see [`ReloadingCert::refresh`]) and a
    /// changed client CA bundle.
    pub fn refresh(&self) {
        self.cert.refresh();
        let Some((ca, mode)) = &self.client_ca else {
            return;
        };
        let now = modified(ca);
        {
            let mut stamp = self.ca_stamp.lock();
            if *stamp == now {
                return;
            }
            *stamp = now;
        }
        let rebuilt = client_verifier(ca, *mode).and_then(|verifier| {
            server_config(self.min_version, Some(verifier), self.cert.clone())
        });
        match rebuilt {
            Ok(config) => {
                // New connections verify against the new bundle; a fresh
                // config also has a fresh session cache, so no session made
                // under the old bundle is resumed.
                self.config.store(config);
                tracing::info!(client_ca = %ca.display(), "client CA bundle reloaded");
                metrics::counter!("rampart_tls_client_ca_reloads_total", "result" => "ok")
                    .increment(1);
            }
            Err(err) => {
                tracing::warn!(client_ca = %ca.display(), error = %err, "client CA bundle reload failed; keeping the old one");
                metrics::counter!("rampart_tls_client_ca_reloads_total", "result" => "error")
                    .increment(1);
                // Retried at the next poll (the file may be half written).
                *self.ca_stamp.lock() = None;
            }
        }
    }
}

/// The verifier of client certificates issued by the CAs in `ca`.
fn client_verifier(
    ca: &Path,
    mode: ClientAuth,
) -> Result<Arc<dyn ClientCertVerifier>, ListenerTlsError> {
    let refused = |reason: String| ListenerTlsError::new(TlsField::ClientCa, reason);
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca, "client CA").map_err(|e| refused(e.to_string()))? {
        roots
            .add(cert)
            .map_err(|e| refused(format!("{}: {e}", ca.display())))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let verifier = match mode {
        ClientAuth::Required => verifier,
        ClientAuth::Optional => verifier.allow_unauthenticated(),
    };
    verifier
        .build()
        .map_err(|e| refused(format!("{}: {e}", ca.display())))
}

fn server_config(
    min_version: TlsMinVersion,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    cert: Arc<ReloadingCert>,
) -> Result<Arc<ServerConfig>, ListenerTlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match min_version {
        TlsMinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsMinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| ListenerTlsError::new(TlsField::Section, e))?;
    let builder = match verifier {
        None => builder.with_no_client_auth(),
        Some(verifier) => builder.with_client_cert_verifier(verifier),
    };
    let mut config = builder.with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// TLS facts of an established connection, for the stages.
pub fn tls_info(connection: &ServerConnection) -> TlsInfo {
    let version = match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "unknown",
    };
    TlsInfo {
        version: version.to_string(),
        alpn: connection
            .alpn_protocol()
            .map(|alpn| String::from_utf8_lossy(alpn).into_owned()),
        client_cert: connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(client_cert_facts),
    }
}

/// Subject, SANs and SHA-256 thumbprint of a verified client certificate.
pub fn client_cert_facts(der: &CertificateDer<'_>) -> ClientCert {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der.as_ref());
    let sha256_thumbprint =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    let mut facts = ClientCert {
        sha256_thumbprint,
        ..ClientCert::default()
    };
    if let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) {
        facts.subject = subject::subject_text(cert.subject());
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            facts.sans = san
                .value
                .general_names
                .iter()
                .map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => format!("DNS:{dns}"),
                    x509_parser::extensions::GeneralName::URI(uri) => format!("URI:{uri}"),
                    x509_parser::extensions::GeneralName::RFC822Name(mail) => {
                        format!("email:{mail}")
                    }
                    x509_parser::extensions::GeneralName::IPAddress(ip) => {
                        format!("IP:{}", ip_text(ip))
                    }
                    other => format!("{other:?}"),
                })
                .collect();
        }
    }
    facts
}

fn ip_text(bytes: &[u8]) -> String {
    if let Ok(octets) = <[u8; 4]>::try_from(bytes) {
        std::net::IpAddr::from(octets).to_string()
    } else if let Ok(octets) = <[u8; 16]>::try_from(bytes) {
        std::net::IpAddr::from(octets).to_string()
    } else {
        String::from("invalid")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A self-signed certificate for `subject` (openssl's `/A=b/C=d` form,
    /// UTF-8), DER; `mask` is openssl's `string_mask` (which string types
    /// its values get).
    fn certificate_with(subject: &str, mask: &str) -> Option<Vec<u8>> {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("rampart-subject-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("req.cnf");
        std::fs::write(
            &config,
            format!("[req]\ndistinguished_name = dn\nstring_mask = {mask}\n[dn]\n"),
        )
        .unwrap();
        let out = dir.join("cert.der");
        let status = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
            .args(["-keyout", dir.join("key.pem").to_str().unwrap()])
            .args(["-outform", "DER", "-out", out.to_str().unwrap()])
            .args([
                "-config",
                config.to_str().unwrap(),
                "-utf8",
                "-multivalue-rdn",
            ])
            .args(["-subj", subject])
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        let der = status.success().then(|| std::fs::read(&out).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
        der
    }

    fn certificate(subject: &str) -> Option<Vec<u8>> {
        certificate_with(subject, "utf8only")
    }

    #[test]
    fn a_subject_value_holding_separators_cannot_read_as_other_attributes() {
        // openssl is how the e2e tests make certificates; without it, nothing to test.
        let Some(two) = certificate("/CN=billing/O=Example") else {
            return;
        };
        let one = certificate("/CN=billing, O=Example").unwrap();
        let two = client_cert_facts(&CertificateDer::from(two));
        let one = client_cert_facts(&CertificateDer::from(one));
        // Plain subjects render as before (existing `subject` rules still match).
        assert_eq!(two.subject, "CN=billing, O=Example");
        // One CN holding `, O=Example` is escaped, so it is not that subject.
        assert_eq!(one.subject, "CN=billing\\, O\\=Example");
        assert_ne!(one.subject, two.subject);
    }

    /// The same CN as a T61String (the tag byte of the openssl-made UTF8String
    /// patched; the signature does not matter here) and as a BMPString: both
    /// are escaped like any other string (x509-parser's `as_str` refused
    /// them, and its rendering, unescaped, was used).
    #[test]
    fn legacy_string_types_are_escaped_too() {
        let Some(mut der) = certificate("/CN=billing, O=Example") else {
            return;
        };
        // Issuer and subject alike (the certificate is self-signed).
        let value = b"billing, O=Example";
        let at: Vec<usize> = der
            .windows(value.len() + 2)
            .enumerate()
            .filter(|(_, w)| w[0] == 0x0c && usize::from(w[1]) == value.len() && &w[2..] == value)
            .map(|(at, _)| at)
            .collect();
        assert_eq!(at.len(), 2);
        for at in at {
            der[at] = 0x14;
        }
        let teletex = client_cert_facts(&CertificateDer::from(der));
        assert_ne!(teletex.subject, "CN=billing, O=Example");
        assert_eq!(teletex.subject, "CN=billing\\, O\\=Example");

        // `default` lets openssl pick BMPString for a non-Latin-1 value.
        let bmp = certificate_with("/CN=\u{3a9}billing, O=Example", "default").unwrap();
        let bmp = client_cert_facts(&CertificateDer::from(bmp));
        assert_eq!(bmp.subject, "CN=\u{3a9}billing\\, O\\=Example");
    }

    /// Subjects without special characters read exactly as x509-parser renders
    /// them (so the `subject` rules written against it still match).
    #[test]
    fn plain_subjects_render_as_x509_parser_does() {
        for subject in [
            "/C=US/ST=California/L=San Francisco/O=Example Inc./OU=Payments/CN=client-1",
            "/CN=a+OU=b/O=Example/emailAddress=ops@example.com",
            "/DC=com/DC=example/UID=42/CN=svc-billing",
            // organizationIdentifier (PSD2/eIDAS) is not in x509-parser's registry.
            "/organizationIdentifier=PSDGB-FCA-1/CN=tpp",
        ] {
            let Some(der) = certificate(subject) else {
                return;
            };
            let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
            let facts = client_cert_facts(&CertificateDer::from(der.clone()));
            assert_eq!(facts.subject, cert.subject().to_string(), "{subject}");
        }
    }

    /// A self-signed PEM certificate and key, `<name>.pem` and `<name>.key` in `dir`.
    fn pem_pair(dir: &Path, name: &str) -> Option<()> {
        let status = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
            .args(["-keyout", dir.join(format!("{name}.key")).to_str().unwrap()])
            .args(["-out", dir.join(format!("{name}.pem")).to_str().unwrap()])
            .args(["-subj", &format!("/CN={name}")])
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(())
    }

    /// Writes `from`'s pair over `cert.pem`/`key.pem` with modification time `at`.
    fn install(dir: &Path, from: &str, at: SystemTime) {
        for (src, dst) in [("pem", "cert.pem"), ("key", "key.pem")] {
            std::fs::copy(dir.join(format!("{from}.{src}")), dir.join(dst)).unwrap();
            let file = std::fs::File::options()
                .write(true)
                .open(dir.join(dst))
                .unwrap();
            file.set_modified(at).unwrap();
        }
    }

    /// A rotation landing while the pair is first read (after the read, before
    /// the stamp was taken) is served at the next poll. Deterministic: the
    /// files are replaced, with explicit times, from inside the read.
    #[test]
    fn a_rotation_during_the_first_read_is_picked_up() {
        let dir = std::env::temp_dir().join(format!("rampart-stamp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        if pem_pair(&dir, "old").is_none() {
            return;
        }
        pem_pair(&dir, "new").unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        install(&dir, "old", t0);
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let loaded = ReloadingCert::load_with(&cert, &key, |cert, key| {
            let pair = load_certified_key(cert, key);
            install(&dir, "new", t0 + Duration::from_secs(60));
            pair
        })
        .unwrap();
        let new = load_certs(&dir.join("new.pem"), "certificate").unwrap();
        assert_ne!(
            loaded.current.load().cert,
            new,
            "the first read saw the old pair"
        );
        assert!(
            loaded.refresh(),
            "the rotated pair was taken as already read"
        );
        assert_eq!(loaded.current.load().cert, new);
        // And nothing more to read after that.
        assert!(!loaded.refresh());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Each way a listener's TLS files can be unusable names the field it is
    /// about (`rampart check`, start and reload report it with its line).
    #[test]
    fn listener_tls_errors_name_their_field() {
        let dir = std::env::temp_dir().join(format!("rampart-tls-fields-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        if pem_pair(&dir, "a").is_none() {
            return;
        }
        pem_pair(&dir, "b").unwrap();
        std::fs::write(dir.join("text"), "not PEM\n").unwrap();
        // PEM armour around bytes that are no certificate.
        std::fs::write(
            dir.join("junk.pem"),
            "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let field = |cert: &str, key: &str, ca: Option<&str>| {
            let tls = ListenerTls {
                cert: dir.join(cert),
                key: dir.join(key),
                min_version: TlsMinVersion::Tls12,
                client_ca: ca.map(|ca| (dir.join(ca), ClientAuth::Required)),
                hsts: None,
            };
            TlsListener::load(&tls)
                .err()
                .map(|err| (err.field, err.reason))
        };
        assert!(field("a.pem", "a.key", Some("b.pem")).is_none());
        let (which, reason) = field("a.pem", "b.key", None).unwrap();
        assert_eq!(which, TlsField::Key);
        assert!(reason.contains("does not match"), "{reason}");
        assert_eq!(field("text", "a.key", None).unwrap().0, TlsField::Cert);
        assert_eq!(field("junk.pem", "a.key", None).unwrap().0, TlsField::Cert);
        assert_eq!(field("a.pem", "text", None).unwrap().0, TlsField::Key);
        assert_eq!(field("a.pem", "missing", None).unwrap().0, TlsField::Key);
        assert_eq!(
            field("a.pem", "a.key", Some("text")).unwrap().0,
            TlsField::ClientCa
        );
        assert_eq!(
            field("a.pem", "a.key", Some("junk.pem")).unwrap().0,
            TlsField::ClientCa
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
