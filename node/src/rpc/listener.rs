//! The RPC server's own accept loop: jsonrpsee serves each connection, but only after the
//! connection is counted against `[rpc] max_connections` and `max_connections_per_ip` (which
//! needs the peer's address, which jsonrpsee's own loop does not hand on).
//!
//! ```text
//! accept ─► Limits::admit(ip) ─ refused ─► HTTP 429 + Retry-After + JSON-RPC error 5003, close
//!              │ Slot
//!              ▼
//!           Watched(socket: not read while the IP is in debt) ─► WithConn (Conn into every request; 429 for rate-limited calls)
//!              │                  └► jsonrpsee (HTTP, or upgrade to WebSocket) ─► Guard ─► handlers
//!              └─ watch_idle: no call and no subscription for idle_timeout ─► close
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use jsonrpsee::server::StopHandle;
use paychain_api::ErrorCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use super::limits::{Conn, Limits, RetryAfter, Slot};
use crate::metrics::{ConnRefusal, RpcMetrics};

/// Refused connections answered at once (each is read for at most [`REFUSAL_TIME`]); beyond
/// this, a refused connection is closed without an answer.
const MAX_REFUSING: usize = 64;
/// How long a refused connection may take to send its request and read the answer.
const REFUSAL_TIME: Duration = Duration::from_secs(2);
/// After an idle connection's reads are closed, how long it may take to flush what is being
/// sent (a WebSocket close frame) before its writes are cut too.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Accepts connections until `stop`; hands each admitted one to `serve` with its [`Conn`], and
/// watches it for idleness.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    stop: StopHandle,
    limits: Arc<Limits>,
    idle_timeout: Duration,
    metrics: RpcMetrics,
    mut serve: impl FnMut(Watched, Arc<Conn>) + Send + 'static,
) {
    let refusing = Arc::new(AtomicUsize::new(0));
    let stopped = stop.shutdown();
    tokio::pin!(stopped);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stopped => return,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, mostly: give the open connections a moment to close.
                warn!(target: "rpc", error = %e, "cannot accept an RPC connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let slot = match limits.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                metrics.connection_refused(why);
                debug!(target: "rpc", %peer, reason = why.label(), "RPC connection refused");
                if refusing.fetch_add(1, Ordering::AcqRel) < MAX_REFUSING {
                    let body = refusal_body(why, &limits, &peer.ip().to_string());
                    let refusing = refusing.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(REFUSAL_TIME, refuse(socket, body)).await;
                        refusing.fetch_sub(1, Ordering::AcqRel);
                    });
                } else {
                    refusing.fetch_sub(1, Ordering::AcqRel);
                }
                continue;
            }
        };
        let conn = Arc::new(Conn::new(peer));
        let io = Watched {
            inner: socket,
            conn: conn.clone(),
            slot,
            paused: None,
        };
        tokio::spawn(watch_idle(conn.clone(), idle_timeout, metrics.clone()));
        serve(io, conn);
    }
}

/// The JSON-RPC error (5003) a refused connection gets as its HTTP 429 body.
fn refusal_body(why: ConnRefusal, limits: &Limits, ip: &str) -> String {
    let (message, limit) = match why {
        ConnRefusal::PerIp => (
            format!(
                "too many connections from {ip}: at most {} at once (rpc.max_connections_per_ip); close one or retry later",
                limits.max_per_ip()
            ),
            limits.max_per_ip(),
        ),
        ConnRefusal::Total => (
            format!(
                "the node holds its {} connections (rpc.max_connections): retry later",
                limits.max_connections()
            ),
            limits.max_connections(),
        ),
    };
    let error = ErrorCode::TooManyConnections.err_with(
        message,
        serde_json::json!({ "limit": why.label(), "max": limit, "retry_after_ms": 1000 }),
    );
    serde_json::json!({ "jsonrpc": "2.0", "id": null, "error": error }).to_string()
}

/// Answers a refused connection: reads its request head (so that closing does not reset the
/// connection before the client reads the answer), sends 429 and closes.
async fn refuse(mut socket: TcpStream, body: String) -> io::Result<()> {
    let mut buf = [0u8; 2048];
    let mut tail = [0u8; 4];
    let mut read = 0usize;
    while read < 16 * 1024 {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        read += n;
        let window: Vec<u8> = tail.iter().chain(&buf[..n]).copied().collect();
        if window.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        let keep = window.len().min(4);
        tail = [0; 4];
        tail[4 - keep..].copy_from_slice(&window[window.len() - keep..]);
    }
    let head = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json; charset=utf-8\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body.as_bytes()).await?;
    socket.shutdown().await?;
    // Drain what else the client sends (a body) until it closes, within the caller's timeout.
    while socket.read(&mut buf).await? > 0 {}
    Ok(())
}

/// Closes the connection once it has made no call and held no subscription for `idle`.
async fn watch_idle(conn: Arc<Conn>, idle: Duration, metrics: RpcMetrics) {
    loop {
        let due = tokio::time::Instant::from_std(conn.last_activity() + idle);
        tokio::select! {
            _ = conn.closed_notify.notified() => return,
            _ = tokio::time::sleep_until(due) => {}
        }
        if conn.is_closed() {
            return;
        }
        if conn.subscriptions() > 0 {
            // Subscribed: busy receiving. Checked again an idle period later.
            tokio::select! {
                _ = conn.closed_notify.notified() => return,
                _ = tokio::time::sleep(idle) => {}
            }
            continue;
        }
        if conn.last_activity().elapsed() < idle {
            continue;
        }
        debug!(target: "rpc", peer = %conn.peer, websocket = conn.is_websocket(), "closing an idle RPC connection");
        metrics.idle_closed(conn.is_websocket());
        conn.close(false);
        if tokio::time::timeout(CLOSE_GRACE, conn.closed_notify.notified())
            .await
            .is_err()
        {
            conn.close(true);
        }
        return;
    }
}

/// The accepted socket: holds the connection's [`Slot`]; is not read while its IP is in debt
/// (it sent an oversized batch: see `Limits::charge`), so that what it sends next is not parsed
/// before then; and ends reads (then writes) when its [`Conn`] is closed by the idle watcher, so
/// that hyper or the WebSocket task closes it as if the client had.
pub(crate) struct Watched {
    inner: TcpStream,
    conn: Arc<Conn>,
    slot: Slot,
    paused: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.conn.set_closed();
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.conn.read_waker.register(cx.waker());
        if self.conn.reads_closed() {
            return Poll::Ready(Ok(()));
        }
        loop {
            if let Some(pause) = self.paused.as_mut() {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.paused = None;
            }
            match self.slot.debt() {
                Some(wait) => self.paused = Some(Box::pin(tokio::time::sleep(wait))),
                None => break,
            }
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.conn.write_waker.register(cx.waker());
        if self.conn.writes_cut() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.write_waker.register(cx.waker());
        if self.conn.writes_cut() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Puts the connection's [`Conn`] into every request's extensions (jsonrpsee hands them on to
/// each call, also over a WebSocket), counts requests as activity, and turns a rate-limited
/// answer into HTTP 429 with `Retry-After`.
#[derive(Clone)]
pub(crate) struct WithConn<S> {
    pub(crate) inner: S,
    pub(crate) conn: Arc<Conn>,
}

impl<S, B, R> tower::Service<http::Request<B>> for WithConn<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        self.conn.touch();
        if jsonrpsee::server::ws::is_upgrade_request(&req) {
            self.conn.set_websocket();
        }
        req.extensions_mut().insert(self.conn.clone());
        let conn = self.conn.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            conn.touch();
            if let Some(RetryAfter(wait)) = resp.extensions().get::<RetryAfter>().copied() {
                *resp.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                resp.headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
            }
            Ok(resp)
        })
    }
}
