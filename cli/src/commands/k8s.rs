//! `brokerbench k8s`: render a run's manifests; wait for, collect and
//! delete a run on the cluster (`brokerbench_k8s`).

use crate::args::k8s::{K8sAction, K8sOpts};
use brokerbench_core::env::emit;
use brokerbench_k8s::{remote, render};
use tokio_util::sync::CancellationToken;

pub async fn run(o: K8sOpts, shutdown: CancellationToken) -> anyhow::Result<i32> {
    match o.action {
        K8sAction::Render(r) => {
            let out_dir = r.out_dir.clone();
            let config = r.into_config()?;
            let Some(dir) = out_dir else {
                emit(&render::print(&config));
                return Ok(0);
            };
            let files = render::write_dir(&config, &dir)
                .map_err(|e| anyhow::anyhow!("--out-dir {}: cannot write: {e}", dir.display()))?;
            println!(
                "wrote {} files to {}: kubectl apply -k {}",
                files.len(),
                dir.display(),
                dir.display()
            );
            Ok(0)
        }
        K8sAction::Wait(w) => remote::wait(&w.into_config()?, shutdown).await,
        K8sAction::Collect(c) => remote::collect(&c.into_config()?).await,
        K8sAction::Delete(d) => remote::delete(&d.into_config()?).await,
    }
}
