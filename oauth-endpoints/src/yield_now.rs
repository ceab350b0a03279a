//! [`yield_now`]: lets the executor run other tasks once, on any runtime (the core takes none).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that is pending once (having woken itself), then ready: awaiting it lets other
/// tasks run between two steps of a long loop, whatever the executor.
pub(crate) fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// See [`yield_now`].
pub(crate) struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
