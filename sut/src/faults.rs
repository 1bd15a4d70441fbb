//! The faults a SUT's ingress injects when whoever holds its fault token
//! tells it to (`--fault sut-latency`, `sut-5xx`).

use brokerbench_core::serve::text;
use brokerbench_core::session::path::FAULTS;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

/// Faults the ingress injects when told (`PUT /v1/faults?latency_ms=50`,
/// `?status=503`, or nothing to clear): a delay before each request is
/// taken, or a 5xx answer instead of taking it. Only whoever holds the
/// SUT's fault token may tell it (`Authorization: Bearer TOKEN`); a SUT
/// started without one takes no faults at all.
#[derive(Debug, Default)]
pub struct IngressFaults {
    latency_us: AtomicU64,
    status: AtomicU16,
    token: Option<String>,
    /// Requests to `/v1/faults` refused for want of the token (the first
    /// is logged).
    refused: AtomicU64,
}

impl IngressFaults {
    /// Faults told by whoever holds `token` (none taken without one).
    pub fn with_token(token: Option<String>) -> Self {
        IngressFaults {
            token: token.filter(|t| !t.is_empty()),
            ..Default::default()
        }
    }

    /// Answers `PUT /v1/faults`; `None` for any other request.
    pub fn control(&self, req: &Request<Incoming>) -> Option<Response<Full<Bytes>>> {
        let (method, uri) = (req.method(), req.uri());
        if uri.path() != FAULTS {
            return None;
        }
        if method != Method::PUT {
            return Some(text(StatusCode::METHOD_NOT_ALLOWED, "PUT /v1/faults?...\n"));
        }
        let said = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let refuse = |status, why: &str| {
            if self.refused.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!(
                    "sut: refused PUT {FAULTS} ({status}; further ones are counted, not logged)"
                );
            }
            Some(text(status, format!("{why}\n")))
        };
        match (&self.token, said) {
            (None, _) => return refuse(
                StatusCode::FORBIDDEN,
                "this SUT takes no faults: start it with --fault-token (BROKERBENCH_FAULT_TOKEN)",
            ),
            (Some(t), Some(s)) if brokerbench_core::session::same_token(t, s) => {}
            (Some(_), _) => {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "the SUT's fault token is needed: Authorization: Bearer TOKEN",
                )
            }
        }
        let (mut latency_ms, mut status) = (0.0_f64, 0_u16);
        for pair in uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let parsed = match pair.split_once('=') {
                Some(("latency_ms", v)) => v.parse().map(|v| latency_ms = v).is_ok(),
                Some(("status", v)) => v.parse().map(|v| status = v).is_ok(),
                _ => false,
            };
            if !(parsed && (0.0..=MAX_LATENCY_MS).contains(&latency_ms)) {
                return Some(text(
                    StatusCode::BAD_REQUEST,
                    format!("bad fault {pair:?}: latency_ms=MS (at most an hour) or status=5xx\n"),
                ));
            }
        }
        if status != 0 && !(500..600).contains(&status) {
            return Some(text(StatusCode::BAD_REQUEST, "status must be a 5xx\n"));
        }
        self.latency_us
            .store((latency_ms * 1e3) as u64, Ordering::Relaxed);
        self.status.store(status, Ordering::Relaxed);
        Some(text(StatusCode::OK, "ok\n"))
    }

    /// Before an event is taken: waits the injected delay; the injected
    /// answer, if any (counted in `faulted`).
    pub async fn before(&self, faulted: &AtomicU64) -> Option<Response<Full<Bytes>>> {
        let latency = self.latency_us.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_micros(latency)).await;
        }
        let status = self.status.load(Ordering::Relaxed);
        let status = StatusCode::from_u16(status).ok()?;
        faulted.fetch_add(1, Ordering::Relaxed);
        Some(text(status, "fault injected\n"))
    }
}

/// The longest delay a SUT is told to add: an hour, as `--fault` allows.
const MAX_LATENCY_MS: f64 = 3_600_000.0;
