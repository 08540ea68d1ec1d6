//! Streaming a byte range of a local file.
//!
//! `object_store` hands back the open file for local objects; its own stream reads 8 KiB per
//! blocking call, which is slow for video. This reads larger chunks, one blocking call each,
//! and never more than the range.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use crate::error::StorageError;

/// Bytes read per blocking call.
const CHUNK: u64 = 256 * 1024;

/// The bytes of `range` of `file`, in chunks of at most 256 KiB; a file shorter than the range
/// ends the stream with an error rather than short.
pub(crate) fn file_range(
    file: File,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes, StorageError>> {
    let state = Some((file, range.start, range.end));
    stream::try_unfold(state, |state| async move {
        let Some((file, position, end)) = state else {
            return Ok(None);
        };
        if position >= end {
            return Ok(None);
        }
        let (file, chunk) =
            tokio::task::spawn_blocking(move || read_chunk(file, position, end - position))
                .await
                .map_err(|err| unavailable(err.to_string()))??;
        let read = chunk.len() as u64;
        if read == 0 {
            return Err(unavailable("the file is shorter than its size".to_owned()));
        }
        Ok(Some((chunk, Some((file, position + read, end)))))
    })
    .boxed()
}

fn read_chunk(
    mut file: File,
    position: u64,
    remaining: u64,
) -> Result<(File, Bytes), StorageError> {
    let want = remaining.min(CHUNK);
    file.seek(SeekFrom::Start(position))
        .map_err(|err| unavailable(err.to_string()))?;
    let mut buffer = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    (&mut file)
        .take(want)
        .read_to_end(&mut buffer)
        .map_err(|err| unavailable(err.to_string()))?;
    Ok((file, Bytes::from(buffer)))
}

fn unavailable(message: String) -> StorageError {
    StorageError::Unavailable {
        operation: "read",
        message,
    }
}
