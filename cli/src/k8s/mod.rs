//! `brokerbench k8s`: a run on Kubernetes, from manifests to results.
//!
//! Layout:
//! - [`render`]: the manifests of a run (`k8s render`).
//! - [`remote`]: the run seen from the user's machine (`k8s wait`,
//!   `k8s collect`, `k8s delete`).

pub mod remote;
pub mod render;
