//! What every SUT's HTTP ingress shares: reading one CloudEvent from a
//! request (413 above the size bound, 400/415 for what is not an event,
//! counted), the 503 of a full SUT, plain answers, and waiting for a data
//! plane to empty on shutdown. The faults it injects are in `faults`.

use crate::counters::{bump, Counters};
use crate::event::{Envelope, NotAnEvent};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use std::time::Duration;

pub use brokerbench_core::serve::text;

/// The event a POST carries, or the 4xx answer (counted as rejected).
pub async fn read_event(
    req: Request<Incoming>,
    max_bytes: usize,
    counters: &Counters,
) -> Result<Envelope, Response<Full<Bytes>>> {
    let refuse = |status, why: String| {
        bump(&counters.rejected);
        text(status, why)
    };
    let (parts, body) = match brokerbench_core::serve::read_body(req, max_bytes).await {
        Ok(read) => read,
        Err(e) => {
            bump(&counters.rejected);
            return Err(brokerbench_core::serve::refuse_body(e));
        }
    };
    Envelope::parse(&parts.headers, body).map_err(|e| {
        let status = match e {
            NotAnEvent::Batch => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        refuse(status, format!("{e}\n"))
    })
}

/// The answer of a SUT that cannot take more now (counted as backpressured).
pub fn full(counters: &Counters, why: &'static str) -> Response<Full<Bytes>> {
    bump(&counters.backpressured);
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, why);
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from(1));
    r
}

/// Waits until `queued()` is 0 or `patience` is over.
pub async fn until_empty(queued: impl Fn() -> u64, patience: Duration) {
    let deadline = tokio::time::Instant::now() + patience;
    while queued() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
