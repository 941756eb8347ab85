//! Injected latency that ends when it should. tokio's timer rounds a sleep
//! up to the next millisecond and the runtime's poll timeout adds up to
//! another one, so a 20 ms sleep lasts about 21.5 ms; a client measured
//! against "20 ms per request" would then look 7% slower than it is. This
//! thread wakes each waiting request at its deadline with the operating
//! system's timer resolution (tens of microseconds) instead.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc;
use std::time::Instant;

use tokio::sync::oneshot;

struct Waiter {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A handle on the timer thread; the thread ends when the last handle goes.
pub(crate) struct PreciseDelay {
    tx: std::sync::Mutex<mpsc::Sender<(Instant, oneshot::Sender<()>)>>,
}

impl PreciseDelay {
    pub fn start() -> PreciseDelay {
        let (tx, rx) = mpsc::channel::<(Instant, oneshot::Sender<()>)>();
        std::thread::Builder::new()
            .name("fake-portal-latency".into())
            .spawn(move || run(&rx))
            .map(drop)
            // Without the thread `until` falls back to tokio's timer.
            .unwrap_or_default();
        PreciseDelay {
            tx: std::sync::Mutex::new(tx),
        }
    }

    /// Resolves at `at`.
    pub async fn until(&self, at: Instant) {
        if at <= Instant::now() {
            return;
        }
        let (wake, woken) = oneshot::channel();
        let sent = self
            .tx
            .lock()
            .map(|tx| tx.send((at, wake)).is_ok())
            .unwrap_or(false);
        if !sent || woken.await.is_err() {
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

fn run(rx: &mpsc::Receiver<(Instant, oneshot::Sender<()>)>) {
    let mut heap: BinaryHeap<Reverse<Waiter>> = BinaryHeap::new();
    let mut seq = 0u64;
    loop {
        let now = Instant::now();
        while heap.peek().is_some_and(|Reverse(w)| w.at <= now) {
            if let Some(Reverse(w)) = heap.pop() {
                // The request may have gone away (client hung up): fine.
                let _ = w.wake.send(());
            }
        }
        let next = match heap.peek() {
            Some(Reverse(w)) => rx.recv_timeout(w.at.saturating_duration_since(now)),
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match next {
            Ok((at, wake)) => {
                seq += 1;
                heap.push(Reverse(Waiter { at, seq, wake }));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_in_deadline_order_close_to_the_deadline() {
        let delay = std::sync::Arc::new(PreciseDelay::start());
        let start = Instant::now();
        let mut tasks = Vec::new();
        for ms in [30u64, 10, 20] {
            let d = delay.clone();
            tasks.push(tokio::spawn(async move {
                let at = start + Duration::from_millis(ms);
                d.until(at).await;
                (ms, Instant::now().duration_since(at))
            }));
        }
        for t in tasks {
            let (ms, late) = t.await.unwrap();
            // Never early; on an idle machine well under a millisecond late.
            assert!(late < Duration::from_millis(50), "{ms} ms: {late:?} late");
        }
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
