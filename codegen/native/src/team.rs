//! The threads of a plan. Every thread walks the whole step list and takes its share of each
//! step's items, with a spinning barrier between steps: a model of a few hundred small steps
//! (seresnet110 at batch 1 runs ~1 ms) cannot afford a task-pool round trip per step. Workers
//! sleep on a condition variable between runs.

use crate::{Ptrs, RunStep};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
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
}

struct Job<'a> {
    steps: &'a [RunStep],
    ptrs: &'a Ptrs,
    reference: &'a (dyn Fn(usize) + Sync),
}

struct Shared {
    n: usize,
    job: AtomicPtr<()>,
    run_gen: AtomicUsize,
    bar_count: AtomicUsize,
    bar_gen: AtomicUsize,
    quit: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
    sleepers: AtomicUsize,
    bar_lock: Mutex<()>,
    bar_cv: Condvar,
}

impl Shared {
    /// Wait for every thread. Spins briefly (steps are short), then sleeps: on a loaded
    /// machine the thread being waited for may not be running, and spinning would take its core.
    fn barrier(&self) {
        if self.n == 1 {
            return;
        }
        let gen = self.bar_gen.load(Ordering::SeqCst);
        if self.bar_count.fetch_add(1, Ordering::SeqCst) + 1 == self.n {
            self.bar_count.store(0, Ordering::SeqCst);
            self.bar_gen.fetch_add(1, Ordering::SeqCst);
            if self.sleepers.load(Ordering::SeqCst) > 0 {
                let _g = self.bar_lock.lock().unwrap_or_else(|e| e.into_inner());
                self.bar_cv.notify_all();
            }
            return;
        }
        for _ in 0..4000 {
            if self.bar_gen.load(Ordering::SeqCst) != gen {
                return;
            }
            std::hint::spin_loop();
        }
        let mut g = self.bar_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        while self.bar_gen.load(Ordering::SeqCst) == gen {
            g = self.bar_cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    fn execute(&self, job: &Job<'_>, tid: usize, mut profile: Option<&mut BTreeMap<&'static str, (usize, Duration)>>) {
        use Exec as _;
        for st in job.steps {
            let t = profile.as_ref().map(|_| std::time::Instant::now());
            if let Some(i) = st.reference() {
                if tid == 0 {
                    (job.reference)(i);
                }
            } else if st.parallel() {
                let n = st.items();
                let (lo, hi) = (n * tid / self.n, n * (tid + 1) / self.n);
                if lo < hi {
                    st.call(job.ptrs, lo, hi);
                }
            } else if tid == 0 {
                st.call(job.ptrs, 0, st.items());
            }
            self.barrier();
            if let (Some(t), Some(p)) = (t, profile.as_deref_mut()) {
                let e = p.entry(st.label()).or_default();
                e.0 += 1;
                e.1 += t.elapsed();
            }
        }
    }
}

pub(crate) struct Team {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl Team {
    pub fn new(n: usize) -> Team {
        let shared = Arc::new(Shared {
            n: n.max(1),
            job: AtomicPtr::new(std::ptr::null_mut()),
            run_gen: AtomicUsize::new(0),
            bar_count: AtomicUsize::new(0),
            bar_gen: AtomicUsize::new(0),
            quit: AtomicBool::new(false),
            lock: Mutex::new(()),
            cv: Condvar::new(),
            sleepers: AtomicUsize::new(0),
            bar_lock: Mutex::new(()),
            bar_cv: Condvar::new(),
        });
        let handles = (1..n.max(1))
            .map(|tid| {
                let s = shared.clone();
                std::thread::spawn(move || worker(&s, tid))
            })
            .collect();
        Team { shared, handles }
    }

    pub fn run(&mut self, steps: &[RunStep], ptrs: &Ptrs, reference: &(dyn Fn(usize) + Sync), profile: Option<&mut BTreeMap<&'static str, (usize, Duration)>>) {
        let job = Job { steps, ptrs, reference };
        let s = &self.shared;
        s.job.store(&job as *const Job as *mut (), Ordering::Release);
        {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.run_gen.fetch_add(1, Ordering::AcqRel);
            s.cv.notify_all();
        }
        s.execute(&job, 0, profile);
        // Every worker has passed the last barrier: none touches `job` again.
        s.job.store(std::ptr::null_mut(), Ordering::Release);
    }
}

fn worker(s: &Shared, tid: usize) {
    let mut seen = 0usize;
    loop {
        let mut spins = 0u32;
        loop {
            if s.quit.load(Ordering::Acquire) {
                return;
            }
            if s.run_gen.load(Ordering::Acquire) != seen {
                break;
            }
            spins += 1;
            if spins < 1 << 14 {
                std::hint::spin_loop();
            } else {
                let g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                if s.run_gen.load(Ordering::Acquire) == seen && !s.quit.load(Ordering::Acquire) {
                    let _ = s.cv.wait_timeout(g, Duration::from_millis(50));
                }
            }
        }
        seen = s.run_gen.load(Ordering::Acquire);
        let p = s.job.load(Ordering::Acquire) as *const Job;
        // Safety: the job lives until the caller has passed the last barrier, which needs us.
        if p.is_null() {
            continue;
        }
        let job = unsafe { &*p };
        s.execute(job, tid, None);
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        {
            let _g = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.quit.store(true, Ordering::Release);
            self.shared.cv.notify_all();
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
