//! The SUT's network namespace, for cuts (`sut-cut`).

use anyhow::Context;
use std::process::{Command, Stdio};

/// A network namespace for the SUT, joined to this one by a veth pair
/// (`10.231.x.y/30`). A cut (`sut-cut`) drops every packet in and out of
/// the namespace (an nftables table of its own there), as a partition
/// does: packets vanish, connections stall. The links stay up, so nothing
/// meant for the SUT is routed anywhere else meanwhile.
pub struct Netns {
    pub(crate) name: String,
    host_if: String,
    /// This side's address, where the SUT reaches the receiver.
    pub host_ip: std::net::Ipv4Addr,
    /// The SUT's address.
    pub sut_ip: std::net::Ipv4Addr,
}

impl Netns {
    /// Creates it (needs root and `ip`); the error says what failed.
    pub fn create() -> anyhow::Result<Netns> {
        // Named by the run's process, so one left by a run that could not
        // clean up (killed, or quit on a second signal) is known as stale.
        let pid = std::process::id();
        for name in remove_stale(pid) {
            eprintln!("brokerbench: removed the network namespace {name} and its veth pair, left by a run whose process is gone");
        }
        let id = pid % 16_384;
        let (third, fourth) = ((id / 64) as u8, ((id % 64) * 4) as u8);
        let ns = Netns {
            name: format!("{NETNS_PREFIX}{pid}"),
            host_if: format!("bbh{pid}"),
            host_ip: std::net::Ipv4Addr::new(10, 231, third, fourth + 1),
            sut_ip: std::net::Ipv4Addr::new(10, 231, third, fourth + 2),
        };
        let sut_if = format!("bbs{pid}");
        let (host, sut) = (format!("{}/30", ns.host_ip), format!("{}/30", ns.sut_ip));
        let steps: [&[&str]; 8] = [
            &["netns", "add", &ns.name],
            &[
                "link",
                "add",
                &ns.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &sut_if,
            ],
            &["link", "set", &sut_if, "netns", &ns.name],
            &["addr", "add", &host, "dev", &ns.host_if],
            &["link", "set", &ns.host_if, "up"],
            &["-n", &ns.name, "addr", "add", &sut, "dev", &sut_if],
            &["-n", &ns.name, "link", "set", &sut_if, "up"],
            &["-n", &ns.name, "link", "set", "lo", "up"],
        ];
        let needs = "sut-cut runs the SUT in a network namespace of its own, which needs root, iproute2 (ip netns) and nftables";
        for step in steps {
            ip(step).context(needs)?;
        }
        // nft is there and works in it, before the run counts on it.
        ns.nft("list tables\n").context(needs)?;
        Ok(ns)
    }

    /// Cuts the namespace off (`true`) or joins it again.
    pub fn cut(&self, off: bool) -> anyhow::Result<()> {
        let rules = match off {
            true => {
                "table inet brokerbench_cut {\n\
                     chain in { type filter hook input priority 0; policy drop; }\n\
                     chain out { type filter hook output priority 0; policy drop; }\n}\n"
            }
            false => "delete table inet brokerbench_cut\n",
        };
        self.nft(rules)
    }

    /// Runs nftables commands in the namespace.
    fn nft(&self, rules: &str) -> anyhow::Result<()> {
        let mut nft = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run nft (nftables) in the SUT's namespace")?;
        {
            use std::io::Write;
            let mut stdin = nft.stdin.take().context("nft's input")?;
            stdin.write_all(rules.as_bytes())?;
        }
        let out = nft.wait_with_output()?;
        if !out.status.success() {
            anyhow::bail!("nft: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // The veth pair goes with the namespace.
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}

/// The name of a run's network namespace: this and the run's pid.
pub const NETNS_PREFIX: &str = "brokerbench-";

/// Removes the namespaces (and veth pairs) of runs whose process is gone;
/// their names.
fn remove_stale(own: u32) -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(NETNS_PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != own && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
            let _ = ip(&["link", "del", &format!("bbh{pid}")]);
            removed.push(name.to_string());
        }
    }
    removed
}

/// Runs `ip ARGS`; its complaint as the error.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run ip (iproute2)")?;
    if !out.status.success() {
        anyhow::bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
