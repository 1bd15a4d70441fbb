//! Systems under test that `brokerbench run` can wire between the sender and
//! the receiver, and readiness probing of any SUT.
//!
//! Layout:
//! - [`Sut`]: which SUT a run measures, and where the sender publishes for it.
//! - [`direct`]: the baseline, no SUT at all: the sender publishes straight to
//!   the receiver, which shows what the generator itself can hold.

pub mod direct;

use std::fmt;
use std::str::FromStr;

/// The SUTs the suite can run locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sut {
    /// Sender -> receiver, nothing between.
    Direct,
}

/// A `--sut` value the suite does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown SUT {0:?}: the suite runs `direct` (or measure any broker with --target URL)")]
pub struct UnknownSut(String);

impl FromStr for Sut {
    type Err = UnknownSut;
    fn from_str(s: &str) -> Result<Self, UnknownSut> {
        match s {
            "direct" => Ok(Sut::Direct),
            other => Err(UnknownSut(other.to_string())),
        }
    }
}

impl fmt::Display for Sut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sut::Direct => "direct",
        })
    }
}

impl Sut {
    /// Where the sender publishes, given the receiver's URL.
    pub fn target_url(&self, receiver_url: &str) -> String {
        match self {
            Sut::Direct => direct::target_url(receiver_url),
        }
    }
}
