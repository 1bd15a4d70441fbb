//! The fan-out of the suite's SUT: how many subscriptions or triggers it
//! has (and how many match), the routes to the receiver they make, and the
//! checks of those flags against a SUT.

use crate::config::{DeliverySpec, Route, Routing};
use crate::filter::Filter;
use crate::Sut;
use anyhow::bail;
use brokerbench_core::identity::EVENT_TYPE;
use std::collections::BTreeMap;

/// The fan-out of the suite's SUT (a local run's, or a rendered one's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    /// Channels: subscriptions, each delivering every event.
    pub subscribers: u32,
    /// Brokers: triggers, of which `matching` match the suite's events.
    pub triggers: u32,
    pub matching: u32,
    /// Worker threads of the SUT's runtime.
    pub sut_threads: usize,
}

impl FanOut {
    /// Deliveries owed per event by a SUT that routes so.
    pub fn copies(&self, routing: Option<Routing>) -> u32 {
        match routing {
            Some(Routing::Channel) => self.subscribers,
            Some(Routing::Broker) => self.matching,
            None => 1,
        }
    }

    /// Checks the fan-out flags against one of the suite's SUTs.
    pub fn check_sut(&self, sut: Sut) -> anyhow::Result<()> {
        let spec = sut.spec();
        if !spec.ingress && (self.subscribers != 1 || self.triggers != 1 || self.matching != 1) {
            let channels: Vec<&str> = Sut::all()
                .iter()
                .map(|s| s.spec())
                .filter(|s| s.ingress && s.routing == Some(Routing::Channel))
                .map(|s| s.name)
                .collect();
            bail!(
                "{} delivers to one sink: no --subscribers, --triggers or --matching (--subscribers is for {})",
                spec.name,
                channels.join(" and ")
            );
        }
        self.check(spec.routing, spec.name)
    }

    /// Checks the fan-out flags against how a SUT routes (`None`: it does
    /// not), `name` naming it.
    pub fn check(&self, routing: Option<Routing>, name: &str) -> anyhow::Result<()> {
        let (subs, trig) = (
            self.subscribers != 1,
            self.triggers != 1 || self.matching != 1,
        );
        match routing {
            None if subs || trig => {
                bail!("--subscribers, --triggers and --matching are for a channel or broker SUT, not {name}")
            }
            Some(Routing::Channel) if trig => {
                bail!("{name} takes --subscribers; --triggers and --matching are for a broker")
            }
            Some(Routing::Broker) if subs => {
                bail!("{name} takes --triggers and --matching; --subscribers is for a channel")
            }
            Some(Routing::Channel) if self.subscribers == 0 => {
                bail!("--subscribers must be at least 1")
            }
            Some(Routing::Broker) if self.matching == 0 || self.matching > self.triggers => {
                bail!(
                    "--matching must be between 1 and --triggers ({})",
                    self.triggers
                )
            }
            _ => Ok(()),
        }
    }

    /// The routes of a local run: every copy `k` to `receiver/c/k`. A
    /// broker's matching triggers filter on the suite's event type (exact),
    /// the others on types it never sends (prefix, then suffix, alternately)
    /// so every trigger's filter is evaluated for every event.
    pub fn routes(&self, routing: Routing, receiver: &str, delivery: &DeliverySpec) -> Vec<Route> {
        let url = |k: u32| format!("{}/c/{k}", receiver.trim_end_matches('/'));
        let route = |k: u32, filter| Route {
            name: format!(
                "{}-{k}",
                match routing {
                    Routing::Channel => "subscription",
                    Routing::Broker => "trigger",
                }
            ),
            subscriber: url(k),
            filter,
            delivery: delivery.clone(),
        };
        let one = |k: &str, v: String| BTreeMap::from([(k.to_string(), v)]);
        match routing {
            Routing::Channel => (0..self.subscribers)
                .map(|k| route(k, Filter::everything()))
                .collect(),
            Routing::Broker => (0..self.triggers)
                .map(|k| {
                    let filter = if k < self.matching {
                        Filter::Exact(one("type", EVENT_TYPE.to_string()))
                    } else if k % 2 == 0 {
                        Filter::Prefix(one("type", format!("dev.other.{k}.")))
                    } else {
                        Filter::Suffix(one("type", format!(".other.{k}")))
                    };
                    route(k, filter)
                })
                .collect(),
        }
    }
}
