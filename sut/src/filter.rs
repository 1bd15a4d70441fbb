//! Trigger filters on CloudEvents attributes: Knative's `filter.attributes`
//! (exact match, an empty value matching any) and the `filters` dialect
//! (`exact`, `prefix`, `suffix`, `all`, `any`, `not`).

use crate::event::Envelope;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One expression of the `filters` dialect, as written in a config file:
/// `{exact: {type: a}}`, `{any: [{prefix: {type: a.}}, {not: {...}}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Expression")]
pub enum Filter {
    /// Every attribute equals its value.
    Exact(BTreeMap<String, String>),
    /// Every attribute starts with its value.
    Prefix(BTreeMap<String, String>),
    /// Every attribute ends with its value.
    Suffix(BTreeMap<String, String>),
    /// Every nested filter matches (an empty list matches everything).
    All(Vec<Filter>),
    /// At least one nested filter matches.
    Any(Vec<Filter>),
    /// The nested filter does not match.
    Not(Box<Filter>),
}

/// A filter expression as written: a map with exactly one key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expression {
    exact: Option<BTreeMap<String, String>>,
    prefix: Option<BTreeMap<String, String>>,
    suffix: Option<BTreeMap<String, String>>,
    all: Option<Vec<Filter>>,
    any: Option<Vec<Filter>>,
    not: Option<Box<Filter>>,
    cesql: Option<String>,
}

impl TryFrom<Expression> for Filter {
    type Error = String;
    fn try_from(e: Expression) -> Result<Filter, String> {
        if e.cesql.is_some() {
            return Err(
                "the `cesql` filter is not supported: use exact, prefix, suffix, all, any or not"
                    .into(),
            );
        }
        let mut found: Vec<Filter> = [
            e.exact.map(Filter::Exact),
            e.prefix.map(Filter::Prefix),
            e.suffix.map(Filter::Suffix),
            e.all.map(Filter::All),
            e.any.map(Filter::Any),
            e.not.map(Filter::Not),
        ]
        .into_iter()
        .flatten()
        .collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            _ => Err(
                "a filter is a map with exactly one of exact, prefix, suffix, all, any, not".into(),
            ),
        }
    }
}

/// A filter the dialect forbids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadFilter {
    #[error("`{0}` needs at least one attribute")]
    Empty(&'static str),
    #[error("`{0}` on attribute {1:?} needs a non-empty value")]
    EmptyValue(&'static str, String),
}

impl Filter {
    /// The filter that lets every event through.
    pub fn everything() -> Filter {
        Filter::All(Vec::new())
    }

    /// Knative's legacy `filter.attributes`: exact matches, where an empty
    /// value means "any value" (but the attribute must be there).
    pub fn from_attributes(attributes: &BTreeMap<String, String>) -> Filter {
        Filter::All(
            attributes
                .iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        Filter::Prefix(BTreeMap::from([(k.clone(), String::new())]))
                    } else {
                        Filter::Exact(BTreeMap::from([(k.clone(), v.clone())]))
                    }
                })
                .collect(),
        )
    }

    /// The expression as written in the `filters` dialect (a config file's
    /// or a Knative Trigger's `filters` entry); reading it back gives this
    /// filter.
    pub fn written(&self) -> serde_json::Value {
        use serde_json::json;
        let list = |fs: &[Filter]| fs.iter().map(Filter::written).collect::<Vec<_>>();
        match self {
            Filter::Exact(m) => json!({ "exact": m }),
            Filter::Prefix(m) => json!({ "prefix": m }),
            Filter::Suffix(m) => json!({ "suffix": m }),
            Filter::All(fs) => json!({ "all": list(fs) }),
            Filter::Any(fs) => json!({ "any": list(fs) }),
            Filter::Not(f) => json!({ "not": f.written() }),
        }
    }

    /// Checks the rules of the dialect (as Knative's webhook does).
    pub fn validate(&self) -> Result<(), BadFilter> {
        let pairs = |name: &'static str, m: &BTreeMap<String, String>, empty_ok: bool| {
            if m.is_empty() {
                return Err(BadFilter::Empty(name));
            }
            match m.iter().find(|(_, v)| v.is_empty() && !empty_ok) {
                Some((k, _)) => Err(BadFilter::EmptyValue(name, k.clone())),
                None => Ok(()),
            }
        };
        match self {
            Filter::Exact(m) => pairs("exact", m, true),
            Filter::Prefix(m) => pairs("prefix", m, false),
            Filter::Suffix(m) => pairs("suffix", m, false),
            Filter::All(fs) | Filter::Any(fs) => fs.iter().try_for_each(Filter::validate),
            Filter::Not(f) => f.validate(),
        }
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &Envelope) -> bool {
        let each = |m: &BTreeMap<String, String>, test: fn(&str, &str) -> bool| {
            m.iter()
                .all(|(k, v)| event.attribute(k).is_some_and(|a| test(&a, v)))
        };
        match self {
            Filter::Exact(m) => each(m, |a, v| a == v),
            Filter::Prefix(m) => each(m, |a, v| a.starts_with(v)),
            Filter::Suffix(m) => each(m, |a, v| a.ends_with(v)),
            Filter::All(fs) => fs.iter().all(|f| f.matches(event)),
            Filter::Any(fs) => fs.iter().any(|f| f.matches(event)),
            Filter::Not(f) => !f.matches(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::HeaderMap;

    fn event(ty: &str, source: &str) -> Envelope {
        let mut h = HeaderMap::new();
        h.insert("ce-specversion", "1.0".parse().unwrap());
        h.insert("ce-id", "1".parse().unwrap());
        h.insert("ce-source", source.parse().unwrap());
        h.insert("ce-type", ty.parse().unwrap());
        Envelope::parse(&h, Bytes::new()).unwrap()
    }

    fn yaml(text: &str) -> Filter {
        let f: Filter = serde_yaml::from_str(text).unwrap();
        f.validate().unwrap();
        f
    }

    #[test]
    fn each_dialect_expression_matches_as_knative_says() {
        let order = event("com.shop.order.created", "/shop/eu");
        let refund = event("com.shop.refund", "/shop/us");
        let cases = [
            ("exact: {type: com.shop.refund}", false, true),
            ("prefix: {type: com.shop.order}", true, false),
            ("suffix: {source: /eu}", true, false),
            (
                "exact: {type: com.shop.refund, source: /shop/eu}",
                false,
                false,
            ),
            (
                "any: [{suffix: {type: .created}}, {exact: {source: /shop/us}}]",
                true,
                true,
            ),
            (
                "all: [{prefix: {type: com.shop}}, {not: {suffix: {source: /us}}}]",
                true,
                false,
            ),
            ("not: {prefix: {type: com.}}", false, false),
            ("exact: {subject: x}", false, false),
            ("all: []", true, true),
            ("any: []", false, false),
        ];
        for (text, a, b) in cases {
            let f = yaml(text);
            assert_eq!((f.matches(&order), f.matches(&refund)), (a, b), "{text}");
        }
    }

    #[test]
    fn legacy_attributes_treat_empty_as_any() {
        let f = Filter::from_attributes(&BTreeMap::from([
            ("type".to_string(), "t".to_string()),
            ("source".to_string(), String::new()),
        ]));
        assert!(f.matches(&event("t", "/anything")));
        assert!(!f.matches(&event("u", "/anything")));
        let f = Filter::from_attributes(&BTreeMap::from([("subject".to_string(), String::new())]));
        assert!(!f.matches(&event("t", "/s")), "the attribute must exist");
        assert!(Filter::from_attributes(&BTreeMap::new()).matches(&event("t", "/s")));
    }

    #[test]
    fn bad_filters_are_refused_with_their_reason() {
        let f: Filter = serde_yaml::from_str("prefix: {type: ''}").unwrap();
        assert_eq!(
            f.validate().unwrap_err().to_string(),
            "`prefix` on attribute \"type\" needs a non-empty value"
        );
        let f: Filter = serde_yaml::from_str("any: [{exact: {}}]").unwrap();
        assert_eq!(
            f.validate().unwrap_err().to_string(),
            "`exact` needs at least one attribute"
        );
        let err = serde_yaml::from_str::<Filter>("cesql: \"type = 'a'\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`cesql` filter is not supported"), "{err}");
        let err = serde_yaml::from_str::<Filter>("{exact: {a: b}, prefix: {a: b}}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly one of"), "{err}");
        let f: Filter = serde_json::from_str(r#"{"not":{"exact":{"type":"a"}}}"#).unwrap();
        assert_eq!(
            f,
            Filter::Not(Box::new(Filter::Exact(BTreeMap::from([(
                "type".into(),
                "a".into()
            )]))))
        );
    }

    #[test]
    fn a_written_filter_reads_back_as_itself() {
        let m = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        let f = Filter::Any(vec![
            Filter::Exact(m("type", "a")),
            Filter::Not(Box::new(Filter::Prefix(m("source", "/x")))),
            Filter::All(vec![Filter::Suffix(m("type", ".b"))]),
        ]);
        let text = serde_json::to_string(&f.written()).unwrap();
        assert_eq!(
            text,
            r#"{"any":[{"exact":{"type":"a"}},{"not":{"prefix":{"source":"/x"}}},{"all":[{"suffix":{"type":".b"}}]}]}"#
        );
        assert_eq!(serde_json::from_str::<Filter>(&text).unwrap(), f);
    }
}
