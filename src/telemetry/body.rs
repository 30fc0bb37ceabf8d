//! The response body wrapper that watches a forwarded answer go by: it notes the first byte, feeds the
//! token meter, and emits the audit event when the body ends, fails, or is dropped (client gone). It
//! also carries whatever must live exactly as long as the response: the concurrency permit and the
//! open-stream gauge.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};

use super::audit::{Audit, Outcome};
use super::metrics::GaugeGuard;
use super::tokens::TokenMeter;

/// Held until the response is finished; dropping it releases whatever it stands for.
pub type Held = Box<dyn Send + Sync + 'static>;

pub struct ObservedBody {
    inner: Body,
    meter: TokenMeter,
    audit: Option<Audit>,
    status: u16,
    /// Bytes still expected when the upstream declared a `Content-Length`. A server stops polling a
    /// body once that many bytes are written, so reaching 0 is the end of the response.
    remaining: Option<u64>,
    _stream: Option<GaugeGuard>,
    _held: Held,
}

/// Wraps an upstream response so its completion is audited with its token usage.
/// `held` is one box for whatever must live as long as the body (a tuple when several things must).
pub fn observe(response: Response, audit: Audit, held: Held) -> Response {
    let (parts, inner) = response.into_parts();
    let meter = TokenMeter::for_response(audit.operation(), parts.status, &parts.headers);
    let streaming =
        audit.operation().is_some_and(|op| op.is_streaming()) && parts.status.is_success();
    let remaining = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = ObservedBody {
        inner,
        meter,
        audit: Some(audit),
        status: parts.status.as_u16(),
        remaining,
        _stream: streaming.then(GaugeGuard::open_stream),
        _held: held,
    };
    Response::from_parts(parts, Body::new(body))
}

impl ObservedBody {
    fn is_complete(&self) -> bool {
        self.remaining == Some(0) || self.inner.is_end_stream()
    }

    fn finish(&mut self, outcome: Outcome, error: Option<&str>) {
        if let Some(audit) = self.audit.take() {
            let tokens = self.meter.finish();
            audit.finish(outcome, self.status, tokens, error);
        }
    }
}

impl http_body::Body for ObservedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if let Some(audit) = this.audit.as_mut() {
                        audit.first_byte();
                    }
                    this.meter.observe(data);
                    if let Some(remaining) = this.remaining.as_mut() {
                        *remaining = remaining.saturating_sub(data.len() as u64);
                    }
                }
                // The server may stop polling once the body has ended, so finish now.
                if this.is_complete() {
                    this.finish(Outcome::Complete, None);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                this.finish(Outcome::UpstreamBroken, Some(&err.to_string()));
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => {
                this.finish(Outcome::Complete, None);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.is_complete()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        let outcome = if self.is_complete() {
            Outcome::Complete
        } else {
            Outcome::ClientGone
        };
        self.finish(outcome, None);
    }
}
