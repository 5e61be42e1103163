//! A Graph response body that keeps its mailbox slot until it is fully read or dropped.
//!
//! A streamed attachment is still "in flight" at Graph while its bytes arrive, so the
//! per-mailbox permit travels inside the body. A body that stalls longer than the timeout
//! ends with an error, so a stuck upstream cannot hold a mailbox slot forever.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures::{Stream, StreamExt, stream::BoxStream};
use tokio::{sync::OwnedSemaphorePermit, time::Sleep};

use super::GraphError;

/// The body of a Graph response: a stream of chunks holding the mailbox permit.
pub struct GraphBody {
    inner: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
    permit: Option<OwnedSemaphorePermit>,
    idle_timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    /// True while a chunk has been asked for and not yet delivered; the idle clock only runs
    /// then, so a slow reader downstream never counts against Graph.
    waiting: bool,
}

impl GraphBody {
    pub(crate) fn new(response: reqwest::Response, permit: OwnedSemaphorePermit, idle_timeout: Duration) -> GraphBody {
        GraphBody {
            inner: Some(response.bytes_stream().boxed()),
            permit: Some(permit),
            idle_timeout,
            deadline: Box::pin(tokio::time::sleep(idle_timeout)),
            waiting: false,
        }
    }

    /// True while the body still holds its mailbox slot.
    pub fn holds_permit(&self) -> bool {
        self.permit.is_some()
    }

    /// Ends the stream and frees the mailbox slot.
    fn finish(&mut self) {
        self.inner = None;
        self.permit = None;
    }
}

impl Stream for GraphBody {
    type Item = Result<Bytes, GraphError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if !this.waiting {
            let deadline = tokio::time::Instant::now() + this.idle_timeout;
            this.deadline.as_mut().reset(deadline);
            this.waiting = true;
        }
        match inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.waiting = false;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish();
                Poll::Ready(Some(Err(GraphError::Transport(e))))
            }
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.finish();
                    Poll::Ready(Some(Err(GraphError::BodyTimeout(this.idle_timeout))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl std::fmt::Debug for GraphBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphBody")
            .field("finished", &self.inner.is_none())
            .field("holds_permit", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}
