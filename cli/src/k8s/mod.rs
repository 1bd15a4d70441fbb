//! `brokerbench k8s`: a run on Kubernetes, from manifests to results.
//!
//! Layout:
//! - [`render`]: the manifests of a run (`k8s render`): the roles' Jobs,
//!   Services and ConfigMaps, placement, the run's deadlines.
//! - [`knative`]: the scenario's SUT as Knative's resources, or the
//!   suite's own SUT as a Deployment.
//! - [`yaml`]: the documents as YAML kubectl reads the same way.
//! - [`remote`]: the run seen from the user's machine (`k8s wait`,
//!   `k8s collect`, `k8s delete`).

pub mod knative;
pub mod remote;
pub mod render;
pub mod yaml;
