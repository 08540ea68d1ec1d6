//! Local storage on a real temp folder: multi-megabyte streamed uploads, range reads, head,
//! delete, retention listing, and keys that must not escape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use chrono::Utc;
use futures::stream::{self, StreamExt, TryStreamExt};
use taskgate_outputs::{
    ByteRange, ObjectKey, OutputId, PutError, S3Settings, Storage, StorageError,
};

use common::{assert_range_matches, files_under, pattern_stream, TempDir, MIB};

const SIZE: u64 = 20 * MIB;

#[tokio::test]
async fn put_stream_of_20_mib_reads_back_by_range() {
    let dir = TempDir::new("local-put");
    let storage = Storage::local(dir.path()).unwrap();
    let key = ObjectKey::new("acme", "task_01JLOCAL", 0, "mp4").unwrap();

    let stored = storage
        .put_stream(&key, "video/mp4", pattern_stream(SIZE, 64 * 1024))
        .await
        .unwrap();
    assert_eq!(stored, SIZE);
    assert_eq!(files_under(dir.path()), ["acme/task_01JLOCAL/0.mp4"]);

    let head = storage.head(&key).await.unwrap();
    assert_eq!(head.size, SIZE);
    assert_eq!(head.key, key);
    assert!(head.e_tag.is_some());
    assert!(head.last_modified <= Utc::now());

    assert_eq!(assert_range_matches(&storage, &key, None).await, SIZE);
    let middle = ByteRange::Inclusive {
        first: 5 * MIB - 10,
        last: 9 * MIB + 10,
    };
    assert_eq!(
        assert_range_matches(&storage, &key, Some(middle)).await,
        4 * MIB + 21
    );
    assert_eq!(
        assert_range_matches(&storage, &key, Some(ByteRange::From(SIZE - 100))).await,
        100
    );
    assert_eq!(
        assert_range_matches(&storage, &key, Some(ByteRange::Suffix(1000))).await,
        1000
    );
    let read = storage
        .get_range(&key, Some(ByteRange::Suffix(1)))
        .await
        .unwrap();
    assert_eq!((read.size, read.range), (SIZE, SIZE - 1..SIZE));

    let past_the_end = storage.get_range(&key, Some(ByteRange::From(SIZE))).await;
    assert!(matches!(
        past_the_end,
        Err(StorageError::RangeNotSatisfiable { size: SIZE })
    ));
}

#[tokio::test]
async fn delete_removes_the_object_and_repeats_quietly() {
    let dir = TempDir::new("local-delete");
    let storage = Storage::local(dir.path()).unwrap();
    let key = ObjectKey::new("acme", "task_1", 2, "png").unwrap();
    storage
        .put_stream(&key, "image/png", pattern_stream(1000, 100))
        .await
        .unwrap();

    storage.delete(&key).await.unwrap();
    assert!(matches!(
        storage.head(&key).await,
        Err(StorageError::NotFound { .. })
    ));
    assert!(matches!(
        storage.get_range(&key, None).await,
        Err(StorageError::NotFound { .. })
    ));
    storage.delete(&key).await.unwrap();
    assert_eq!(files_under(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn empty_object_is_stored_and_read_as_empty() {
    let dir = TempDir::new("local-empty");
    let storage = Storage::local(dir.path()).unwrap();
    let key = ObjectKey::new("acme", "task_1", 0, "bin").unwrap();
    let stored = storage
        .put_stream(&key, "application/octet-stream", pattern_stream(0, 100))
        .await
        .unwrap();
    assert_eq!(stored, 0);
    assert_eq!(assert_range_matches(&storage, &key, None).await, 0);
    assert!(matches!(
        storage.get_range(&key, Some(ByteRange::Suffix(1))).await,
        Err(StorageError::RangeNotSatisfiable { size: 0 })
    ));
}

#[tokio::test]
async fn a_failing_body_aborts_and_leaves_nothing() {
    let dir = TempDir::new("local-abort");
    let storage = Storage::local(dir.path()).unwrap();
    let key = ObjectKey::new("acme", "task_1", 0, "mp4").unwrap();
    // 12 MiB, then the body fails: one part is already written to the staging file.
    let body = pattern_stream(12 * MIB, MIB)
        .map(|chunk| chunk.map_err(|never| match never {}))
        .chain(stream::once(async { Err("upstream broke") }));

    let err = storage
        .put_stream(&key, "video/mp4", body)
        .await
        .unwrap_err();
    assert!(matches!(err, PutError::Body("upstream broke")));
    assert!(matches!(
        storage.head(&key).await,
        Err(StorageError::NotFound { .. })
    ));
    assert_eq!(files_under(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn list_older_than_finds_old_outputs_only() {
    let dir = TempDir::new("local-list");
    let storage = Storage::local(dir.path()).unwrap();
    let old = ObjectKey::new("acme", "task_old", 0, "mp4").unwrap();
    let new = ObjectKey::new("acme", "task_new", 1, "jpg").unwrap();
    for key in [&old, &new] {
        storage
            .put_stream(key, "video/mp4", pattern_stream(10, 10))
            .await
            .unwrap();
    }
    let forty_days = Duration::from_secs(40 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(dir.path().join("acme/task_old/0.mp4"))
        .unwrap()
        .set_modified(SystemTime::now() - forty_days)
        .unwrap();
    // Files that are not output keys are never listed, however old.
    for foreign in ["notes.txt", "acme/task_old/readme", "acme/task_old/01.mp4"] {
        let path = dir.path().join(foreign);
        std::fs::write(&path, b"not an output").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(SystemTime::now() - forty_days)
            .unwrap();
    }

    let thirty_days_ago = Utc::now() - chrono::Duration::days(30);
    let listed: Vec<_> = storage
        .list_older_than(thirty_days_ago)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].key, old);
    assert_eq!(listed[0].size, 10);

    let in_a_minute = Utc::now() + chrono::Duration::minutes(1);
    let mut all: Vec<_> = storage
        .list_older_than(in_a_minute)
        .try_collect()
        .await
        .unwrap();
    all.sort_by_key(|info| info.key.to_string());
    let keys: Vec<_> = all.iter().map(|info| info.key.clone()).collect();
    assert_eq!(keys, [new, old]);
}

#[tokio::test]
async fn keys_that_could_escape_are_refused() {
    for (tenant, task) in [
        ("..", "task_1"),
        ("acme", "../etc"),
        ("acme", "a/b"),
        ("a/..", "t"),
    ] {
        assert!(
            OutputId::new(tenant, task, 0).is_err(),
            "{tenant:?} {task:?}"
        );
        assert!(
            ObjectKey::new(tenant, task, 0, "mp4").is_err(),
            "{tenant:?} {task:?}"
        );
    }
    assert!(ObjectKey::new("acme", "task_1", 0, "../x").is_err());

    let mut s3 = S3Settings::new("bucket", "us-east-1");
    s3.prefix = "outputs/../../elsewhere".to_owned();
    assert!(matches!(Storage::s3(&s3), Err(StorageError::InvalidKey(_))));
}

#[tokio::test]
async fn presigned_urls_are_for_s3_only() {
    let dir = TempDir::new("local-presign");
    let storage = Storage::local(dir.path()).unwrap();
    let key = ObjectKey::new("acme", "task_1", 0, "mp4").unwrap();
    let err = storage
        .presigned_get(&key, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Unsupported { .. }));
    assert!(!err.is_retryable());
}
