//! A FileAttachment's JSON with `ContentBytes` base64-encoded while the bytes stream from Graph:
//! memory stays flat however large the attachment is.

use axum::body::Body;
use base64::{Engine as _, engine::general_purpose::STANDARD};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};

use super::json::Json;
use crate::graph::GraphBody;

/// `metadata` (a JSON object) with `"<name>":"<base64 of content>"` appended as its last field.
pub(crate) fn object_with_base64(metadata: &Json, name: &str, content: GraphBody) -> Body {
    let mut head = metadata.to_vec();
    // `{…}` → `{…,"ContentBytes":"`; an empty object has no field to separate from.
    head.pop();
    if head.len() > 1 {
        head.push(b',');
    }
    head.extend_from_slice(&serde_json::to_vec(name).unwrap_or_default());
    head.extend_from_slice(b":\"");
    let head = stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) });
    let tail = stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"\"}")) });
    Body::from_stream(head.chain(base64_stream(content)).chain(tail))
}

/// Base64 of a byte stream, chunk by chunk; up to two bytes wait for the next chunk so every
/// piece but the last encodes whole 3-byte groups (no padding mid-stream).
pub(crate) fn base64_stream(
    content: impl futures::Stream<Item = Result<Bytes, crate::graph::GraphError>> + Send + Unpin + 'static,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let state = (content, Vec::<u8>::new(), false);
    stream::unfold(state, |(mut content, mut carry, done)| async move {
        if done {
            return None;
        }
        match content.try_next().await {
            Ok(Some(chunk)) => {
                carry.extend_from_slice(&chunk);
                let whole = carry.len() / 3 * 3;
                let encoded = STANDARD.encode(&carry[..whole]);
                carry.drain(..whole);
                Some((Ok(Bytes::from(encoded)), (content, carry, false)))
            }
            Ok(None) => {
                let encoded = STANDARD.encode(&carry);
                Some((Ok(Bytes::from(encoded)), (content, Vec::new(), true)))
            }
            Err(e) => Some((Err(std::io::Error::other(e)), (content, carry, true))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunk_boundaries_do_not_change_the_encoding() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for size in [1, 2, 3, 4, 5, 7, 64, 999, 1000] {
            let chunks: Vec<Result<Bytes, crate::graph::GraphError>> =
                data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            let encoded: Vec<Bytes> = base64_stream(stream::iter(chunks)).try_collect().await.unwrap();
            assert_eq!(
                encoded.concat(),
                STANDARD.encode(&data).into_bytes(),
                "chunks of {size}"
            );
        }
        let empty: Vec<Bytes> = base64_stream(stream::iter(Vec::new())).try_collect().await.unwrap();
        assert!(empty.concat().is_empty());
    }
}
