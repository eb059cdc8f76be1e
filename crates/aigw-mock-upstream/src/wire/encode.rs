//! JSON bodies and SSE frames as bytes: the encoding every wire and the
//! fake OAuth server share.

use bytes::Bytes;
use serde::Serialize;

/// `value` as a JSON body.
pub(crate) fn json_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, serde_json::Error> {
    serde_json::to_vec(value).map(Bytes::from)
}

/// `data: <json>\n\n`.
pub(crate) fn sse_data<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, serde_json::Error> {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut buf, value)?;
    buf.extend_from_slice(b"\n\n");
    Ok(buf.into())
}

/// `event: <name>\ndata: <json>\n\n`.
pub(crate) fn sse_event<T: Serialize + ?Sized>(
    name: &str,
    value: &T,
) -> Result<Bytes, serde_json::Error> {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    serde_json::to_writer(&mut buf, value)?;
    buf.extend_from_slice(b"\n\n");
    Ok(buf.into())
}
