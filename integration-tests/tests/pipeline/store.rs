//! The media store against a real S3-compatible server (Garage): what the local folder does, the
//! bucket does too, and its failures are classified for retries.

use bytes::Bytes;
use futures::TryStreamExt;
use slate_activities::{
    providers::Secret,
    storage::{MediaStore, S3Settings, StoreError, StoreSettings},
};
use slate_integration_tests::s3::TestBucket;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_bucket_stores_reads_by_range_lists_and_deletes_like_the_local_folder() {
    let bucket = TestBucket::new();
    let store = bucket.store();
    let key = "runs/r/0/1/1/still-01.png";
    store.put(key, &b"0123456789"[..]).await.unwrap();
    assert!(store.exists(key).await.unwrap());
    assert_eq!(&store.get(key).await.unwrap()[..], b"0123456789");
    let object = store.open_range(key, Some(2..5)).await.unwrap();
    assert_eq!((object.size, object.range.clone()), (10, 2..5));
    assert!(object.e_tag.is_some(), "S3 keeps an entity tag");
    let body: Vec<Bytes> = object.body.try_collect().await.unwrap();
    assert_eq!(body.concat(), b"234");

    let file = tempfile::NamedTempFile::new().unwrap();
    store.download(key, file.path()).await.unwrap();
    assert_eq!(std::fs::read(file.path()).unwrap(), b"0123456789");
    store
        .upload(file.path(), "runs/r/0/1/1/copy.png")
        .await
        .unwrap();

    let mut listed: Vec<String> = store
        .list("runs/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        ["runs/r/0/1/1/copy.png", "runs/r/0/1/1/still-01.png"]
    );
    store.delete(key).await.unwrap();
    assert!(!store.exists(key).await.unwrap());
    assert!(matches!(store.get(key).await, Err(StoreError::NotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_fail_for_good_and_an_unreachable_store_is_worth_retrying() {
    let bucket = TestBucket::new();
    let wrong = S3Settings {
        secret_access_key: Secret::new("not-the-secret"),
        ..bucket.settings.clone()
    };
    let store = MediaStore::open(&StoreSettings::S3(wrong)).unwrap();
    let refused = store.put("runs/x", &b"x"[..]).await.unwrap_err();
    assert!(!refused.is_retryable(), "{refused:?}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let gone = S3Settings {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        ..bucket.settings.clone()
    };
    let store = MediaStore::open(&StoreSettings::S3(gone)).unwrap();
    let unreachable = store.get("runs/x").await.unwrap_err();
    assert!(unreachable.is_retryable(), "{unreachable:?}");
}
