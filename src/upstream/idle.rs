//! The upstream response body with an idle timeout: the longest silence allowed between two frames
//! once the response has started (`[upstream] idle_timeout_secs`), streams included.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

#[derive(Debug, thiserror::Error)]
pub enum UpstreamBodyError {
    #[error("Bedrock sent nothing for {seconds} s in the middle of a response")]
    Idle { seconds: u64 },
    #[error("the response from Bedrock broke off: {0}")]
    Broken(#[from] hyper::Error),
}

/// Wraps a body; a frame must arrive within `idle` of the previous one (or of the first poll).
///
/// The timer is armed only when the body has to wait: a response whose bytes are already in (most
/// non-streaming answers) never touches the timer wheel.
#[derive(Debug)]
pub struct IdleTimeout<B> {
    inner: B,
    idle: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// A frame arrived since the timer was last set: push its deadline out before waiting again.
    progressed: bool,
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            timer: None,
            progressed: false,
        }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    type Data = Bytes;
    type Error = UpstreamBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.progressed = true;
                return Poll::Ready(frame.map(|f| f.map_err(UpstreamBodyError::Broken)));
            }
            Poll::Pending => {}
        }
        let idle = this.idle;
        let timer = match &mut this.timer {
            Some(timer) => {
                if this.progressed {
                    timer.as_mut().reset(Instant::now() + idle);
                }
                timer
            }
            None => this.timer.insert(Box::pin(tokio::time::sleep(idle))),
        };
        this.progressed = false;
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(UpstreamBodyError::Idle {
                seconds: idle.as_secs(),
            }))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that yields its chunks with the given pauses before each (tokio's paused clock).
    struct Paced {
        steps: std::collections::VecDeque<(Duration, &'static str)>,
        wait: Option<Pin<Box<Sleep>>>,
    }

    impl Body for Paced {
        type Data = Bytes;
        type Error = hyper::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
            let Some(&(pause, chunk)) = self.steps.front() else {
                return Poll::Ready(None);
            };
            let wait = self
                .wait
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.wait = None;
            self.steps.pop_front();
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(chunk.as_bytes())))))
        }
    }

    fn paced(steps: &[(u64, &'static str)]) -> Paced {
        Paced {
            steps: steps
                .iter()
                .map(|&(secs, chunk)| (Duration::from_secs(secs), chunk))
                .collect(),
            wait: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_but_steady_streams_pass() {
        // Every gap is under the limit, the whole stream is far over it.
        let body = IdleTimeout::new(
            paced(&[(0, "a"), (9, "b"), (9, "c"), (9, "d")]),
            Duration::from_secs(10),
        );
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"abcd");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silence_longer_than_the_limit_ends_the_body_with_an_error() {
        let mut body = IdleTimeout::new(paced(&[(1, "a"), (11, "b")]), Duration::from_secs(10));
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "a");
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(
            matches!(err, UpstreamBodyError::Idle { seconds: 10 }),
            "{err}"
        );
    }
}
