//! The threads of a plan. The calling thread walks the step list; for a step worth splitting
//! it publishes the step and claims chunks of its items from a shared counter, and helper
//! threads claim chunks too. The caller waits only for chunks a helper has claimed and not yet
//! finished, never for a helper to show up: on a loaded machine a helper that is not running
//! costs nothing (the caller does its share), where a barrier would stall every step on it. A
//! model of a few hundred small steps (seresnet110 at batch 1) cannot afford a task-pool round
//! trip per step either. Helpers poll between steps (spinning briefly, then yielding the core
//! between polls) and sleep between runs.

use crate::{Ptrs, RunStep};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a step offers the team.
pub(crate) trait Exec {
    fn call(&self, p: &Ptrs, lo: usize, hi: usize);
    fn items(&self) -> usize;
    fn parallel(&self) -> bool;
    fn reference(&self) -> Option<usize>;
    fn label(&self) -> &'static str;
    /// Nanoseconds spent in the step's calls inside per-image runs (profiling).
    fn spent(&self) -> &AtomicU64;
}

/// The published work: valid while its generation is current and chunks are outstanding.
/// Either one step whose items are split into `chunks`, or (`images`) a run of `len` steps
/// taken image by image: chunk `c` runs image `c` through every step of the run.
struct Job {
    step: *const RunStep,
    len: usize,
    images: bool,
    ptrs: *const Ptrs,
    items: usize,
    chunks: usize,
    /// Time each step's calls (per-image runs only; kept in the steps' counters).
    timed: bool,
}

struct Shared {
    /// (generation << 32) | (chunks << 16) | next chunk to claim: whether a chunk is left is
    /// decided from this word alone, and the job is read only after a claim succeeded.
    claim: AtomicU64,
    /// Chunks finished in the current generation.
    done: AtomicUsize,
    job_fast: std::cell::UnsafeCell<Job>,
    quit: AtomicBool,
    active: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
}

// The job cell is written by the caller only when no chunk of the previous generation is
// outstanding, and read by helpers only after they claimed a chunk of the current one.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

impl Shared {
    fn chunk_range(job: &Job, c: usize) -> (usize, usize) {
        (job.items * c / job.chunks, job.items * (c + 1) / job.chunks)
    }

    /// Claim and run chunks of generation `gen` until none is left. Returns whether any ran.
    fn work(&self, gen: u64) -> bool {
        use Exec as _;
        let mut ran = false;
        loop {
            let cur = self.claim.load(Ordering::Acquire);
            if cur >> 32 != gen {
                return ran;
            }
            let (chunks, next) = ((cur >> 16) & 0xffff, cur & 0xffff);
            if next >= chunks {
                return ran;
            }
            if self.claim.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire).is_err() {
                continue;
            }
            // Safety: our chunk of this generation is outstanding, so the caller has not moved on
            // and the job is the one it published before the generation.
            let job = unsafe { &*self.job_fast.get() };
            // Safety: the steps and pointers outlive the generation (the caller waits for `done`).
            unsafe {
                if job.images {
                    for k in 0..job.len {
                        let st = &*job.step.add(k);
                        let per = st.items() / job.chunks;
                        let t = job.timed.then(std::time::Instant::now);
                        st.call(&*job.ptrs, per * next as usize, per * (next as usize + 1));
                        if let Some(t) = t {
                            st.spent().fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        }
                    }
                } else {
                    let (lo, hi) = Self::chunk_range(job, next as usize);
                    (*job.step).call(&*job.ptrs, lo, hi);
                }
            }
            self.done.fetch_add(1, Ordering::AcqRel);
            ran = true;
        }
    }
}

pub(crate) struct Team {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    threads: usize,
    gen: u64,
}

impl Team {
    pub fn new(n: usize) -> Team {
        let shared = Arc::new(Shared {
            claim: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            job_fast: std::cell::UnsafeCell::new(Job { step: std::ptr::null(), len: 0, images: false, ptrs: std::ptr::null(), items: 0, chunks: 0, timed: false }),
            quit: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        });
        let handles = (1..n.max(1))
            .map(|_| {
                let s = shared.clone();
                std::thread::spawn(move || helper(&s))
            })
            .collect();
        Team { shared, handles, threads: n.max(1), gen: 0 }
    }

    /// Run `steps`, each of `segments` image by image (when there are `images` > 1, at least
    /// one per thread).
    pub fn run(
        &mut self,
        steps: &[RunStep],
        segments: &[std::ops::Range<usize>],
        images: usize,
        ptrs: &Ptrs,
        reference: &(dyn Fn(usize) + Sync),
        mut profile: Option<&mut BTreeMap<&'static str, (usize, Duration)>>,
    ) {
        use Exec as _;
        if self.threads > 1 {
            let s = &*self.shared;
            s.active.store(1, Ordering::Release);
            let _g = s.sleep.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        // Image by image only when every thread gets an image: with fewer images than threads,
        // splitting each step's items keeps them all busy.
        let by_image = images > 1 && images >= self.threads;
        let mut i = 0;
        while i < steps.len() {
            if let Some(seg) = segments.iter().find(|r| r.start == i).filter(|_| by_image) {
                let run = &steps[seg.clone()];
                let timed = profile.is_some();
                if timed {
                    for st in run {
                        st.spent().store(0, Ordering::Relaxed);
                    }
                }
                self.publish(Job { step: run.as_ptr(), len: run.len(), images: true, ptrs, items: images, chunks: images, timed });
                if let Some(p) = profile.as_deref_mut() {
                    // CPU time over the threads: the share of the wall time each step had.
                    for st in run {
                        let e = p.entry(st.label()).or_default();
                        e.0 += 1;
                        e.1 += Duration::from_nanos(st.spent().load(Ordering::Relaxed) / self.threads as u64);
                    }
                }
                i = seg.end;
                continue;
            }
            let st = &steps[i];
            i += 1;
            let t = profile.as_ref().map(|_| std::time::Instant::now());
            if let Some(i) = st.reference() {
                reference(i);
            } else if st.parallel() && self.threads > 1 {
                let chunks = st.items().min(8 * self.threads).min(0xffff);
                self.publish(Job { step: st, len: 1, images: false, ptrs, items: st.items(), chunks, timed: false });
            } else {
                st.call(ptrs, 0, st.items());
            }
            if let (Some(t), Some(p)) = (t, profile.as_deref_mut()) {
                let e = p.entry(st.label()).or_default();
                e.0 += 1;
                e.1 += t.elapsed();
            }
        }
        // Close the last generation so no helper can claim from a finished job.
        let s = &*self.shared;
        self.gen += 1;
        s.claim.store(self.gen << 32, Ordering::Release);
        s.active.store(0, Ordering::Release);
    }

    /// Publish `job` to the helpers, work on it, and return when every chunk is done.
    fn publish(&mut self, job: Job) {
        let s = &*self.shared;
        self.gen += 1;
        let chunks = job.chunks.min(0xffff);
        // Safety: no chunk of the previous generation is outstanding (we waited for `done`),
        // and helpers read the job only after claiming in the new generation.
        unsafe { *s.job_fast.get() = job };
        s.done.store(0, Ordering::Release);
        s.claim.store(self.gen << 32 | (chunks as u64) << 16, Ordering::Release);
        s.work(self.gen);
        let mut spins = 0u32;
        while s.done.load(Ordering::Acquire) < chunks {
            // A helper holding a chunk may have been preempted (a loaded machine): after a
            // short spin, give up the core so it can run and finish.
            spins += 1;
            if spins < 1 << 10 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

fn helper(s: &Shared) {
    let mut idle = 0u32;
    loop {
        if s.quit.load(Ordering::Acquire) {
            return;
        }
        let gen = s.claim.load(Ordering::Acquire) >> 32;
        if s.work(gen) {
            idle = 0;
            continue;
        }
        idle += 1;
        if idle < 1 << 12 {
            std::hint::spin_loop();
            continue;
        }
        // Within a run, between steps: keep polling, but yield the core each time, so that on a
        // loaded machine the caller (running a step alone) is not competing with our spinning.
        if s.active.load(Ordering::Acquire) == 1 && idle < 1 << 18 {
            std::thread::yield_now();
            continue;
        }
        // Between runs: sleep until the next one starts.
        let g = s.sleep.lock().unwrap_or_else(|e| e.into_inner());
        if s.active.load(Ordering::Acquire) == 0 && !s.quit.load(Ordering::Acquire) {
            let _ = s.wake.wait_timeout(g, Duration::from_millis(100));
        }
        idle = 0;
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        {
            let _g = self.shared.sleep.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.quit.store(true, Ordering::Release);
            self.shared.wake.notify_all();
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
