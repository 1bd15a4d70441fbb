//! Capture from any pprof HTTP endpoint: ours, or a Go service's
//! net/http/pprof (a Knative dispatcher on :8008). Writes the profile as
//! `.pb.gz` and a flamegraph SVG rendered from its samples.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use pprof::protos::{Message, Profile};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which profile to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// CPU samples over this many seconds, `hz` a second.
    Cpu { seconds: u64, hz: u32 },
    /// The sampled heap, now.
    Heap,
}

/// Why a capture failed; each is one line.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{0:?} is not an http:// URL")]
    Url(String),
    #[error("{url}: cannot reach it: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url}: answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: the answer is not a pprof profile ({reason})")]
    NotProfile { url: String, reason: String },
    #[error("{path}: {reason}")]
    Write { path: String, reason: String },
}

/// What a capture wrote.
#[derive(Debug, Clone)]
pub struct Captured {
    pub profile: PathBuf,
    pub flamegraph: PathBuf,
    /// The stacks drawn, their sample count and unit.
    pub folded: crate::flame::Folded,
}

/// The endpoint's URL for `kind`: `base` alone gets the standard path.
pub fn endpoint_url(base: &str, kind: Kind) -> String {
    let base = base.trim_end_matches('/');
    let has_path = base.contains("/debug/pprof/");
    match kind {
        Kind::Cpu { seconds, hz } if !has_path => {
            format!("{base}/debug/pprof/profile?seconds={seconds}&hz={hz}")
        }
        Kind::Cpu { seconds, hz } => {
            let mut url = base.to_string();
            for (key, value) in [("seconds", seconds), ("hz", u64::from(hz))] {
                if !url.contains(&format!("{key}=")) {
                    let sep = if url.contains('?') { '&' } else { '?' };
                    url = format!("{url}{sep}{key}={value}");
                }
            }
            url
        }
        Kind::Heap if !has_path => format!("{base}/debug/pprof/heap"),
        _ => base.to_string(),
    }
}

/// A profile as fetched: its bytes (gzipped) and its decoded form.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: String,
    pub gz: Vec<u8>,
    pub profile: Profile,
}

/// Fetches and checks a profile from `base`.
pub async fn fetch(base: &str, kind: Kind) -> Result<Fetched, CaptureError> {
    let url = endpoint_url(base, kind);
    let uri: http::Uri = url
        .parse()
        .map_err(|_| CaptureError::Url(base.to_string()))?;
    if uri.scheme_str() != Some("http") {
        return Err(CaptureError::Url(base.to_string()));
    }
    let wait = match kind {
        Kind::Cpu { seconds, .. } => Duration::from_secs(seconds + 30),
        Kind::Heap => Duration::from_secs(60),
    };
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let unreachable = |reason: String| CaptureError::Unreachable {
        url: url.clone(),
        reason,
    };
    let resp = tokio::time::timeout(wait, client.get(uri))
        .await
        .map_err(|_| unreachable(format!("no answer in {} s", wait.as_secs())))?
        .map_err(|e| {
            unreachable(std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string()))
        })?;
    let status = resp.status();
    let body = tokio::time::timeout(wait, resp.into_body().collect())
        .await
        .map_err(|_| unreachable("the answer did not finish".into()))?
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        return Err(CaptureError::Status {
            url,
            status: status.as_u16(),
            body: text,
        });
    }
    let not_profile = |reason: String| CaptureError::NotProfile {
        url: url.clone(),
        reason,
    };
    let gzipped = body.starts_with(&[0x1f, 0x8b]);
    let raw = if gzipped {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut raw)
            .map_err(|e| not_profile(format!("bad gzip: {e}")))?;
        raw
    } else {
        body.to_vec()
    };
    let profile = Profile::decode(&raw[..]).map_err(|e| not_profile(e.to_string()))?;
    if profile.sample_type.is_empty() || profile.string_table.is_empty() {
        return Err(not_profile("no sample types".into()));
    }
    let gz = if gzipped {
        body.to_vec()
    } else {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&raw)
            .and_then(|_| z.finish())
            .map_err(|e| not_profile(e.to_string()))?
    };
    Ok(Fetched { url, gz, profile })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CaptureError> {
    path.parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| std::fs::write(path, bytes))
        .map_err(|e| CaptureError::Write {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

impl Fetched {
    /// Writes `<out>/<name>.pb.gz`.
    pub fn write_profile(&self, out: &Path, name: &str) -> Result<PathBuf, CaptureError> {
        let path = out.join(format!("{name}.pb.gz"));
        write(&path, &self.gz)?;
        Ok(path)
    }

    /// Writes `<out>/<name>.svg`, a flamegraph of the samples of the threads
    /// `keep` accepts; returns its path and folded stacks. Its title gives
    /// the sample count, and says when they are too few to read.
    pub fn write_flamegraph(
        &self,
        out: &Path,
        name: &str,
        keep: impl Fn(Option<&str>) -> bool,
    ) -> Result<(PathBuf, crate::flame::Folded), CaptureError> {
        let folded = crate::flame::folded_where(&self.profile, keep);
        let path = out.join(format!("{name}.svg"));
        let few = match folded.samples {
            n if n < crate::flame::FEW_SAMPLES => ", too few to read",
            _ => "",
        };
        let title = format!("{name}: {} ({} samples{few})", self.url, folded.samples);
        // An idle process has no samples; say so rather than draw nothing.
        let lines = if folded.lines.is_empty() {
            vec!["no-samples 1".to_string()]
        } else {
            folded.lines.clone()
        };
        let svg =
            crate::flame::svg(&lines, &title, &folded.weight).map_err(|e| CaptureError::Write {
                path: path.display().to_string(),
                reason: e,
            })?;
        write(&path, &svg)?;
        Ok((path, folded))
    }
}

/// Fetches a profile from `base` and writes `<out>/<name>.pb.gz` and
/// `<out>/<name>.svg`.
pub async fn capture(
    base: &str,
    kind: Kind,
    out: &Path,
    name: &str,
) -> Result<Captured, CaptureError> {
    let fetched = fetch(base, kind).await?;
    let profile = fetched.write_profile(out, name)?;
    let (flamegraph, folded) = fetched.write_flamegraph(out, name, |_| true)?;
    Ok(Captured {
        profile,
        flamegraph,
        folded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn endpoint_urls() {
        let cpu = Kind::Cpu { seconds: 5, hz: 99 };
        assert_eq!(
            endpoint_url("http://h:8008", cpu),
            "http://h:8008/debug/pprof/profile?seconds=5&hz=99"
        );
        assert_eq!(
            endpoint_url("http://h:8008/", Kind::Heap),
            "http://h:8008/debug/pprof/heap"
        );
        assert_eq!(
            endpoint_url("http://h/debug/pprof/profile", cpu),
            "http://h/debug/pprof/profile?seconds=5&hz=99"
        );
        // What the URL says is kept (a Go endpoint ignores hz).
        assert_eq!(
            endpoint_url("http://h/debug/pprof/profile?seconds=9", cpu),
            "http://h/debug/pprof/profile?seconds=9&hz=99"
        );
        assert_eq!(
            endpoint_url("http://h/debug/pprof/profile?hz=500&seconds=9", cpu),
            "http://h/debug/pprof/profile?hz=500&seconds=9"
        );
    }

    #[inline(never)]
    fn brokerbench_profile_test_burn(stop: &std::sync::atomic::AtomicBool) -> u64 {
        let mut x = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        x
    }

    async fn serve_profiles() -> (String, tokio_util::sync::CancellationToken) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = tokio_util::sync::CancellationToken::new();
        let profiles = Arc::new(crate::endpoint::Profiles::default());
        tokio::spawn(brokerbench_core::serve::serve(
            profiles,
            listener,
            stop.clone(),
            std::time::Duration::from_secs(1),
        ));
        (url, stop)
    }

    /// The total weight of folded stacks (the last field of each line).
    fn weighed(f: &crate::flame::Folded) -> i64 {
        f.lines
            .iter()
            .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .sum()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_real_capture_names_the_process_functions_and_draws_them() {
        let (url, stop) = serve_profiles().await;
        let burning = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let b = burning.clone();
        let burner = std::thread::spawn(move || brokerbench_profile_test_burn(&b));
        let out = std::env::temp_dir().join(format!("brokerbench-profile-{}", std::process::id()));
        let got = capture(&url, Kind::Cpu { seconds: 1, hz: 99 }, &out, "cpu")
            .await
            .unwrap();
        // Ten times the rate: ten times the samples, each a tenth the CPU.
        let fine = capture(
            &url,
            Kind::Cpu {
                seconds: 1,
                hz: 990,
            },
            &out,
            "fine",
        )
        .await
        .unwrap();
        burning.store(true, std::sync::atomic::Ordering::Relaxed);
        burner.join().unwrap();
        stop.cancel();
        // Samples of one stack are summed into one entry; weigh by CPU time.
        assert_eq!(got.folded.weight, "cpu nanoseconds");
        let cpu_ns = weighed(&got.folded);
        // pprof-rs samples at 100 Hz: a busy thread for 1 s is about 100
        // samples of 10 ms each.
        let n = got.folded.samples;
        assert!(
            (30..=300).contains(&n) && cpu_ns >= 300_000_000,
            "{n} samples, {cpu_ns} ns of CPU in 1 s"
        );
        assert!(
            (cpu_ns as f64 / n as f64 - 1e7).abs() < 2e6,
            "a sample is 10 ms of CPU: {cpu_ns} ns in {n}"
        );
        // Each sample weighs 1/hz; how many come is bounded by the kernel's
        // timer tick (CONFIG_HZ: 250 on the VM this was built on, so at
        // most ~250 a second of CPU whatever is asked), but never fewer
        // than at 99 Hz.
        let fine_ns = weighed(&fine.folded);
        let m = fine.folded.samples;
        assert!(
            m as f64 >= 1.5 * n as f64 && (fine_ns as f64 / m as f64 - 1e9 / 990.0).abs() < 2e5,
            "at 990 Hz a sample is 1 ms of CPU and more of them come: {m} samples ({n} at 99 Hz), {fine_ns} ns"
        );
        let svg = std::fs::read_to_string(&got.flamegraph).unwrap();
        assert!(svg.contains("nanoseconds"), "labelled with its unit");
        assert!(
            svg.contains(&format!("({n} samples")),
            "the count in its title"
        );
        let burn: Vec<&String> = got
            .folded
            .lines
            .iter()
            .filter(|l| l.contains("brokerbench_profile_test_burn"))
            .collect();
        assert!(
            !burn.is_empty(),
            "the busy function is named: {:?}",
            &got.folded.lines[..got.folded.lines.len().min(5)]
        );
        let gz = std::fs::read(&got.profile).unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzipped");
        let svg = std::fs::read_to_string(&got.flamegraph).unwrap();
        assert!(svg.contains("<svg") && svg.contains("brokerbench_profile_test_burn"));
        let _ = std::fs::remove_dir_all(out);
    }

    #[tokio::test]
    async fn a_down_or_garbage_endpoint_is_one_clear_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = std::env::temp_dir();
        let down = capture(&format!("http://127.0.0.1:{port}"), Kind::Heap, &out, "x")
            .await
            .unwrap_err()
            .to_string();
        assert!(down.contains("cannot reach it"), "{down}");
        assert!(!down.contains('\n'));
        // A server that answers 200 with something that is not a profile.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\nconnection: close\r\n\r\nhello, world!").await;
            }
        });
        let garbage = capture(&format!("http://{addr}"), Kind::Heap, &out, "x")
            .await
            .unwrap_err()
            .to_string();
        assert!(garbage.contains("is not a pprof profile"), "{garbage}");
        let bad = capture("ftp://x", Kind::Heap, &out, "x")
            .await
            .unwrap_err()
            .to_string();
        assert!(bad.contains("is not an http:// URL"), "{bad}");
    }
}
