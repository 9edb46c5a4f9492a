//! What the benchmark reads about its own process from Linux's `/proc`: the CPU time of the
//! calling thread, and resident memory (current, and the peak since it was last reset).
//! Elsewhere each reads as `None`, and the report says the figure is unavailable.

use std::time::Duration;

/// CPU time the calling thread has used (`/proc/thread-self/schedstat`: nanoseconds on a CPU).
pub(crate) fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The thread CPU time `work` takes, with its result. Zero where it cannot be read.
pub(crate) fn cpu_of<T>(work: impl FnOnce() -> T) -> (T, Duration) {
    let before = thread_cpu();
    let out = work();
    let spent = match (before, thread_cpu()) {
        (Some(before), Some(after)) => after.saturating_sub(before),
        _ => Duration::ZERO,
    };
    (out, spent)
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Resident memory now (`VmRSS`).
pub(crate) fn rss() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// The peak resident memory since the start, or since [`reset_peak`] (`VmHWM`).
pub(crate) fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// Resets the peak to the current resident memory (writing 5 to `/proc/self/clear_refs`).
pub(crate) fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let (sum, spent) = cpu_of(|| (0..2_000_000u64).map(|i| i ^ (i >> 3)).sum::<u64>());
        assert!(sum > 0);
        assert!(spent > Duration::ZERO, "thread CPU time moves");
        let rss = rss().unwrap_or(0);
        assert!(rss > 1024 * 1024, "resident memory {rss}");
        assert!(reset_peak());
        assert!(peak_rss().unwrap_or(0) >= rss / 2);
    }
}
