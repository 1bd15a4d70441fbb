//! Profiling: pprof endpoints for every long-running role, capture from any
//! pprof HTTP endpoint (ours, or a Go service such as a Knative dispatcher on
//! :8008), and flamegraphs rendered from the profile's own samples.
//!
//! Layout:
//! - [`endpoint`]: `/debug/pprof/profile?seconds=N` (CPU) and
//!   `/debug/pprof/heap` (jemalloc heap), gzipped pprof protobuf.
//! - [`capture`]: fetch a profile over HTTP, check it, write `.pb.gz` and a
//!   flamegraph SVG.
//! - [`flame`]: folded stacks from a pprof profile, rendered with inferno.

pub mod capture;
pub mod endpoint;
pub mod flame;
