//! A local run's faults (`--fault`): the SUT's network namespace
//! ([`netns`]), the SUT as a process of its own ([`process`]), and the
//! [`timeline`] that applies each fault at its time.

pub mod netns;
pub mod process;
pub mod timeline;
