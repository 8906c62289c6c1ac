//! Fixed-capacity queues from the capture threads to the inference thread.
//!
//! Built on `heapless::spsc::Queue`: the storage is allocated once when the queue is made and
//! never again, so pushing from an audio callback allocates nothing. A full queue drops its
//! *oldest* item (live data is worth more than stale data) and counts the drop.
//!
//! Dropping the oldest item means the producer must dequeue, which an SPSC producer cannot do.
//! The consumer end therefore sits behind a mutex that the producer only ever `try_lock`s: when
//! the lock is free it pops the head; when the consumer holds it, the consumer is popping at that
//! very moment, so the producer drops the new item instead of waiting. Either way the producer
//! never blocks and exactly one item is counted as dropped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use heapless::spsc::{Consumer, Producer, Queue};

/// Counters shared by both ends of a queue.
#[derive(Debug, Default)]
pub struct QueueStats {
    pushed: AtomicU64,
    popped: AtomicU64,
    dropped: AtomicU64,
}

impl QueueStats {
    /// Items accepted by `push` (including ones later dropped to make room).
    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }
    /// Items handed to the consumer.
    pub fn popped(&self) -> u64 {
        self.popped.load(Ordering::Relaxed)
    }
    /// Items lost to overflow.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    /// Counts a drop that happened before the queue (e.g. a callback that found the sender busy).
    pub fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// What `push` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued with room to spare.
    Queued,
    /// The queue was full: the oldest item was dropped and the new one queued.
    DroppedOldest,
    /// The queue was full and the consumer was popping: the new item was dropped.
    DroppedNewest,
}

type SharedConsumer<T> = Arc<Mutex<Consumer<'static, T>>>;

/// The producing end. Not `Clone`: one producer per queue.
pub struct Sender<T: 'static> {
    producer: Producer<'static, T>,
    consumer: SharedConsumer<T>,
    stats: Arc<QueueStats>,
}

/// The consuming end.
pub struct Receiver<T: 'static> {
    consumer: SharedConsumer<T>,
    stats: Arc<QueueStats>,
    capacity: usize,
}

/// A queue holding at most `N - 1` items (heapless keeps one slot free).
///
/// The storage is leaked on purpose: the two ends need it for `'static` (cpal's callback must be
/// `'static`), and a daemon makes its queues once, at start-up, for the life of the process.
pub fn channel<T: Send + 'static, const N: usize>() -> (Sender<T>, Receiver<T>) {
    let queue: &'static mut Queue<T, N> = Box::leak(Box::new(Queue::new()));
    let capacity = queue.capacity();
    let (producer, consumer) = queue.split();
    let consumer = Arc::new(Mutex::new(consumer));
    let stats = Arc::new(QueueStats::default());
    (
        Sender {
            producer,
            consumer: consumer.clone(),
            stats: stats.clone(),
        },
        Receiver {
            consumer,
            stats,
            capacity,
        },
    )
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves the queue itself consistent (heapless
    // updates its indices atomically), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T: Send + 'static> Sender<T> {
    /// Queues `item`, dropping the oldest item if the queue is full. Never blocks or allocates.
    pub fn push(&mut self, item: T) -> Pushed {
        self.stats.pushed.fetch_add(1, Ordering::Relaxed);
        let item = match self.producer.enqueue(item) {
            Ok(()) => return Pushed::Queued,
            Err(item) => item,
        };
        let made_room = match self.consumer.try_lock() {
            Ok(mut consumer) => consumer.dequeue().is_some(),
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner().dequeue().is_some(),
            Err(std::sync::TryLockError::WouldBlock) => false,
        };
        if made_room {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            // We are the only producer and just freed a slot, so this cannot fail; if it ever
            // did, count the new item as lost too.
            if self.producer.enqueue(item).is_err() {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Pushed::DroppedOldest
        } else {
            // The consumer is popping right now, so the queue is not stale: retry once, then
            // drop the new item rather than wait for the lock.
            match self.producer.enqueue(item) {
                Ok(()) => Pushed::Queued,
                Err(_) => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    Pushed::DroppedNewest
                }
            }
        }
    }

    /// Queues `item`, waiting (in 1 ms naps) while the queue is full: for replays that must not
    /// lose data. Gives up, dropping the item, when `stop` is set; returns whether it was queued.
    pub fn push_wait(&mut self, mut item: T, stop: &AtomicBool) -> bool {
        loop {
            match self.producer.enqueue(item) {
                Ok(()) => {
                    self.stats.pushed.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(back) => item = back,
            }
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// [`Sender::push_wait`] when `wait` gives the stop flag (replays), else [`Sender::push`]
    /// (live capture).
    pub fn send(&mut self, item: T, wait: Option<&AtomicBool>) {
        match wait {
            Some(stop) => {
                self.push_wait(item, stop);
            }
            None => {
                self.push(item);
            }
        }
    }

    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }
}

impl<T: Send + 'static> Receiver<T> {
    /// The oldest queued item, if any.
    pub fn pop(&self) -> Option<T> {
        let item = lock(&self.consumer).dequeue();
        if item.is_some() {
            self.stats.popped.fetch_add(1, Ordering::Relaxed);
        }
        item
    }

    /// Items waiting now.
    pub fn len(&self) -> usize {
        lock(&self.consumer).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most items the queue holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_drops_the_oldest_and_counts_it() {
        let (mut tx, rx) = channel::<u32, 5>();
        assert_eq!(rx.capacity(), 4);
        for i in 0..4 {
            assert_eq!(tx.push(i), Pushed::Queued);
        }
        // Full: each further push evicts the head.
        assert_eq!(tx.push(4), Pushed::DroppedOldest);
        assert_eq!(tx.push(5), Pushed::DroppedOldest);
        assert_eq!(tx.push(6), Pushed::DroppedOldest);
        let got: Vec<u32> = std::iter::from_fn(|| rx.pop()).collect();
        assert_eq!(got, vec![3, 4, 5, 6], "the newest items survive, in order");
        assert_eq!(tx.stats().dropped(), 3);
        assert_eq!(rx.stats().pushed(), 7);
        assert_eq!(rx.stats().popped(), 4);
        assert_eq!(
            rx.stats().pushed(),
            rx.stats().popped() + rx.stats().dropped()
        );
    }

    #[test]
    fn concurrent_producer_and_consumer_lose_nothing_but_the_counted() {
        let (mut tx, rx) = channel::<u64, 64>();
        const N: u64 = 200_000;
        // The producer records what each push did: whether the consumer was preempted while
        // popping (a `DroppedNewest`) depends on the scheduler, so the checks below follow
        // from the outcomes rather than assume one.
        let producer = std::thread::spawn(move || {
            let outcomes: Vec<Pushed> = (0..N).map(|i| tx.push(i)).collect();
            (tx, outcomes)
        });
        let mut got = Vec::new();
        loop {
            match rx.pop() {
                Some(v) => got.push(v),
                // Finished: everything it pushed is queued or counted, so one drain is all.
                None if producer.is_finished() => {
                    while let Some(v) = rx.pop() {
                        got.push(v);
                    }
                    break;
                }
                None => std::thread::yield_now(),
            }
        }
        let (tx, outcomes) = producer.join().expect("producer thread");
        // Strictly increasing: drops never reorder or duplicate.
        assert!(got.windows(2).all(|w| w[0] < w[1]));
        // Every loss is counted, once.
        assert_eq!(got.len() as u64 + tx.stats().dropped(), N);
        let dropped_newest: Vec<u64> = (0..N)
            .filter(|&i| outcomes[i as usize] == Pushed::DroppedNewest)
            .collect();
        let dropped_oldest = outcomes
            .iter()
            .filter(|&&o| o == Pushed::DroppedOldest)
            .count() as u64;
        assert_eq!(
            dropped_newest.len() as u64 + dropped_oldest,
            tx.stats().dropped(),
            "each drop is reported by the push that made it"
        );
        // An item reported dropped never arrives.
        assert!(dropped_newest.iter().all(|i| got.binary_search(i).is_err()));
        // The newest item the queue accepted always survives (only a later push could evict
        // it): N - 1 unless its push met the consumer popping.
        let newest_accepted = (0..N)
            .rev()
            .find(|&i| outcomes[i as usize] != Pushed::DroppedNewest);
        assert_eq!(got.last().copied(), newest_accepted);
    }

    #[test]
    fn a_full_queue_whose_consumer_is_popping_drops_the_new_item() {
        let (mut tx, rx) = channel::<u32, 3>();
        assert_eq!(tx.push(1), Pushed::Queued);
        assert_eq!(tx.push(2), Pushed::Queued);
        {
            // The consumer holds its end (it is popping): the producer does not wait.
            let _popping = lock(&rx.consumer);
            assert_eq!(tx.push(3), Pushed::DroppedNewest);
        }
        assert_eq!(tx.stats().dropped(), 1);
        // Free again: the newest item survives, the oldest goes.
        assert_eq!(tx.push(4), Pushed::DroppedOldest);
        assert_eq!(rx.pop(), Some(2));
        assert_eq!(rx.pop(), Some(4));
        assert_eq!(rx.pop(), None);
        assert_eq!(tx.stats().dropped(), 2);
    }

    #[test]
    fn push_wait_keeps_everything_and_gives_up_on_stop() {
        let (mut tx, rx) = channel::<u32, 3>();
        let stop = AtomicBool::new(false);
        assert!(tx.push_wait(1, &stop));
        assert!(tx.push_wait(2, &stop));
        stop.store(true, Ordering::Relaxed);
        assert!(!tx.push_wait(3, &stop), "full and stopping: gives up");
        assert_eq!(rx.pop(), Some(1));
        assert_eq!(rx.pop(), Some(2));
        assert_eq!(rx.pop(), None);
        assert_eq!(tx.stats().dropped(), 0);
    }
}
