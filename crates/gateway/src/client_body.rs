//! The client's request body as the gateway reads it: an idle bound between chunks
//! (`server.body_read_timeout`), and a record, shared with whoever judges a failure, of what
//! the client did (sent too much, broke off, stalled) and whether a reader is waiting on it
//! right now.
//!
//! The bound is an idle timer, not a total: it runs only while a reader waits for bytes the
//! client has not sent, and every chunk resets it. A slow upload that keeps moving is the
//! client's right (the whole request stays under `server.request_timeout`); a client that
//! stops sending is not. Time the gateway spends not reading (waiting for a rate-limit slot,
//! or for the provider to take the next chunk) is not counted against the client.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

/// What went wrong with the client's body, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFault {
    /// Larger than `server.max_body_bytes`.
    TooLarge,
    /// The client broke off mid-body.
    Broken,
    /// The client sent nothing for `server.body_read_timeout` while it was being read.
    Stalled,
}

impl BodyFault {
    fn code(self) -> u8 {
        match self {
            BodyFault::TooLarge => 1,
            BodyFault::Broken => 2,
            BodyFault::Stalled => 3,
        }
    }

    /// The fault behind a body read error.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> BodyFault {
        if crate::extract::is_length_limit(error) {
            BodyFault::TooLarge
        } else if is_stalled(error) {
            BodyFault::Stalled
        } else {
            BodyFault::Broken
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    waiting: AtomicBool,
    fault: AtomicU8,
}

/// One request's client body, as seen by its reader and by whoever judges a failure (the
/// request deadline, the pass-through). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ClientBody(Arc<Shared>);

impl ClientBody {
    /// Whether the last read of the body was left waiting for bytes the client had not sent
    /// (its reader is waiting, or gave up while waiting). False once the body is done.
    pub fn waiting(&self) -> bool {
        self.0.waiting.load(Ordering::Acquire)
    }

    fn set_waiting(&self, waiting: bool) {
        self.0.waiting.store(waiting, Ordering::Release);
    }

    /// Records the first fault; later ones are the same failure seen again.
    pub fn set(&self, fault: BodyFault) {
        let _ = self
            .0
            .fault
            .compare_exchange(0, fault.code(), Ordering::AcqRel, Ordering::Acquire);
    }

    pub fn fault(&self) -> Option<BodyFault> {
        match self.0.fault.load(Ordering::Acquire) {
            1 => Some(BodyFault::TooLarge),
            2 => Some(BodyFault::Broken),
            3 => Some(BodyFault::Stalled),
            _ => None,
        }
    }
}

/// The client sent no body bytes for `server.body_read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no body bytes for {0:?}")]
pub struct BodyStalled(Duration);

/// Whether a body read failed because the client stalled (anywhere in the cause chain).
pub fn is_stalled(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<BodyStalled>() {
            return true;
        }
        current = e.source();
    }
    false
}

pin_project! {
    /// A request body that fails with [`BodyStalled`] when its reader has waited `idle`
    /// for the next chunk.
    pub struct IdleBody<B> {
        #[pin]
        inner: B,
        // Made on the first wait, so a body that is already in hand costs no timer.
        #[pin]
        timer: Option<Sleep>,
        idle: Duration,
        armed: bool,
        client: ClientBody,
    }
}

impl<B> IdleBody<B> {
    pub fn new(inner: B, idle: Duration, client: ClientBody) -> IdleBody<B> {
        IdleBody {
            inner,
            timer: None,
            idle,
            armed: false,
            client,
        }
    }
}

impl<B> Body for IdleBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            if *this.armed {
                *this.armed = false;
                this.client.set_waiting(false);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if !*this.armed {
            *this.armed = true;
            this.client.set_waiting(true);
            let deadline = Instant::now() + *this.idle;
            match this.timer.as_mut().as_pin_mut() {
                Some(timer) => timer.reset(deadline),
                None => this.timer.set(Some(tokio::time::sleep_until(deadline))),
            }
        }
        if let Some(timer) = this.timer.as_pin_mut() {
            if timer.poll(cx).is_ready() {
                return Poll::Ready(Some(Err(BodyStalled(*this.idle).into())));
            }
        }
        Poll::Pending
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
    use http_body_util::{BodyExt, StreamBody};

    /// A body fed by the test: each `send` is one chunk, dropping the sender ends it.
    fn fed() -> (
        tokio::sync::mpsc::Sender<Bytes>,
        impl Body<Data = Bytes, Error = std::io::Error>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, std::io::Error>(Frame::data(b)), rx))
        });
        (tx, StreamBody::new(stream))
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_sending_fails_the_read_after_the_idle_bound() {
        let (tx, body) = fed();
        let client = ClientBody::default();
        let mut body = Box::pin(IdleBody::new(body, Duration::from_secs(10), client.clone()));
        tx.send(Bytes::from_static(b"{\"a\":")).await.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        assert!(!client.waiting());
        let started = Instant::now();
        let read = tokio::spawn(async move { body.frame().await });
        tokio::task::yield_now().await;
        assert!(client.waiting(), "the reader waits on the client");
        let error = read.await.unwrap().unwrap().unwrap_err();
        assert!(is_stalled(&*error));
        assert_eq!(BodyFault::of(&*error), BodyFault::Stalled);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn every_chunk_resets_the_bound_so_a_slow_moving_upload_goes_through() {
        let (tx, body) = fed();
        let body = IdleBody::new(body, Duration::from_secs(10), ClientBody::default());
        let feeder = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_secs(9)).await;
                tx.send(Bytes::from_static(b"xy")).await.unwrap();
            }
        });
        let started = Instant::now();
        let whole = body.collect().await.unwrap().to_bytes();
        assert_eq!(&whole[..], b"xyxyxyxyxy");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(45),
            "well past one bound"
        );
        feeder.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_reader_spends_elsewhere_is_not_the_clients() {
        let (tx, body) = fed();
        let client = ClientBody::default();
        let mut body = Box::pin(IdleBody::new(body, Duration::from_secs(10), client.clone()));
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        // The reader is busy for longer than the bound; the client sent meanwhile.
        tokio::time::sleep(Duration::from_secs(30)).await;
        tx.send(Bytes::from_static(b"b")).await.unwrap();
        drop(tx);
        assert!(!client.waiting());
        let rest = body.collect().await.unwrap().to_bytes();
        assert_eq!(&rest[..], b"b");
    }

    #[test]
    fn the_first_fault_is_kept() {
        let client = ClientBody::default();
        assert_eq!(client.fault(), None);
        client.set(BodyFault::Stalled);
        client.set(BodyFault::Broken);
        assert_eq!(client.fault(), Some(BodyFault::Stalled));
    }
}
