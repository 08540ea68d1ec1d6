//! S3 storage against a real S3-compatible server on loopback (moto, from `.ci/venv`):
//! multipart uploads of several parts, range reads, head, delete, retention listing, and a
//! presigned URL fetched like a browser would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use chrono::Utc;
use futures::stream::{self, StreamExt, TryStreamExt};
use taskgate_outputs::{ByteRange, ObjectKey, PutError, S3Settings, Secret, Storage, StorageError};

use common::moto::MotoServer;
use common::{
    assert_range_matches, pattern_byte, pattern_sha256, pattern_stream, stored_sha256, MIB,
};

const BUCKET: &str = "taskgate-outputs";
/// Three parts of 8 MiB, 8 MiB and 4 MiB.
const SIZE: u64 = 20 * MIB;

fn settings(endpoint: &str) -> S3Settings {
    S3Settings {
        bucket: BUCKET.to_owned(),
        prefix: "prod/outputs/".to_owned(),
        region: "us-east-1".to_owned(),
        endpoint: Some(endpoint.to_owned()),
        access_key_id: Some(Secret::new("AKIDTESTKEY")),
        secret_access_key: Some(Secret::new("test-secret-access-key")),
    }
}

#[tokio::test]
async fn s3_storage_round_trip_on_a_real_server() {
    let Some(moto) = MotoServer::start().await else {
        return;
    };
    moto.create_bucket(BUCKET).await;
    let storage = Storage::s3(&settings(&moto.endpoint)).unwrap();
    let debug = format!("{storage:?}");
    assert!(
        !debug.contains("test-secret-access-key") && !debug.contains("AKIDTESTKEY"),
        "{debug}"
    );

    let key = ObjectKey::new("acme", "task_01JS3", 0, "mp4").unwrap();
    assert_eq!(storage.full_key(&key), "prod/outputs/acme/task_01JS3/0.mp4");
    let stored = storage
        .put_stream(&key, "video/mp4", pattern_stream(SIZE, 256 * 1024))
        .await
        .unwrap();
    assert_eq!(stored, SIZE);

    let head = storage.head(&key).await.unwrap();
    assert_eq!(head.size, SIZE);
    // A multipart upload's entity tag ends in the number of parts.
    let e_tag = head.e_tag.clone().unwrap();
    assert!(e_tag.trim_matches('"').ends_with("-3"), "{e_tag}");

    assert_eq!(
        stored_sha256(&storage, &key).await,
        (pattern_sha256(SIZE), SIZE)
    );
    let across_parts = ByteRange::Inclusive {
        first: 8 * MIB - 5,
        last: 8 * MIB + 5,
    };
    assert_eq!(
        assert_range_matches(&storage, &key, Some(across_parts)).await,
        11
    );
    assert_eq!(
        assert_range_matches(&storage, &key, Some(ByteRange::Suffix(4096))).await,
        4096
    );
    assert!(matches!(
        storage.get_range(&key, Some(ByteRange::From(SIZE))).await,
        Err(StorageError::RangeNotSatisfiable { size: SIZE })
    ));

    // The presigned URL works for anyone, without our keys, and returns the same bytes.
    let url = storage
        .presigned_get(&key, Duration::from_secs(600))
        .await
        .unwrap();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/{BUCKET}/prod/outputs/", moto.endpoint)),
        "{url}"
    );
    assert!(
        url.query().unwrap_or_default().contains("X-Amz-Signature"),
        "{url}"
    );
    let response = reqwest::Client::new()
        .get(url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    let bytes = response.bytes().await.unwrap();
    let expected: Vec<u8> = (100..200).map(pattern_byte).collect();
    assert_eq!(bytes.as_ref(), expected.as_slice());

    let other = ObjectKey::new("acme", "task_01JS3", 1, "png").unwrap();
    storage
        .put_stream(&other, "image/png", pattern_stream(1000, 1000))
        .await
        .unwrap();
    let in_a_minute = Utc::now() + chrono::Duration::minutes(1);
    let mut listed: Vec<_> = storage
        .list_older_than(in_a_minute)
        .try_collect()
        .await
        .unwrap();
    listed.sort_by_key(|info| info.key.to_string());
    let keys: Vec<_> = listed.iter().map(|info| info.key.clone()).collect();
    assert_eq!(keys, [key.clone(), other.clone()]);
    assert_eq!(listed[0].size, SIZE);
    let an_hour_ago = Utc::now() - chrono::Duration::hours(1);
    let old: Vec<_> = storage
        .list_older_than(an_hour_ago)
        .try_collect()
        .await
        .unwrap();
    assert!(old.is_empty(), "{old:?}");

    for key in [&key, &other] {
        storage.delete(key).await.unwrap();
        assert!(matches!(
            storage.head(key).await,
            Err(StorageError::NotFound { .. })
        ));
    }
    storage.delete(&key).await.unwrap();
    let left: Vec<_> = storage
        .list_older_than(in_a_minute)
        .try_collect()
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn s3_upload_failing_mid_body_leaves_no_object() {
    let Some(moto) = MotoServer::start().await else {
        return;
    };
    moto.create_bucket(BUCKET).await;
    let storage = Storage::s3(&settings(&moto.endpoint)).unwrap();
    let key = ObjectKey::new("acme", "task_01JS3", 0, "mp4").unwrap();
    // 10 MiB, then the body fails: one 8 MiB part is already uploaded.
    let body = pattern_stream(10 * MIB, MIB)
        .map(|chunk| chunk.map_err(|never| match never {}))
        .chain(stream::once(async { Err("upstream broke") }));
    let err = storage
        .put_stream(&key, "video/mp4", body)
        .await
        .unwrap_err();
    assert!(matches!(err, PutError::Body("upstream broke")), "{err:?}");
    assert!(matches!(
        storage.head(&key).await,
        Err(StorageError::NotFound { .. })
    ));
    // The uploaded part went with the aborted upload.
    assert_eq!(moto.open_uploads(BUCKET).await, 0);
}

#[tokio::test]
async fn s3_missing_bucket_is_storage_refusing() {
    let Some(moto) = MotoServer::start().await else {
        return;
    };
    let mut settings = settings(&moto.endpoint);
    settings.bucket = "no-such-bucket".to_owned();
    let storage = Storage::s3(&settings).unwrap();
    let key = ObjectKey::new("acme", "task_1", 0, "mp4").unwrap();
    let err = storage
        .put_stream(&key, "video/mp4", pattern_stream(10, 10))
        .await
        .unwrap_err();
    eprintln!("missing bucket: {err}");
    assert!(
        matches!(err, PutError::Storage(StorageError::Refused { .. })),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains("test-secret-access-key"), "{text}");
}
