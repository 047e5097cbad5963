//! The front door every listener of the plugin uses (the REST API, a trigger's webhook
//! listener): accepts connections, serves HTTP/1 and HTTP/2 on them, cuts off a client that is
//! slow to send its headers, answers in JSON even when hyper answers itself, and on shutdown
//! stops accepting and lets open connections finish.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::json_errors::JsonErrors;

/// Serve `app` on `listener` until `shutdown` resolves, then wait for the open connections to
/// finish (idle ones are closed at once). `header_read_timeout` bounds how long a request's
/// headers may take to arrive, an idle keep-alive connection's wait for its next request
/// included: a client that is slower is disconnected.
pub async fn serve(listener: TcpListener, app: Router, header_read_timeout: Duration, shutdown: impl Future<Output = ()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(app.clone().map_request(|req: hyper::Request<Incoming>| req.map(Body::new)));
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(JsonErrors::new(stream)), service).into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("A connection ended with an error: {e}");
                    }
                });
            }
            // Out of file descriptors and the like: wait a little rather than spin.
            Err(e) => {
                tracing::warn!("Could not accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}
