//! Running a whole computation on the CPU thread pool.
//!
//! burn's CPU backend and this workspace's kernels split large operations over rayon's global
//! pool. Called from a thread outside the pool (a program's main thread), every such operation
//! hands its tasks to the pool's workers and puts the caller to sleep until they finish: one
//! wake-up and one sleep per operation, and a third thread beside the two workers on a two-core
//! machine. A DIP step makes hundreds of small operations, so that overhead was a fifth of the
//! fast preset's step (docs/performance.md). [`on_pool`] runs the computation itself on a
//! worker: each operation then runs part of its tasks on the calling worker and the rest on the
//! others, with no hand-over. Results are the same to the bit (the same tasks do the same
//! arithmetic; only the thread that runs them changes).

/// Runs `work` on a worker of rayon's global pool (directly if the caller already is one) and
/// returns its result.
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return work();
    }
    rayon::scope(|_| work())
}

/// Builds rayon's global pool with worker stacks of `stack_bytes` (the threads' default is
/// 2 MiB, a program's main thread usually has 8 MiB) before anything else uses it, so that
/// work moved onto the pool by [`on_pool`] has the stack it had on the main thread. The number
/// of threads follows `RAYON_NUM_THREADS` or the CPU count, as rayon's default does. Returns
/// false if the pool was already built (its settings then stay as they were).
pub fn init_pool(stack_bytes: usize) -> bool {
    rayon::ThreadPoolBuilder::new()
        .stack_size(stack_bytes)
        .build_global()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_a_worker_and_returns_its_value() {
        assert_eq!(rayon::current_thread_index(), None);
        let (inside, value) = on_pool(|| (rayon::current_thread_index(), 6 * 7));
        assert!(inside.is_some(), "the work ran outside the pool");
        assert_eq!(value, 42);
        // nested calls run in place
        let nested = on_pool(|| on_pool(rayon::current_thread_index));
        assert!(nested.is_some());
    }
}
