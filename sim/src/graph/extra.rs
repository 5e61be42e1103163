//! Benchmark knob: `NAA_SIM_LARGE_ATTACHMENT_BYTES` sets the size of the generated video
//! attachment every seeded mailbox has (default 48 MiB), so throughput and memory can be
//! measured for 1 KB to 100 MB and more without holding the file in memory.

/// Environment variable read once when the mailboxes are built.
pub const LARGE_ATTACHMENT_ENV: &str = "NAA_SIM_LARGE_ATTACHMENT_BYTES";

/// The video attachment's size: the environment's value when it is a positive number.
pub(crate) fn large_attachment_bytes() -> u64 {
    std::env::var(LARGE_ATTACHMENT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(super::content::LARGE_ATTACHMENT_BYTES)
}
