//! The pprof HTTP endpoints a role serves on its profiling port (off unless
//! asked for): `/debug/pprof/profile?seconds=N&hz=H` samples the process's
//! CPU for N seconds, H times a second (default [`FREQUENCY`]);
//! `/debug/pprof/heap` dumps jemalloc's sampled heap, its stacks named
//! (resolved in this process: jemalloc_pprof's `symbolize`). Both answer
//! gzipped pprof protobuf, as Go's net/http/pprof does.

use brokerbench_core::serve::Handler;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use pprof::protos::Message;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Samples per second of CPU profiles (Go's default is 100; 99 avoids
/// beating with timers).
pub const FREQUENCY: i32 = 99;
/// Longest CPU profile one request may ask for.
pub const MAX_SECONDS: u64 = 600;
/// Most samples per second a CPU profile may ask for. The kernel delivers
/// the profiling timer's signals at most once per tick (CONFIG_HZ: 250 on
/// the VM this was built on, often 1000): asked for more, a profile gets
/// fewer samples than it weighs each one for, and its CPU time reads low.
pub const MAX_HZ: u32 = 1_000;

/// Serves the pprof endpoints (one CPU profile at a time).
#[derive(Default)]
pub struct Profiles {
    busy: AtomicBool,
}

fn reply(status: StatusCode, body: impl Into<Bytes>, gzip: bool) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let kind = if gzip {
        "application/octet-stream"
    } else {
        "text/plain"
    };
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(kind),
    );
    r
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes)?;
    z.finish()
}

impl Profiles {
    async fn cpu(&self, seconds: u64, hz: u32) -> Response<Full<Bytes>> {
        if self.busy.swap(true, Ordering::AcqRel) {
            return reply(
                StatusCode::CONFLICT,
                "a CPU profile is already being taken\n",
                false,
            );
        }
        let result = async {
            let guard = pprof::ProfilerGuardBuilder::default()
                .frequency(hz as i32)
                .blocklist(&["libc", "libgcc", "pthread", "vdso"])
                .build()
                .map_err(|e| e.to_string())?;
            tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
            let profile = guard
                .report()
                .build()
                .map_err(|e| e.to_string())?
                .pprof()
                .map_err(|e| e.to_string())?;
            gzip(&profile.encode_to_vec()).map_err(|e| e.to_string())
        }
        .await;
        self.busy.store(false, Ordering::Release);
        match result {
            Ok(body) => reply(StatusCode::OK, body, true),
            Err(e) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("CPU profile failed: {e}\n"),
                false,
            ),
        }
    }

    async fn heap(&self) -> Response<Full<Bytes>> {
        let dumped = tokio::task::spawn_blocking(|| {
            let ctl = jemalloc_pprof::PROF_CTL
                .as_ref()
                .ok_or("jemalloc heap profiling is not enabled in this binary")?;
            let mut ctl = ctl.blocking_lock();
            if !ctl.activated() {
                return Err("jemalloc heap profiling is not active");
            }
            ctl.dump_pprof().map_err(|_| "heap dump failed")
        })
        .await;
        match dumped {
            Ok(Ok(body)) => reply(StatusCode::OK, body, true),
            Ok(Err(why)) => reply(StatusCode::NOT_IMPLEMENTED, format!("{why}\n"), false),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"), false),
        }
    }

    /// Answers one request.
    pub async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != http::Method::GET {
            return reply(StatusCode::METHOD_NOT_ALLOWED, "GET only\n", false);
        }
        match req.uri().path() {
            "/debug/pprof/profile" => match (seconds(req.uri().query()), hz(req.uri().query())) {
                (Ok(s), Ok(hz)) => self.cpu(s, hz).await,
                (Err(why), _) | (_, Err(why)) => reply(StatusCode::BAD_REQUEST, why, false),
            },
            "/debug/pprof/heap" => self.heap().await,
            "/debug/pprof/" | "/debug/pprof" => reply(
                StatusCode::OK,
                "profile?seconds=N&hz=H (CPU), heap (jemalloc)\n",
                false,
            ),
            _ => reply(StatusCode::NOT_FOUND, "see /debug/pprof/\n", false),
        }
    }
}

/// The value of `key` in a query string.
fn param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// `hz=H` from a query string (default [`FREQUENCY`]).
fn hz(query: Option<&str>) -> Result<u32, String> {
    let Some(v) = param(query, "hz") else {
        return Ok(FREQUENCY as u32);
    };
    match v.parse::<u32>() {
        Ok(n) if (1..=MAX_HZ).contains(&n) => Ok(n),
        _ => Err(format!("hz={v}: expected 1 to {MAX_HZ}\n")),
    }
}

/// `seconds=N` from a query string (default 30, as Go's).
fn seconds(query: Option<&str>) -> Result<u64, String> {
    let Some(v) = param(query, "seconds") else {
        return Ok(30);
    };
    match v.parse::<u64>() {
        Ok(n) if (1..=MAX_SECONDS).contains(&n) => Ok(n),
        _ => Err(format!("seconds={v}: expected 1 to {MAX_SECONDS}\n")),
    }
}

impl Handler for Profiles {
    fn answer(
        &self,
        req: Request<Incoming>,
    ) -> impl std::future::Future<Output = Response<Full<Bytes>>> + Send {
        Profiles::answer(self, req)
    }
}

/// Serves this process's pprof endpoints on `addr` until `shutdown`, and
/// turns on jemalloc's heap sampling; returns the address bound.
pub async fn serve_here(
    addr: std::net::SocketAddr,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    if let Some(ctl) = jemalloc_pprof::PROF_CTL.as_ref() {
        let _ = ctl.lock().await.activate();
    }
    let bound = listener.local_addr()?;
    tokio::spawn(brokerbench_core::serve::serve(
        std::sync::Arc::new(Profiles::default()),
        listener,
        shutdown,
        std::time::Duration::from_secs(1),
    ));
    Ok(bound)
}

#[cfg(test)]
mod tests {
    #[test]
    fn seconds_are_bounded() {
        assert_eq!(super::seconds(None), Ok(30));
        assert_eq!(super::seconds(Some("seconds=5")), Ok(5));
        assert!(super::seconds(Some("seconds=0"))
            .unwrap_err()
            .contains("seconds=0"));
        assert!(super::seconds(Some("seconds=x")).is_err());
    }
}
