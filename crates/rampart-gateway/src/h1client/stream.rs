//! The byte stream to an upstream: plain TCP, rustls, or (tests) a pipe.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The byte stream to an upstream.
pub(crate) enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// rustls over TCP (boxed: the TLS state is large).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// An in-memory pipe (tests).
    #[cfg(test)]
    Duplex(tokio::io::DuplexStream),
    /// A pipe that holds writes until flushed, as TLS may (tests).
    #[cfg(test)]
    Buffered(tokio::io::BufWriter<tokio::io::DuplexStream>),
    /// Reads fail with this error; writes take everything (tests: errors a
    /// real socket gives only under conditions a test cannot make).
    #[cfg(test)]
    Failing(io::ErrorKind),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(test)]
            Stream::Duplex(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(test)]
            Stream::Buffered(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(test)]
            Stream::Failing(kind) => Poll::Ready(Err((*kind).into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            #[cfg(test)]
            Stream::Duplex(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(test)]
            Stream::Buffered(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(test)]
            Stream::Failing(_) => Poll::Ready(Ok(buf.len())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(test)]
            Stream::Duplex(s) => Pin::new(s).poll_flush(cx),
            #[cfg(test)]
            Stream::Buffered(s) => Pin::new(s).poll_flush(cx),
            #[cfg(test)]
            Stream::Failing(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(test)]
            Stream::Duplex(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(test)]
            Stream::Buffered(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(test)]
            Stream::Failing(_) => Poll::Ready(Ok(())),
        }
    }
}
