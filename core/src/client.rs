//! A small JSON-over-HTTP client: what [`crate::session`] speaks to the
//! aggregator with, and the aggregator to a SUT.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;

/// Why a protocol call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad URL {0}")]
    Url(String),
    #[error("{url}: {source}")]
    Http {
        url: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error("{url}: answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: {0}", url = .1)]
    Json(#[source] serde_json::Error, String),
    #[error("{0}: no answer in time")]
    Timeout(String),
    #[error("{0}: the answer broke off: {1}")]
    Body(String, String),
}

/// A URL and the `token` of its query, if any (`http://h:7000/?token=T`
/// -> (`http://h:7000/`, `T`)).
pub fn split_token(url: &str) -> (&str, Option<String>) {
    match url.split_once('?') {
        Some((base, query)) => {
            let token = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("token="))
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            (base, token)
        }
        None => (url, None),
    }
}

/// JSON client for one aggregator.
#[derive(Clone)]
pub struct JsonClient {
    base: String,
    /// The run's token, sent as `Authorization: Bearer` on every request.
    token: Option<String>,
    http: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl JsonClient {
    /// A client for the aggregator at `base` (`http://host:port`); a
    /// `?token=T` on it is the run's token, sent on every request.
    pub fn new(base: &str) -> Self {
        let (base, token) = split_token(base);
        JsonClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// This client, with `token` when its URL said none.
    pub fn or_token(mut self, token: Option<String>) -> Self {
        self.token = self.token.or(token);
        self
    }

    /// The aggregator's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call<R: DeserializeOwned>(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<R, ClientError> {
        let bytes = self.exchange(method, path, body, timeout).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Json(e, format!("{}{}", self.base, path)))
    }

    /// One request to `path` (a JSON `body`, if any); the answer's bytes
    /// when it is a 2xx, within `timeout`.
    pub async fn exchange(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Bytes, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = http::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|_| ClientError::Url(url.clone()))?;
        let exchange = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|source| ClientError::Http {
                    url: url.clone(),
                    source,
                })?;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| ClientError::Body(url.clone(), e.to_string()))?;
            if !status.is_success() {
                return Err(ClientError::Status {
                    url: url.clone(),
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&bytes).trim().to_string(),
                });
            }
            Ok(bytes)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(url.clone()))?
    }

    /// GET `path`, decoding JSON.
    pub async fn get<R: DeserializeOwned>(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<R, ClientError> {
        self.call(http::Method::GET, path, None, timeout).await
    }

    /// POST `body` as JSON to `path`, decoding the JSON answer.
    pub async fn post<T: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
        timeout: Duration,
    ) -> Result<R, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Json(e, path.to_string()))?;
        self.call(http::Method::POST, path, Some(bytes), timeout)
            .await
    }

    /// GET `path` until it answers, retrying every 100 ms for up to `patience`
    /// (for a peer that is still starting).
    pub async fn get_patiently<R: DeserializeOwned>(
        &self,
        path: &str,
        patience: Duration,
    ) -> Result<R, ClientError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match self.get(path, Duration::from_secs(5)).await {
                Ok(r) => return Ok(r),
                Err(e @ (ClientError::Http { .. } | ClientError::Timeout(_))) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// GET `path` until it answers 2xx, every 100 ms for up to `patience`
    /// (a SUT's `/readyz`). The last answer or error is the error.
    pub async fn wait_ready(&self, path: &str, patience: Duration) -> Result<(), ClientError> {
        let url = format!("{}{}", self.base, path);
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let req = http::Request::get(&url)
                .body(Full::new(Bytes::new()))
                .map_err(|_| ClientError::Url(url.clone()))?;
            let outcome =
                match tokio::time::timeout(Duration::from_secs(5), self.http.request(req)).await {
                    Err(_) => Err(ClientError::Timeout(url.clone())),
                    Ok(Err(source)) => Err(ClientError::Http {
                        url: url.clone(),
                        source,
                    }),
                    Ok(Ok(resp)) if resp.status().is_success() => return Ok(()),
                    Ok(Ok(resp)) => {
                        let status = resp.status().as_u16();
                        let body = resp
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        Err(ClientError::Status {
                            url: url.clone(),
                            status,
                            body: String::from_utf8_lossy(&body).trim().to_string(),
                        })
                    }
                };
            if tokio::time::Instant::now() >= deadline {
                return outcome;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
