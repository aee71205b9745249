//! Progress on a terminal (indicatif): files and bytes done, rate, and an
//! ETA when the source's size is known. Drawn only when asked for (the CLI
//! asks when stderr is a terminal and `--quiet` is not given).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress display, or nothing (clones share the display).
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    files: u64,
}

impl Progress {
    /// `total`: bytes of the source, when known.
    pub fn new(enabled: bool, total: Option<u64>) -> Self {
        let bar = enabled.then(|| {
            let bar = match total {
                Some(t) => {
                    let b = ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr());
                    b.set_style(
                        ProgressStyle::with_template(
                            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                        )
                        .expect("a valid template"),
                    );
                    b
                }
                None => {
                    let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    b.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {bytes} {binary_bytes_per_sec} {elapsed} {msg}",
                        )
                        .expect("a valid template"),
                    );
                    b
                }
            };
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, files: 0 }
    }

    /// `bytes` more of the source read.
    pub fn bytes(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    /// One more entry done.
    pub fn entry(&mut self) {
        self.files += 1;
        if let Some(b) = &self.bar
            && self.files.is_multiple_of(64)
        {
            b.set_message(format!("{} files", self.files));
        }
    }

    /// Clears the display (the summary line comes after it).
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
