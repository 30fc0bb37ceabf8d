//! The serving loop: accepts connections, serves HTTP/1.1 and HTTP/2 with hyper directly (axum::serve
//! has neither a header read timeout nor a bounded shutdown), and stops in three steps:
//!
//! 1. `shutdown` resolves: the listener is closed (new connections are refused) and every connection
//!    is told to finish gracefully: HTTP/1 connections close after their current response, HTTP/2 ones
//!    send GOAWAY; in-flight requests and streams run on.
//! 2. When the last connection has finished, or `shutdown_grace` has passed, whichever is first,
//! 3. any connection still open is closed (its streams are cut) and the loop returns.
//!
//! Per connection: a client must send a complete HTTP/1 request head within `header_read_timeout`
//! of the connection being ready for one (hyper's timer; it also runs while a keep-alive connection
//! waits for its next request), and a connection with no request in progress for `idle_timeout` is
//! closed. Whichever is shorter bounds an idle HTTP/1 keep-alive connection. An HTTP/2 connection
//! may have `max_concurrent_streams` streams open, and the request bodies of one connection share one
//! byte budget (`max_body_bytes_per_connection`), whatever the protocol. The admin listener is served
//! by the same loop, so it has the same timeouts.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::http::body::{BodyBudget, ConnectionBudget};
use crate::http::Proxy;
use crate::ops::ServeSettings;
use crate::workers::Workers;

/// What a connection serves: the proxy, or a router (the admin listener).
pub(crate) trait App: Clone + Send + Sync + 'static {
    fn call(&self, request: Request) -> impl Future<Output = Response> + Send + use<Self>;
}

impl App for Proxy {
    fn call(&self, request: Request) -> impl Future<Output = Response> + Send + use<> {
        Proxy::call(self.clone(), request)
    }
}

impl App for Router {
    fn call(&self, request: Request) -> impl Future<Output = Response> + Send + use<> {
        let response = self.clone().oneshot(request);
        async move {
            match response.await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Finish what is in progress, accept nothing new on the connection.
    Draining,
    /// The grace period is over: drop the connection now.
    Closing,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains within the grace period.
/// `on_drain` runs once accepting has stopped (readiness goes false there). Connections are served
/// on `workers`, one thread each; this loop only accepts.
pub(crate) async fn serve(
    listener: TcpListener,
    workers: Option<&Workers>,
    app: impl App,
    settings: ServeSettings,
    on_drain: impl FnOnce() + Send,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(settings.max_concurrent_streams);
    let builder = Arc::new(builder);

    let (phase_tx, phase_rx) = watch::channel(Phase::Serving);
    let open = Arc::new(watch::Sender::new(0usize));
    let mut open_rx = open.subscribe();

    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
        };
        // Small request/response exchanges and stream frames should leave at once.
        let _ = stream.set_nodelay(true);
        // The socket moves to the serving thread's own event loop.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(%remote, error = %err, "cannot hand the connection over");
                continue;
            }
        };
        let counted = OpenConnection::new(open.clone());
        let connection = serve_connection(
            builder.clone(),
            stream,
            remote,
            app.clone(),
            settings,
            phase_rx.clone(),
            counted,
        );
        match workers {
            Some(workers) => workers.spawn(connection),
            None => {
                tokio::spawn(connection);
            }
        }
    }

    drop(listener);
    on_drain();
    tracing::info!(
        open_connections = *open_rx.borrow(),
        grace_secs = settings.shutdown_grace.as_secs(),
        "stopped accepting connections; letting in-flight requests finish"
    );
    let _ = phase_tx.send(Phase::Draining);
    let drained = tokio::time::timeout(settings.shutdown_grace, open_rx.wait_for(|n| *n == 0))
        .await
        .is_ok();
    if drained {
        tracing::info!("all connections finished");
    } else {
        tracing::warn!(
            open_connections = *open_rx.borrow(),
            "shutdown grace period over; closing the remaining connections"
        );
        let _ = phase_tx.send(Phase::Closing);
        // Dropping a connection is immediate; this only waits for the tasks to run.
        let _ = tokio::time::timeout(Duration::from_secs(1), open_rx.wait_for(|n| *n == 0)).await;
    }
    Ok(())
}

/// Errors on one incoming connection are the client's business; running out of file descriptors is
/// not, and retrying at once would spin, so the loop pauses before accepting again.
async fn accept_failed(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::warn!(error = %err, "cannot accept connections; retrying shortly");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn serve_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: std::net::TcpStream,
    remote: SocketAddr,
    app: impl App,
    settings: ServeSettings,
    mut phase: watch::Receiver<Phase>,
    _counted: OpenConnection,
) {
    let stream = match TcpStream::from_std(stream) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::debug!(%remote, error = %err, "cannot serve the connection");
            return;
        }
    };
    let idle_timeout = settings.idle_timeout;
    let activity = Arc::new(Activity::new());
    let budget = ConnectionBudget(BodyBudget::new(
        settings.body_bytes_per_connection,
        "this connection",
    ));
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            // Handlers may ask for the peer address as with axum::serve.
            request.extensions_mut().insert(ConnectInfo(remote));
            request.extensions_mut().insert(budget.clone());
            let busy = Busy::begin(activity.clone());
            let response = app.call(request.map(Body::new));
            async move {
                let response = response.await;
                Ok::<_, std::convert::Infallible>(
                    response.map(|inner| Body::new(BusyBody { inner, _busy: busy })),
                )
            }
        })
    };
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);

    let mut closing = false;
    if *phase.borrow() != Phase::Serving {
        conn.as_mut().graceful_shutdown();
        closing = true;
    }
    loop {
        let idle_deadline = activity.idle_deadline(idle_timeout);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%remote, error = %err, "connection closed with an error");
                }
                return;
            }
            changed = phase.changed() => {
                let now = *phase.borrow();
                match (changed, now) {
                    // The serving loop is gone, or the grace period is over.
                    (Err(_), _) | (_, Phase::Closing) => return,
                    (Ok(()), Phase::Draining) if !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    _ => {}
                }
            }
            () = activity.changed() => {}
            () = tokio::time::sleep_until(idle_deadline.unwrap_or_else(Instant::now)), if idle_deadline.is_some() && !closing => {
                if activity.is_idle_for(idle_timeout) {
                    tracing::debug!(%remote, "closing idle connection");
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Counts one open connection while alive.
struct OpenConnection(Arc<watch::Sender<usize>>);

impl OpenConnection {
    fn new(open: Arc<watch::Sender<usize>>) -> Self {
        open.send_modify(|n| *n += 1);
        OpenConnection(open)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Whether a connection has a request in progress, and since when it has had none.
struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }

    fn idle_since(&self) -> Instant {
        *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// When the connection becomes idle-expired, if no request is in progress.
    fn idle_deadline(&self, idle_timeout: Duration) -> Option<Instant> {
        (self.in_flight.load(Ordering::SeqCst) == 0).then(|| self.idle_since() + idle_timeout)
    }

    fn is_idle_for(&self, idle_timeout: Duration) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0 && self.idle_since().elapsed() >= idle_timeout
    }

    /// Resolves after a request starts or finishes (a permit is stored if nobody waits yet).
    async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// One request in progress on a connection, until its response body is finished or dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn begin(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        activity.changed.notify_one();
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self
            .0
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_one();
    }
}

struct BusyBody {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
