//! SUT settings: what each subscription or trigger delivers to and how
//! (retries, backoff, timeout, dead-letter sink), and the in-memory data
//! plane's bounds. Settings come from flags and from an optional YAML (or
//! JSON) file shaped like Knative's Subscription and Trigger specs.

use crate::filter::{BadFilter, Filter};
pub use crate::spec::Routing;
use crate::spec::Sut;
use brokerbench_core::duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A SUT configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0}")]
    Duration(#[from] duration::BadDuration),
    #[error("bad backoff policy {0:?}: use exponential or linear")]
    Policy(String),
    #[error("trigger {name:?}: {source}")]
    Filter {
        name: String,
        #[source]
        source: BadFilter,
    },
    #[error("bad URL {0:?}: write http://host:port/path")]
    Url(String),
    #[error("bad trigger {0:?}: write URL[,attribute=value...]")]
    Trigger(String),
    #[error("{0} has no subscriber: give --subscriber/--trigger or a --config file")]
    NoRoutes(&'static str),
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
}

/// How the wait between attempts grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackoffPolicy {
    /// `delay × 2^n` before retry `n + 1`.
    #[default]
    Exponential,
    /// `delay × (n + 1)` before retry `n + 1`.
    Linear,
}

/// How one subscription delivers (Knative's `delivery` spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySpec {
    /// Attempts after the first.
    pub retry: u32,
    pub policy: BackoffPolicy,
    /// The first wait between attempts.
    pub backoff_delay: Duration,
    /// No wait is longer than this.
    pub backoff_cap: Duration,
    /// Time one attempt may take.
    pub timeout: Duration,
    /// Where what keeps failing goes; without one it is dropped (and counted).
    pub dead_letter: Option<String>,
}

impl Default for DeliverySpec {
    fn default() -> Self {
        DeliverySpec {
            retry: 3,
            policy: BackoffPolicy::Exponential,
            backoff_delay: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            dead_letter: None,
        }
    }
}

impl DeliverySpec {
    /// The wait before retry `n + 1` (`n` counts from 0).
    pub fn backoff(&self, n: u32) -> Duration {
        let d = match self.policy {
            BackoffPolicy::Exponential => self
                .backoff_delay
                .saturating_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX)),
            BackoffPolicy::Linear => self.backoff_delay.saturating_mul(n.saturating_add(1)),
        };
        d.min(self.backoff_cap)
    }
}

/// Fields of a delivery spec that a file or flags set, each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryPatch {
    pub retry: Option<u32>,
    pub backoff_policy: Option<String>,
    pub backoff_delay: Option<String>,
    pub backoff_cap: Option<String>,
    pub timeout: Option<String>,
    pub dead_letter_sink: Option<String>,
}

impl DeliveryPatch {
    /// `base` with the fields this patch sets.
    pub fn apply(&self, base: &DeliverySpec) -> Result<DeliverySpec, ConfigError> {
        let mut d = base.clone();
        if let Some(r) = self.retry {
            d.retry = r;
        }
        if let Some(p) = &self.backoff_policy {
            d.policy = match p.to_ascii_lowercase().as_str() {
                "exponential" => BackoffPolicy::Exponential,
                "linear" => BackoffPolicy::Linear,
                _ => return Err(ConfigError::Policy(p.clone())),
            };
        }
        for (field, text) in [
            (&mut d.backoff_delay, &self.backoff_delay),
            (&mut d.backoff_cap, &self.backoff_cap),
            (&mut d.timeout, &self.timeout),
        ] {
            if let Some(t) = text {
                *field = duration::parse(t)?;
            }
        }
        if let Some(u) = &self.dead_letter_sink {
            d.dead_letter = Some(check_url(u)?);
        }
        if d.timeout.is_zero() {
            return Err(ConfigError::Invalid("timeout", "must be above 0".into()));
        }
        Ok(d)
    }
}

/// One subscription (channel) or trigger (broker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    /// Subscriber URL.
    pub subscriber: String,
    /// Which events it gets; everything for a channel's subscriptions.
    pub filter: Filter,
    pub delivery: DeliverySpec,
}

/// A data plane's routes and bounds: the in-memory channel or broker, and
/// the routes of a Kafka one.
#[derive(Debug, Clone)]
pub struct ImcConfig {
    /// The SUT it is (its name, its routing).
    pub sut: Sut,
    pub routes: Vec<Route>,
    /// Events held at once (queued, retrying or in flight); above it the
    /// ingress answers 503. Memory is bounded by it times the event size.
    pub capacity: usize,
    /// Keep-alive connections (deliveries in flight) per subscriber.
    pub connections: usize,
    /// Largest request body taken; larger ones get a 413.
    pub max_event_bytes: usize,
    /// On shutdown, time given to what is queued before it is dropped.
    pub grace: Duration,
    /// Who may tell its ingress to inject faults (`PUT /v1/faults`
    /// with `Authorization: Bearer TOKEN`); none may without one.
    pub fault_token: Option<String>,
}

impl ImcConfig {
    pub fn new(sut: Sut, routes: Vec<Route>) -> Self {
        ImcConfig {
            sut,
            routes,
            capacity: 10_000,
            connections: 32,
            max_event_bytes: 4 << 20,
            grace: Duration::from_secs(5),
            fault_token: None,
        }
    }

    /// How it routes.
    pub fn routing(&self) -> Routing {
        self.sut.spec().routing.unwrap_or(Routing::Channel)
    }

    /// Checks what flags cannot express in their types.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.routes.is_empty() && self.routing() == Routing::Channel {
            return Err(ConfigError::NoRoutes(self.sut.spec().name));
        }
        if self.capacity == 0 {
            return Err(ConfigError::Invalid(
                "--queue-capacity",
                "must be above 0".into(),
            ));
        }
        if self.connections == 0 {
            return Err(ConfigError::Invalid(
                "--dispatch-connections",
                "must be above 0".into(),
            ));
        }
        for r in &self.routes {
            r.filter.validate().map_err(|source| ConfigError::Filter {
                name: r.name.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// A subscriber URL, checked.
pub fn check_url(u: &str) -> Result<String, ConfigError> {
    let uri: http::Uri = u.parse().map_err(|_| ConfigError::Url(u.to_string()))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(ConfigError::Url(u.to_string()));
    }
    Ok(u.to_string())
}

/// A `--trigger` flag: `URL[,attribute=value...]`, exact matches (an empty
/// value matches any), as Knative's `filter.attributes`.
pub fn trigger_flag(
    index: usize,
    spec: &str,
    delivery: &DeliverySpec,
) -> Result<Route, ConfigError> {
    let mut parts = spec.split(',');
    let subscriber = check_url(parts.next().unwrap_or_default())?;
    let mut attributes = BTreeMap::new();
    for p in parts {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| ConfigError::Trigger(spec.to_string()))?;
        attributes.insert(k.to_string(), v.to_string());
    }
    Ok(Route {
        name: format!("trigger-{index}"),
        subscriber,
        filter: Filter::from_attributes(&attributes),
        delivery: delivery.clone(),
    })
}

/// A `--subscriber` flag.
pub fn subscriber_flag(
    index: usize,
    url: &str,
    delivery: &DeliverySpec,
) -> Result<Route, ConfigError> {
    Ok(Route {
        name: format!("subscription-{index}"),
        subscriber: check_url(url)?,
        filter: Filter::everything(),
        delivery: delivery.clone(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    delivery: DeliveryPatch,
    #[serde(default)]
    subscriptions: Vec<FileRoute>,
    #[serde(default)]
    triggers: Vec<FileRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileRoute {
    name: Option<String>,
    subscriber: String,
    #[serde(default)]
    filter: Option<LegacyFilter>,
    #[serde(default)]
    filters: Vec<Filter>,
    #[serde(default)]
    delivery: DeliveryPatch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyFilter {
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

/// Reads the routes of a config file for `sut`, over the `base` delivery
/// spec (itself under the file's top-level `delivery`).
pub fn read_file(path: &Path, sut: Sut, base: &DeliverySpec) -> Result<Vec<Route>, ConfigError> {
    let routing = sut.spec().routing.unwrap_or(Routing::Channel);
    let err = |reason: String| ConfigError::File {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let file: FileConfig = serde_yaml::from_str(&text).map_err(|e| err(e.to_string()))?;
    let (list, other, what) = match routing {
        Routing::Channel => (file.subscriptions, &file.triggers, "subscription"),
        Routing::Broker => (file.triggers, &file.subscriptions, "trigger"),
    };
    if !other.is_empty() {
        return Err(err(format!("{sut} takes `{what}s`, not the other list")));
    }
    let base = file.delivery.apply(base)?;
    list.into_iter()
        .enumerate()
        .map(|(i, r)| {
            if routing == Routing::Channel && (r.filter.is_some() || !r.filters.is_empty()) {
                return Err(err("a channel's subscriptions have no filters".into()));
            }
            // Knative: when `filters` is set, `filter` is ignored.
            let filter = if !r.filters.is_empty() {
                Filter::All(r.filters)
            } else {
                r.filter.map_or_else(Filter::everything, |f| {
                    Filter::from_attributes(&f.attributes)
                })
            };
            Ok(Route {
                name: r.name.unwrap_or_else(|| format!("{what}-{i}")),
                subscriber: check_url(&r.subscriber)?,
                filter,
                delivery: r.delivery.apply(&base)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let d = DeliverySpec {
            backoff_delay: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(700),
            ..DeliverySpec::default()
        };
        let ms = |n| d.backoff(n).as_millis();
        assert_eq!(
            (ms(0), ms(1), ms(2), ms(3), ms(40)),
            (100, 200, 400, 700, 700)
        );
        let l = DeliverySpec {
            policy: BackoffPolicy::Linear,
            ..d
        };
        assert_eq!(l.backoff(2).as_millis(), 300);
    }

    #[test]
    fn a_trigger_file_reads_like_knative() {
        let dir = std::env::temp_dir().join(format!("bb-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("broker.yaml");
        std::fs::write(
            &path,
            "delivery: {retry: 5, backoffDelay: PT0.2S, deadLetterSink: 'http://127.0.0.1:9/dls'}\n\
             triggers:\n\
             - name: orders\n  subscriber: http://127.0.0.1:9/a\n  filter: {attributes: {type: order}}\n\
             - subscriber: http://127.0.0.1:9/b\n  filters:\n  - prefix: {type: com.}\n  - not: {exact: {source: x}}\n  delivery: {retry: 0, timeout: 2s}\n",
        )
        .unwrap();
        let routes = read_file(&path, Sut::BrokerImc, &DeliverySpec::default()).unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].name, "orders");
        assert_eq!(routes[0].delivery.retry, 5);
        assert_eq!(routes[0].delivery.backoff_delay, Duration::from_millis(200));
        assert_eq!(routes[1].name, "trigger-1");
        assert_eq!(
            (
                routes[1].delivery.retry,
                routes[1].delivery.timeout.as_secs()
            ),
            (0, 2)
        );
        assert_eq!(
            routes[1].delivery.dead_letter.as_deref(),
            Some("http://127.0.0.1:9/dls")
        );
        let err = read_file(&path, Sut::ChannelImc, &DeliverySpec::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("channel-imc takes `subscriptions`"), "{err}");
        std::fs::write(&path, "triggers: [{subscriber: 'ftp://x/'}]").unwrap();
        let err = read_file(&path, Sut::BrokerImc, &DeliverySpec::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad URL \"ftp://x/\""), "{err}");
        std::fs::write(&path, "triggers: [{subscriber: 'http://x/', filtre: {}}]").unwrap();
        let err = read_file(&path, Sut::BrokerImc, &DeliverySpec::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `filtre`"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn trigger_flags_are_exact_filters() {
        let d = DeliverySpec::default();
        let r = trigger_flag(2, "http://h:1/x,type=a,source=", &d).unwrap();
        assert_eq!(r.name, "trigger-2");
        assert_eq!(r.subscriber, "http://h:1/x");
        let r = trigger_flag(0, "http://h:1/", &d).unwrap();
        assert_eq!(r.filter, Filter::All(vec![]));
        assert!(matches!(
            trigger_flag(0, "http://h:1/,type", &d),
            Err(ConfigError::Trigger(_))
        ));
        assert!(matches!(
            trigger_flag(0, "nope", &d),
            Err(ConfigError::Url(_))
        ));
    }
}
