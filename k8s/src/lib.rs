//! `brokerbench k8s`: a run on Kubernetes, from manifests to results, built
//! from validated configs ([`config::RenderConfig`], [`remote::Remote`]).
//!
//! Layout:
//! - [`config`]: what a render needs, validated, and the names, ports and
//!   labels its objects share.
//! - [`objects`]: the Kubernetes objects roles are made of (ConfigMaps,
//!   Services, pod templates, Jobs with deadlines, the run's token).
//! - [`render`]: the manifests of a run (`k8s render`): the roles, then
//!   the SUT from [`knative`], as a stream or a kustomization folder.
//! - [`knative`]: the scenario's SUT as Knative's resources, or the
//!   suite's own SUT as a Deployment.
//! - [`yaml`]: the documents as YAML kubectl reads the same way.
//! - [`remote`]: the run seen from the user's machine (`k8s wait`,
//!   `k8s collect`, `k8s delete`).

pub mod config;
pub mod knative;
pub mod objects;
pub mod remote;
pub mod render;
pub mod yaml;
