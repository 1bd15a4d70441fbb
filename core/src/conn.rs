//! One HTTP/1.1 keep-alive connection per worker: how the sender publishes
//! and how a SUT dispatcher delivers, with no pool between them and the wire.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpStream;

/// The sending half of one HTTP/1.1 connection.
pub type Conn = SendRequest<Full<Bytes>>;

/// Opens one HTTP/1.1 connection (no Nagle delay); `None` when it cannot.
pub async fn connect(addr: SocketAddr) -> Option<Conn> {
    handshake(tcp(addr).await.ok()?).await.ok()
}

/// A TCP connection to `addr`, without Nagle's delay.
pub async fn tcp(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// HTTP/1.1 over `io` (a TCP stream, or TLS over one); the connection is
/// driven by a task of its own.
pub async fn handshake<T>(io: T) -> Result<Conn, hyper::Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

/// Sends a request and reads the whole answer, so the connection can carry
/// the next one.
pub async fn exchange(
    c: &mut Conn,
    req: Request<Full<Bytes>>,
) -> Result<Response<Bytes>, hyper::Error> {
    let resp = c.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}
