//! A fixed pool of threads that encrypt large reads in parallel.
//!
//! Large reads, which the kernel keeps several of in flight for one
//! sequential reader, are handed to this pool (one thread per CPU), so
//! their encryption uses every core however many threads take requests
//! from `/dev/fuse`; the request threads stay free for the small-file
//! round trips (open, short read, release) that dominate tar and rsync.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;

type Job = Box<dyn FnOnce() + Send>;

/// Worker threads fed through a channel.
pub struct Pool {
    jobs: Mutex<Sender<Job>>,
}

impl Pool {
    /// Starts `n` workers (at least one).
    pub fn new(n: usize) -> std::io::Result<Self> {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n.max(1) {
            let rx = rx.clone();
            thread::Builder::new()
                .name(format!("encmount-crypt-{i}"))
                .spawn(move || worker(&rx))?;
        }
        Ok(Self {
            jobs: Mutex::new(tx),
        })
    }

    /// Runs `job` on a worker (or here, if the workers are gone).
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Box::new(job));
        if let Err(back) = sent {
            (back.0)();
        }
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    // Signals are for the view's signal thread, which unmounts first.
    let _ = nix::sys::signal::SigSet::all().thread_block();
    loop {
        let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn jobs_run_on_workers() {
        let pool = Pool::new(2).unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = channel();
        for _ in 0..10 {
            let (d, tx) = (done.clone(), tx.clone());
            pool.run(move || {
                d.fetch_add(1, Ordering::SeqCst);
                tx.send(thread::current().name().map(str::to_string))
                    .unwrap();
            });
        }
        for _ in 0..10 {
            let name = rx.recv().unwrap().unwrap();
            assert!(name.starts_with("encmount-crypt-"));
        }
        assert_eq!(done.load(Ordering::SeqCst), 10);
    }
}
