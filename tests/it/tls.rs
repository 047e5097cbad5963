//! `ssl_verify=false` lets the plugin talk to a self-hosted HaloITSM with a self-signed
//! certificate; with verification on, the same server is refused with a clear error.

use icon_haloitsm::protocol::PluginError;
use std::sync::Arc;

use icon_haloitsm::halo::{ConnectionConfig, HaloClient, HaloError};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};

/// A minimal HTTPS server with a self-signed certificate that answers the token endpoint and
/// the ticket list, one request per connection.
async fn self_signed_halo() -> std::net::SocketAddr {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then as much body as Content-Length says.
                let head_end = loop {
                    let Ok(n) = tls.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                let len =
                    head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
                while buf.len() < head_end + len {
                    let Ok(n) = tls.read(&mut chunk).await else { return };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = if head.starts_with("post /auth/token") {
                    r#"{"access_token":"tls-token","token_type":"Bearer","expires_in":3600}"#
                } else {
                    r#"{"record_count":0,"tickets":[]}"#
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

fn client(addr: std::net::SocketAddr, ssl_verify: bool) -> HaloClient {
    let cfg = ConnectionConfig::from_value(&json!({
        "client_id": "cid", "client_secret": {"secretKey": "s"},
        "authorization_server": format!("https://{addr}/auth"), "resource_server": format!("https://{addr}/api"),
        "ssl_verify": ssl_verify, "timeout_seconds": 5,
    }))
    .unwrap();
    HaloClient::new(cfg).unwrap()
}

#[tokio::test]
async fn ssl_verify_false_accepts_a_self_signed_certificate() {
    let addr = self_signed_halo().await;
    client(addr, false).test_connection().await.unwrap();
}

#[tokio::test]
async fn ssl_verify_true_refuses_a_self_signed_certificate_with_advice() {
    let addr = self_signed_halo().await;
    let err = client(addr, true).test_connection().await.unwrap_err();
    assert!(matches!(err, HaloError::Tls { .. }), "{err:?}");
    let text = err.to_string().to_lowercase();
    assert!(text.contains("certificate"), "{text}");
    assert!(PluginError::from(&err).assistance.contains("SSL Verify"));
}
