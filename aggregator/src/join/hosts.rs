//! The roles' hosts, as the join reads them: each named, and the CPU
//! quotas and throttling they reported.

use crate::model::RoleQuota;
use brokerbench_core::plan::RunPlan;
use brokerbench_core::wire::{ReceiverReport, Role, SenderReport};

/// Every role's host report, named (`sender 0`), senders then receivers.
pub fn role_hosts<'a>(
    senders: &'a [SenderReport],
    receivers: &'a [ReceiverReport],
) -> Vec<(String, &'a brokerbench_core::wire::HostReport)> {
    let mut hosts: Vec<_> = senders
        .iter()
        .map(|r| (Role::Sender, r.index, &r.host))
        .chain(receivers.iter().map(|r| (Role::Receiver, r.index, &r.host)))
        .collect();
    hosts.sort_by_key(|&(role, i, _)| (role == Role::Receiver, i));
    hosts
        .into_iter()
        .map(|(role, i, h)| (format!("{} {i}", role.name()), h))
        .collect()
}

/// The roles that had a CPU quota or were throttled, with their throttled
/// time over the measured seconds.
pub fn role_quotas(
    plan: &RunPlan,
    senders: &[SenderReport],
    receivers: &[ReceiverReport],
) -> Vec<RoleQuota> {
    let measured = plan.schedule.total_seconds() as usize;
    role_hosts(senders, receivers)
        .into_iter()
        .filter_map(|(role, h)| {
            let seconds =
                &h.throttled_ms_per_second[..h.throttled_ms_per_second.len().min(measured)];
            let throttled_ms: f64 = seconds.iter().map(|&ms| f64::from(ms)).sum();
            (h.cpu_quota_cores.is_some() || throttled_ms > 0.0).then(|| RoleQuota {
                role,
                cpu_quota_cores: h.cpu_quota_cores,
                throttled_ms,
                throttled_seconds: seconds.iter().filter(|&&ms| ms > 0.0).count() as u64,
            })
        })
        .collect()
}
