//! One file per subcommand: each takes its options, makes its validated
//! config, runs it and returns the exit code.

pub mod aggregate;
pub mod aggregator;
pub mod clock;
pub mod compare;
pub mod k8s;
pub mod plot;
pub mod profile;
pub mod receiver;
pub mod run;
pub mod search;
pub mod sender;
pub mod sut;
