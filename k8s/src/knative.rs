//! The scenario's SUT: Knative Eventing's resources (InMemoryChannel +
//! Subscriptions, a Broker + Triggers, KafkaChannel, a Kafka Broker, a
//! KafkaSource and its Strimzi KafkaTopic), or the suite's own SUT as a
//! Deployment with its routes in a file of the same shape.

use super::config::{
    RenderConfig, COMPONENT, KAFKA_DIR, PART_OF, RECEIVER_PORT, RUN_LABEL, SUT_DIR, SUT_PORT,
};
use super::objects::{
    config_map, config_volume, container, labels, meta, mount, pod, port, secret_volume, selector,
    service, settings,
};
use super::yaml::yaml;
use brokerbench_sut::spec::Routing;
use brokerbench_sut::Sut;
use serde_json::{json, Map, Value};

/// The scenario's routes: subscription or trigger `k` to the receiver's
/// copy path `/c/k`; a broker's first `matching` triggers take the suite's
/// events, the others filter on types it never sends.
fn routes(c: &RenderConfig) -> Vec<brokerbench_sut::config::Route> {
    let routing = c.scenario.spec().routing.unwrap_or(Routing::Channel);
    let receiver = c.url(&c.object("receiver"), RECEIVER_PORT);
    c.fan_out.routes(
        routing,
        &receiver,
        &brokerbench_sut::config::DeliverySpec::default(),
    )
}

/// The receiver as a Knative destination: its Service, the copy's path.
fn sink(c: &RenderConfig, k: usize) -> Value {
    json!({
        "ref": { "apiVersion": "v1", "kind": "Service", "name": c.object("receiver") },
        "uri": format!("/c/{k}"),
    })
}

/// The scenario's SUT as Knative's resources (none for `direct`).
pub fn knative(c: &RenderConfig) -> Vec<Value> {
    match c.scenario {
        Sut::Direct => Vec::new(),
        Sut::ChannelImc => channel(c, "InMemoryChannel", "messaging.knative.dev/v1", None),
        Sut::ChannelKafka => channel(
            c,
            "KafkaChannel",
            "messaging.knative.dev/v1beta1",
            Some(
                json!({ "numPartitions": c.kafka.partitions, "replicationFactor": c.kafka.replication }),
            ),
        ),
        Sut::BrokerImc => {
            let mut data = Map::new();
            data.insert(
                "channel-template-spec".into(),
                json!("apiVersion: messaging.knative.dev/v1\nkind: InMemoryChannel\n"),
            );
            broker(c, "MTChannelBasedBroker", "broker-channel", data)
        }
        Sut::BrokerKafka => {
            let k = &c.kafka;
            let mut data = Map::new();
            data.insert("bootstrap.servers".into(), json!(k.bootstrap));
            data.insert(
                "default.topic.partitions".into(),
                json!(k.partitions.to_string()),
            );
            data.insert(
                "default.topic.replication.factor".into(),
                json!(k.replication.to_string()),
            );
            broker(c, "Kafka", "kafka-broker-config", data)
        }
        Sut::SourceKafka => kafka_source(c),
    }
}

/// A channel of `kind` and a Subscription per route.
fn channel(c: &RenderConfig, kind: &str, api: &str, spec: Option<Value>) -> Vec<Value> {
    let run = c.name.as_str();
    let mut channel = json!({
        "apiVersion": api, "kind": kind,
        "metadata": meta(c, run, "sut"),
    });
    if let Some(spec) = spec {
        channel["spec"] = spec;
    }
    let channel_ref = json!({ "apiVersion": api, "kind": kind, "name": run });
    let subscriptions = routes(c).into_iter().enumerate().map(|(k, r)| {
        json!({
            "apiVersion": "messaging.knative.dev/v1", "kind": "Subscription",
            "metadata": meta(c, &format!("{run}-{}", r.name), "sut"),
            "spec": { "channel": channel_ref.clone(), "subscriber": sink(c, k) },
        })
    });
    std::iter::once(channel).chain(subscriptions).collect()
}

/// A Broker of `class`, its config in a ConfigMap (`<run>-<config>`
/// holding `data`), and a Trigger per route.
fn broker(c: &RenderConfig, class: &str, config: &str, data: Map<String, Value>) -> Vec<Value> {
    let (run, ns) = (c.name.as_str(), &c.namespace);
    let cm = format!("{run}-{config}");
    let broker = json!({
        "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
        "metadata": {
            "name": run, "namespace": ns, "labels": labels(c, "sut"),
            "annotations": { "eventing.knative.dev/broker.class": class },
        },
        "spec": { "config": { "apiVersion": "v1", "kind": "ConfigMap", "name": cm, "namespace": ns } },
    });
    let triggers = routes(c).into_iter().enumerate().map(|(k, r)| {
        let mut spec = json!({ "broker": run, "subscriber": sink(c, k) });
        // Exact matches as Knative's filter.attributes; the others in the
        // `filters` dialect (Knative 1.12+).
        match &r.filter {
            brokerbench_sut::filter::Filter::Exact(m) => {
                spec["filter"] = json!({ "attributes": m })
            }
            f => spec["filters"] = json!([f.written()]),
        }
        json!({
            "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
            "metadata": meta(c, &format!("{run}-{}", r.name), "sut"),
            "spec": spec,
        })
    });
    [config_map(c, &cm, "sut", data), broker]
        .into_iter()
        .chain(triggers)
        .collect()
}

/// The Kafka source: its topic (a Strimzi KafkaTopic) and the KafkaSource
/// that delivers from it to the receiver.
fn kafka_source(c: &RenderConfig) -> Vec<Value> {
    let (run, ns, k) = (c.name.as_str(), &c.namespace, &c.kafka);
    vec![
        json!({
            "apiVersion": format!("kafka.strimzi.io/{}", k.strimzi_api), "kind": "KafkaTopic",
            "metadata": {
                "name": c.topic(), "namespace": k.topic_namespace,
                "labels": {
                    "strimzi.io/cluster": k.strimzi_cluster,
                    PART_OF.0: PART_OF.1, RUN_LABEL: run, COMPONENT: "sut",
                },
            },
            "spec": { "partitions": k.partitions, "replicas": k.replication },
        }),
        json!({
            "apiVersion": "sources.knative.dev/v1beta1", "kind": "KafkaSource",
            "metadata": meta(c, run, "sut"),
            "spec": {
                "consumerGroup": format!("{run}-{ns}"),
                "bootstrapServers": k.bootstrap.split(',').collect::<Vec<_>>(),
                "topics": [c.topic()],
                "sink": sink(c, 0),
            },
        }),
    ]
}

/// The suite's own SUT for the scenario: its routes in a config file (the
/// Knative specs' shape), a Deployment and a Service.
pub fn suite_sut(c: &RenderConfig) -> Vec<Value> {
    let run = &c.name;
    let name = format!("{run}-sut");
    let routing = c.scenario.spec().routing;
    let routes: Vec<Value> = routes(c)
        .iter()
        .map(|r| match routing {
            Some(Routing::Broker) => {
                json!({ "name": r.name, "subscriber": r.subscriber, "filters": [r.filter.written()] })
            }
            _ => json!({ "name": r.name, "subscriber": r.subscriber }),
        })
        .collect();
    let key = match routing {
        Some(Routing::Broker) => "triggers",
        _ => "subscriptions",
    };
    let mut file = Map::new();
    file.insert(key.into(), json!(routes));
    let mut routes_cm = Map::new();
    routes_cm.insert("routes.yaml".into(), json!(yaml(&Value::Object(file))));
    let mut pairs = vec![
        ("listen", format!("0.0.0.0:{SUT_PORT}")),
        ("config", format!("{SUT_DIR}/routes.yaml")),
        ("threads", c.fan_out.sut_threads.to_string()),
    ];
    if c.scenario.on_kafka() {
        pairs.push(("kafka-bootstrap", c.kafka.bootstrap.clone()));
        pairs.push(("partitions", c.kafka.partitions.to_string()));
        pairs.push(("replication", c.kafka.replication.to_string()));
        pairs.push(("topic", c.topic()));
    }
    let kafka = c.kafka_secret.as_ref().filter(|_| c.scenario.on_kafka());
    if kafka.is_some() {
        pairs.push((
            "kafka-config-file",
            format!("{KAFKA_DIR}/client.properties"),
        ));
    }
    let scenario = c.scenario.to_string();
    let mut ctr = container(
        c,
        "sut",
        &["sut", &scenario],
        &name,
        None,
        &c.sut,
        &[("ingress", SUT_PORT)],
    );
    ctr["readinessProbe"] =
        json!({ "httpGet": { "path": "/readyz", "port": SUT_PORT }, "periodSeconds": 2 });
    mount(&mut ctr, "routes", SUT_DIR);
    let routes_name = format!("{run}-sut-routes");
    let mut volumes = vec![config_volume("routes", &routes_name)];
    if let Some(secret) = kafka {
        mount(&mut ctr, "kafka", KAFKA_DIR);
        volumes.push(secret_volume("kafka", secret));
    }
    let template = pod(c, "sut", ctr, volumes);
    vec![
        config_map(c, &name, "sut", settings(&pairs)),
        config_map(c, &routes_name, "sut", routes_cm),
        service(c, &name, "sut", json!([port("ingress", SUT_PORT)]), false),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta(c, &name, "sut"),
            "spec": {
                "replicas": 1,
                "selector": { "matchLabels": selector(c, "sut") },
                "template": template,
            },
        }),
    ]
}
