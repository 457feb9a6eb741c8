//! Request body framing (sans I/O): Content-Length and chunked, decoded from the
//! connection's read buffer with the same strictness as the HTTP/1 guard (hex
//! sizes of at most 16 digits, CRLF line ends only, bounded extensions and
//! trailers). Trailers are read and dropped.

use bytes::{Bytes, BytesMut};

/// Longest chunk-size line (digits, extensions, CRLF) accepted.
const MAX_SIZE_LINE: usize = 4096;

/// Why a request body could not be decoded. Each ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// A chunk-size line was not hex digits (optionally with extensions) + CRLF.
    #[error("malformed chunk size")]
    ChunkSize,
    /// Chunk data was not followed by CRLF.
    #[error("malformed chunk end")]
    ChunkEnd,
    /// A chunk-size line or the trailers were longer than allowed.
    #[error("chunk framing too long")]
    TooLong,
    /// A trailer line did not end in CRLF.
    #[error("malformed trailer")]
    Trailer,
    /// The client closed the connection before the body ended.
    #[error("connection closed before the request body ended")]
    Incomplete,
}

/// What one decoding step produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The buffer holds no complete next piece: read more.
    NeedMore,
    /// The body ended.
    Done,
}

/// Where a body's decoding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    /// `n` more bytes of a Content-Length body.
    Length(u64),
    /// A chunked body.
    Chunked(Chunk),
    /// Finished.
    Done,
}

/// The chunked state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// At a chunk-size line.
    Size,
    /// Inside a chunk's data, `n` bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk, `seen` trailer bytes so far.
    Trailers {
        /// Trailer bytes consumed.
        seen: usize,
    },
}

impl Decoder {
    /// A decoder for a body of `length` bytes.
    pub fn length(length: u64) -> Self {
        if length == 0 {
            Decoder::Done
        } else {
            Decoder::Length(length)
        }
    }

    /// A decoder for a chunked body.
    pub fn chunked() -> Self {
        Decoder::Chunked(Chunk::Size)
    }

    /// Whether the body has ended.
    pub fn is_done(&self) -> bool {
        matches!(self, Decoder::Done)
    }

    /// Takes the next piece of the body from the front of `buf` (consuming the
    /// framing bytes). `max_trailers` bounds the trailer section.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        max_trailers: usize,
    ) -> Result<Decoded, BodyError> {
        loop {
            match *self {
                Decoder::Done => return Ok(Decoded::Done),
                Decoder::Length(remaining) => {
                    let Some((data, left)) = take_up_to(buf, remaining) else {
                        return Ok(Decoded::NeedMore);
                    };
                    *self = if left == 0 {
                        Decoder::Done
                    } else {
                        Decoder::Length(left)
                    };
                    return Ok(Decoded::Data(data));
                }
                Decoder::Chunked(Chunk::Size) => {
                    let Some(size) = size_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    *self = Decoder::Chunked(if size == 0 {
                        Chunk::Trailers { seen: 0 }
                    } else {
                        Chunk::Data(size)
                    });
                }
                Decoder::Chunked(Chunk::Data(remaining)) => {
                    let Some((data, left)) = take_up_to(buf, remaining) else {
                        return Ok(Decoded::NeedMore);
                    };
                    *self = Decoder::Chunked(if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    });
                    return Ok(Decoded::Data(data));
                }
                Decoder::Chunked(Chunk::DataEnd) => {
                    match (buf.first(), buf.get(1)) {
                        (None, _) | (Some(b'\r'), None) => return Ok(Decoded::NeedMore),
                        (Some(b'\r'), Some(b'\n')) => {}
                        _ => return Err(BodyError::ChunkEnd),
                    }
                    let _ = buf.split_to(2);
                    *self = Decoder::Chunked(Chunk::Size);
                }
                Decoder::Chunked(Chunk::Trailers { seen }) => {
                    let Some(line_end) = memchr::memchr(b'\n', buf) else {
                        if seen + buf.len() > max_trailers {
                            return Err(BodyError::TooLong);
                        }
                        return Ok(Decoded::NeedMore);
                    };
                    let line = buf.split_to(line_end + 1);
                    let seen = seen + line.len();
                    if seen > max_trailers {
                        return Err(BodyError::TooLong);
                    }
                    // CRLF only, and no bare CR inside the line.
                    let Some(content) = line.strip_suffix(b"\r\n") else {
                        return Err(BodyError::Trailer);
                    };
                    if content.contains(&b'\r') || content.contains(&0) {
                        return Err(BodyError::Trailer);
                    }
                    *self = if content.is_empty() {
                        Decoder::Done
                    } else {
                        Decoder::Chunked(Chunk::Trailers { seen })
                    };
                }
            }
        }
    }
}

/// Up to `remaining` body bytes from the front of `buf`, and how many are still
/// owed after them; `None` when `buf` is empty.
fn take_up_to(buf: &mut BytesMut, remaining: u64) -> Option<(Bytes, u64)> {
    if buf.is_empty() {
        return None;
    }
    let take = usize::try_from(remaining)
        .unwrap_or(usize::MAX)
        .min(buf.len());
    Some((buf.split_to(take).freeze(), remaining - take as u64))
}

/// Parses and consumes a complete chunk-size line at the front of `buf`:
/// `1*16HEXDIG [ (";" / SP / HTAB) ext ] CRLF`. `None` while incomplete.
fn size_line(buf: &mut BytesMut) -> Result<Option<u64>, BodyError> {
    let mut value: u64 = 0;
    let mut digits = 0usize;
    let mut pos = 0usize;
    while let Some(&byte) = buf.get(pos) {
        match (byte as char).to_digit(16) {
            Some(digit) => {
                digits += 1;
                if digits > 16 {
                    return Err(BodyError::ChunkSize);
                }
                value = value << 4 | u64::from(digit);
                pos += 1;
            }
            None => break,
        }
    }
    let Some(&next) = buf.get(pos) else {
        return Ok(None);
    };
    if digits == 0 {
        return Err(BodyError::ChunkSize);
    }
    if next != b'\r' && next != b';' && next != b' ' && next != b'\t' {
        return Err(BodyError::ChunkSize);
    }
    // The extension (ignored) runs to the CR; no bare LF or control bytes in it.
    let rest = buf.get(pos..).unwrap_or_default();
    let Some(cr) = memchr::memchr(b'\r', rest) else {
        if rest.contains(&b'\n') {
            return Err(BodyError::ChunkSize);
        }
        if buf.len() > MAX_SIZE_LINE {
            return Err(BodyError::TooLong);
        }
        return Ok(None);
    };
    let extension = rest.get(..cr).unwrap_or_default();
    if extension
        .iter()
        .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(BodyError::ChunkSize);
    }
    let end = pos + cr;
    if end + 2 > MAX_SIZE_LINE {
        return Err(BodyError::TooLong);
    }
    match buf.get(end + 1) {
        None => return Ok(None),
        Some(b'\n') => {}
        Some(_) => return Err(BodyError::ChunkSize),
    }
    let _ = buf.split_to(end + 2);
    Ok(Some(value))
}

/// Fuzzing entry point: decodes `input` fed in pieces of `step` bytes and
/// returns the body bytes and the outcome (`Ok(true)` when the body ended).
#[doc(hidden)]
pub fn fuzz_decode(input: &[u8], step: usize, chunked: bool) -> (Vec<u8>, Result<bool, BodyError>) {
    let mut decoder = if chunked {
        Decoder::chunked()
    } else {
        Decoder::length(input.len() as u64 / 2)
    };
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in input.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf, 8192) {
                Ok(Decoded::Data(data)) => out.extend_from_slice(&data),
                Ok(Decoded::NeedMore) => break,
                Ok(Decoded::Done) => return (out, Ok(true)),
                Err(error) => return (out, Err(error)),
            }
        }
    }
    (out, Ok(false))
}
