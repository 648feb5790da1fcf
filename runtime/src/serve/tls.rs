//! HTTPS for the aggregated API, and the front proxy that calls it
//! (docs/serve.md, "Behind an APIService").
//!
//! The Kubernetes API server calls an aggregated server over TLS. It does
//! not forward the caller's token: it authenticates itself with its
//! front-proxy client certificate and names the caller in request headers
//! (`X-Remote-User`, `X-Remote-Group`, `X-Remote-Extra-*`). Those headers
//! are believed only on a connection whose client certificate chains to the
//! front-proxy CA and whose common name is an allowed one; on every other
//! connection they are removed before any handler sees them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};
use axum::serve::Listener;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes under way at once; more connections wait to be read.
const MAX_HANDSHAKES: usize = 256;

/// Why TLS could not be set up. Names files and reasons, never their
/// contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Who connected: the address, and whether the peer is the front proxy
/// (its client certificate verified and its name allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub remote: SocketAddr,
    pub front_proxy: bool,
}

/// A plain TCP peer: never the front proxy.
impl From<std::net::SocketAddr> for Peer {
    fn from(remote: std::net::SocketAddr) -> Peer {
        Peer {
            remote,
            front_proxy: false,
        }
    }
}

/// The serving certificate: files, or one made at start for `names`.
#[derive(Debug, Clone)]
pub enum Identity {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned { names: Vec<String> },
}

/// What the front proxy is: the CA its client certificate chains to, the
/// common names allowed (none: any the CA signed), and the headers that
/// carry the caller. Kubernetes publishes all of it in the ConfigMap
/// `kube-system/extension-apiserver-authentication`.
#[derive(Clone)]
pub struct FrontProxy {
    client_ca: Vec<CertificateDer<'static>>,
    allowed_names: Vec<String>,
    username_headers: Vec<HeaderName>,
    uid_headers: Vec<HeaderName>,
    group_headers: Vec<HeaderName>,
    /// Lowercase.
    extra_prefixes: Vec<String>,
}

impl std::fmt::Debug for FrontProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontProxy")
            .field("client_ca", &self.client_ca.len())
            .field("allowed_names", &self.allowed_names)
            .finish_non_exhaustive()
    }
}

/// The caller the front proxy names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteUser {
    pub name: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The ConfigMap the API server publishes its front-proxy settings in.
pub const AUTHENTICATION_CONFIG_MAP: (&str, &str) =
    ("kube-system", "extension-apiserver-authentication");

impl FrontProxy {
    /// A front proxy whose client certificates chain to the CA in
    /// `ca_pem`, with the headers Kubernetes uses by default.
    pub fn new(ca_pem: &[u8], allowed_names: Vec<String>) -> Result<FrontProxy, TlsError> {
        let client_ca = certificates(ca_pem, "the front-proxy CA")?;
        Ok(FrontProxy {
            client_ca,
            allowed_names,
            username_headers: headers(&["X-Remote-User"])?,
            uid_headers: headers(&["X-Remote-Uid"])?,
            group_headers: headers(&["X-Remote-Group"])?,
            extra_prefixes: vec!["x-remote-extra-".into()],
        })
    }

    /// The front proxy the API server describes in the `data` of
    /// `kube-system/extension-apiserver-authentication`.
    pub fn from_config_map(data: &BTreeMap<String, String>) -> Result<FrontProxy, TlsError> {
        let Some(ca) = data.get("requestheader-client-ca-file") else {
            return Err(TlsError::Invalid(format!(
                "{}/{} has no requestheader-client-ca-file: the API server runs without \
                 --requestheader-client-ca-file, so it cannot call an aggregated API",
                AUTHENTICATION_CONFIG_MAP.0, AUTHENTICATION_CONFIG_MAP.1
            )));
        };
        // Each list key, when there: a JSON list of strings.
        let list = |key: &str| -> Result<Option<Vec<String>>, TlsError> {
            data.get(key)
                .map(|text| {
                    serde_json::from_str::<Vec<String>>(text).map_err(|e| {
                        TlsError::Invalid(format!(
                            "{}/{}: {key} is not a JSON list of strings: {e}",
                            AUTHENTICATION_CONFIG_MAP.0, AUTHENTICATION_CONFIG_MAP.1
                        ))
                    })
                })
                .transpose()
        };
        // Without a key, Kubernetes' default (`FrontProxy::new`).
        let mut proxy = FrontProxy::new(
            ca.as_bytes(),
            list("requestheader-allowed-names")?.unwrap_or_default(),
        )?;
        if let Some(v) = list("requestheader-username-headers")? {
            proxy.username_headers = headers(&v)?;
        }
        if let Some(v) = list("requestheader-uid-headers")? {
            proxy.uid_headers = headers(&v)?;
        }
        if let Some(v) = list("requestheader-group-headers")? {
            proxy.group_headers = headers(&v)?;
        }
        if let Some(v) = list("requestheader-extra-headers-prefix")? {
            proxy.extra_prefixes = v
                .into_iter()
                .map(|p| p.to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect();
        }
        if proxy.username_headers.is_empty() {
            return Err(TlsError::Invalid(
                "the front proxy names no username header".into(),
            ));
        }
        Ok(proxy)
    }

    /// Whether a verified client certificate chain is the front proxy's:
    /// its common name is allowed (any, when none are listed).
    fn admits(&self, chain: Option<&[CertificateDer<'_>]>) -> bool {
        let Some(leaf) = chain.and_then(|c| c.first()) else {
            return false;
        };
        if self.allowed_names.is_empty() {
            return true;
        }
        common_name(leaf).is_some_and(|cn| self.allowed_names.contains(&cn))
    }

    /// Removes every header the front proxy names callers with, so a
    /// caller that is not the proxy cannot claim to be someone.
    pub fn strip(&self, headers: &mut HeaderMap) {
        for name in self
            .username_headers
            .iter()
            .chain(&self.uid_headers)
            .chain(&self.group_headers)
        {
            headers.remove(name);
        }
        let extra: Vec<HeaderName> = headers
            .keys()
            .filter(|k| self.is_extra(k.as_str()).is_some())
            .cloned()
            .collect();
        for name in extra {
            headers.remove(name);
        }
    }

    /// The key of an extra header (`x-remote-extra-scopes` → `scopes`).
    fn is_extra<'a>(&self, header: &'a str) -> Option<&'a str> {
        self.extra_prefixes
            .iter()
            .find_map(|p| header.strip_prefix(p.as_str()))
            .filter(|k| !k.is_empty())
    }

    /// The caller named in `headers` (already believed: stripped unless
    /// the connection is the front proxy's). `None` without a username.
    pub fn user(&self, headers: &HeaderMap) -> Option<RemoteUser> {
        let first = |names: &[HeaderName]| {
            names.iter().find_map(|n| {
                headers
                    .get(n)
                    .and_then(|v| text(v))
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            })
        };
        let name = first(&self.username_headers)?;
        let groups = self
            .group_headers
            .iter()
            .flat_map(|n| headers.get_all(n))
            .filter_map(text)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in headers {
            if let (Some(key), Some(value)) = (self.is_extra(k.as_str()), text(v)) {
                extra
                    .entry(unescape(key))
                    .or_default()
                    .push(value.to_string());
            }
        }
        Some(RemoteUser {
            name,
            uid: first(&self.uid_headers),
            groups,
            extra,
        })
    }
}

/// A header's value as text: UTF-8 (a user or group name need not be
/// ASCII), else nothing.
fn text(v: &axum::http::HeaderValue) -> Option<&str> {
    std::str::from_utf8(v.as_bytes()).ok()
}

/// An extra key as Kubernetes sends it: percent-encoded.
fn unescape(key: &str) -> String {
    form_urlencoded::parse(format!("k={key}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| key.to_string())
}

fn headers<S: AsRef<str>>(names: &[S]) -> Result<Vec<HeaderName>, TlsError> {
    names
        .iter()
        .map(|n| {
            let n = n.as_ref();
            HeaderName::try_from(n)
                .map_err(|_| TlsError::Invalid(format!("`{n}` is not a header name")))
        })
        .collect()
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid(format!("{what} is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Invalid(format!("{what} holds no certificate")));
    }
    Ok(certs)
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reads a PEM file of the front-proxy CA.
pub fn read_client_ca(path: &Path) -> Result<Vec<u8>, TlsError> {
    read(path, "the front-proxy CA file")
}

/// The serving certificate. Files are read again by [`ServingCert::reload`]
/// (cert-manager renews a Secret in place), and a pair that reads and
/// matches replaces the old one for new connections; a broken pair is
/// refused and the old one kept.
pub struct ServingCert {
    identity: Identity,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: std::sync::RwLock<Arc<CertifiedKey>>,
    /// The bytes of the files last read.
    read: std::sync::Mutex<Vec<u8>>,
}

impl std::fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl ServingCert {
    pub fn load(identity: Identity) -> Result<Arc<ServingCert>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (bytes, key) = certified(&identity, &provider)?;
        Ok(Arc::new(ServingCert {
            identity,
            provider,
            current: std::sync::RwLock::new(Arc::new(key)),
            read: std::sync::Mutex::new(bytes),
        }))
    }

    /// The certificate made at start, as PEM, when it is self-signed: what
    /// a client trusts to reach this server (`--tls-write-cert`).
    pub fn self_signed_pem(&self) -> Option<String> {
        let Identity::SelfSigned { .. } = &self.identity else {
            return None;
        };
        let read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8(read.clone()).ok()
    }

    /// Reads the files again: `Ok(true)` when they changed and the new pair
    /// is in use, `Ok(false)` when they did not change (or the certificate
    /// is self-signed), `Err` (the old pair kept) when the new one is
    /// broken.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let Identity::Files { .. } = &self.identity else {
            return Ok(false);
        };
        let (bytes, key) = certified(&self.identity, &self.provider)?;
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        if *read == bytes {
            return Ok(false);
        }
        *read = bytes;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        Ok(true)
    }
}

impl rustls::server::ResolvesServerCert for ServingCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// The certificate and key of `identity`, checked to match, and the bytes
/// they were read from.
fn certified(
    identity: &Identity,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<(Vec<u8>, CertifiedKey), TlsError> {
    let (bytes, chain, key) = match identity {
        Identity::Files { cert, key } => {
            let cert_pem = read(cert, "the TLS certificate")?;
            let key_pem = read(key, "the TLS key")?;
            let chain = certificates(&cert_pem, "the TLS certificate")?;
            let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                TlsError::Invalid(format!("the TLS key {} is not PEM: {e}", key.display()))
            })?;
            ([cert_pem, key_pem].concat(), chain, key_der)
        }
        Identity::SelfSigned { names } => {
            let (chain, key, pem) = self_signed(names)?;
            (pem.into_bytes(), chain, key)
        }
    };
    let key = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| TlsError::Invalid(format!("the TLS certificate and key: {e}")))?;
    Ok((bytes, key))
}

/// The TLS settings of the HTTPS listener: the serving certificate, and
/// client certificates asked for (never required: forges and agents
/// connect without one) when there is a front proxy.
pub fn server_config(
    cert: Arc<ServingCert>,
    front_proxy: Option<&FrontProxy>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = cert.provider.clone();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?;
    let builder = match front_proxy {
        None => builder.with_no_client_auth(),
        Some(proxy) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in &proxy.client_ca {
                roots.add(ca.clone()).map_err(|e| {
                    TlsError::Invalid(format!("the front-proxy CA is not usable: {e}"))
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Invalid(format!("the front-proxy CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate made now for `names`, signed by its own key.
#[allow(clippy::type_complexity)]
fn self_signed(
    names: &[String],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String), TlsError> {
    let failed = |e: rcgen::Error| TlsError::Invalid(format!("cannot make a certificate: {e}"));
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(failed)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kradle");
    let cert = params.self_signed(&key).map_err(failed)?;
    let key = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| TlsError::Invalid(format!("cannot make a certificate: {e}")))?;
    Ok((vec![cert.der().clone()], key, cert.pem()))
}

/// Accepts TLS connections. Handshakes run side by side, each with a
/// deadline, so a slow client does not hold up the others.
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, Peer)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl TlsListener {
    pub fn new(
        tcp: TcpListener,
        config: Arc<ServerConfig>,
        front_proxy: Option<Arc<FrontProxy>>,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(permit) = handshakes.clone().acquire_owned().await else {
                    return;
                };
                let (stream, remote) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors, most often: let some close.
                        tracing::warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx, proxy) = (acceptor.clone(), tx.clone(), front_proxy.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let front_proxy = proxy
                                .is_some_and(|p| p.admits(tls.get_ref().1.peer_certificates()));
                            let _ = tx
                                .send((
                                    tls,
                                    Peer {
                                        remote,
                                        front_proxy,
                                    },
                                ))
                                .await;
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%remote, %error, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            ready,
            local,
            accepting,
        })
    }

    /// The address listened on.
    pub fn addr(&self) -> SocketAddr {
        self.local
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Peer) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task only ends with the listener.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        Ok(Peer {
            remote: self.local,
            front_proxy: false,
        })
    }
}

/// The subject common name of a DER certificate (the last, as Go's
/// `crypto/x509` reads it); `None` when there is none or the DER is not a
/// certificate.
pub fn common_name(cert: &[u8]) -> Option<String> {
    /// OID 2.5.4.3, DER-encoded.
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let (_, certificate, _) = tlv(cert).filter(|(t, _, _)| *t == 0x30)?;
    let (_, tbs, _) = tlv(certificate).filter(|(t, _, _)| *t == 0x30)?;
    let mut rest = tbs;
    // version [0] is optional; then serial, signature, issuer, validity.
    let mut fields = Vec::new();
    while let Some((tag, content, next)) = tlv(rest) {
        fields.push((tag, content));
        rest = next;
    }
    let skip = usize::from(fields.first()?.0 == 0xA0);
    let (tag, subject) = *fields.get(skip + 4)?;
    if tag != 0x30 {
        return None;
    }
    let mut found = None;
    let mut rdns = subject;
    while let Some((0x31, set, next)) = tlv(rdns) {
        let mut attributes = set;
        while let Some((0x30, attribute, after)) = tlv(attributes) {
            let text = tlv(attribute)
                .filter(|(tag, oid, _)| *tag == 0x06 && *oid == CN)
                .and_then(|(_, _, value)| tlv(value))
                // UTF8String, PrintableString, IA5String, TeletexString.
                .filter(|(tag, _, _)| matches!(tag, 0x0C | 0x13 | 0x16 | 0x14));
            if let Some((_, text, _)) = text {
                found = std::str::from_utf8(text).ok().map(str::to_string);
            }
            attributes = after;
        }
        rdns = next;
    }
    found
}

/// One DER element: (tag, content, what follows). Definite lengths only.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(cn: Option<&str>) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "system:masters");
        if let Some(cn) = cn {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_common_name_is_read_from_the_subject() {
        assert_eq!(
            common_name(&cert(Some("front-proxy-client"))).as_deref(),
            Some("front-proxy-client")
        );
        assert_eq!(common_name(&cert(None)), None);
        let good = cert(Some("x"));
        for cut in [0, 1, 2, 10, good.len() / 2, good.len() - 1] {
            // Truncated DER: no name, no panic.
            let _ = common_name(&good[..cut]);
        }
        assert_eq!(common_name(b"\x30\x84\xff\xff\xff\xff"), None);
    }

    #[test]
    fn the_config_map_sets_the_headers_and_names() {
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .pem();
        let data: BTreeMap<String, String> = [
            ("requestheader-client-ca-file", ca.as_str()),
            ("requestheader-allowed-names", r#"["front-proxy-client"]"#),
            ("requestheader-username-headers", r#"["X-Remote-User"]"#),
            ("requestheader-group-headers", r#"["X-Remote-Group"]"#),
            (
                "requestheader-extra-headers-prefix",
                r#"["X-Remote-Extra-"]"#,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let proxy = FrontProxy::from_config_map(&data).unwrap();
        assert_eq!(proxy.allowed_names, ["front-proxy-client"]);
        let mut headers = HeaderMap::new();
        headers.insert("x-remote-user", "alice".parse().unwrap());
        headers.append("x-remote-group", "devs".parse().unwrap());
        headers.append("x-remote-group", "system:authenticated".parse().unwrap());
        headers.append("x-remote-extra-acme.com%2Fproject", "p1".parse().unwrap());
        headers.append("x-remote-extra-scopes", "a".parse().unwrap());
        headers.append("x-remote-extra-scopes", "b".parse().unwrap());
        let user = proxy.user(&headers).unwrap();
        assert_eq!(user.name, "alice");
        assert_eq!(user.groups, ["devs", "system:authenticated"]);
        assert_eq!(user.extra["acme.com/project"], ["p1"]);
        assert_eq!(user.extra["scopes"], ["a", "b"]);
        proxy.strip(&mut headers);
        assert!(headers.is_empty(), "{headers:?}");

        let mut broken = data.clone();
        broken.insert("requestheader-allowed-names".into(), "front-proxy".into());
        let error = FrontProxy::from_config_map(&broken)
            .unwrap_err()
            .to_string();
        assert!(error.contains("requestheader-allowed-names"), "{error}");
        broken.remove("requestheader-client-ca-file");
        let error = FrontProxy::from_config_map(&broken)
            .unwrap_err()
            .to_string();
        assert!(error.contains("requestheader-client-ca-file"), "{error}");
    }
}
