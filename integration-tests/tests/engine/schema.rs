//! Who migrates what: the engine applies its own schema only, the video module its own tables,
//! both recording in sqlx's one `_sqlx_migrations` table, and a database migrated by the single
//! migrator of earlier releases upgrades untouched.

use std::path::Path;

use slate_integration_tests::database::TestDatabase;
use sqlx::{migrate::Migrator, PgPool};

/// The migrations shipped before the schema was split, with their checksums (SHA-384 of the SQL):
/// a shipped migration is never edited, so these never change.
const SHIPPED: [(i64, &str); 4] = [
    (20261124000000, "dff1bd69f64df942812a676ef7e27571d4326638dd0ceb28ad9014999bcb6ba7894f43b292b726cba430196c5d028e05"),
    (20261124000100, "0599335c13af1dc069197cebf27fdd13aaefb8f383372b3ee0076970f8c80c523d4689fe6435e75f55042abfeae7849e"),
    (20261124000200, "7560026cf67332935ad951f36f78c4bec125535ec7ff72b0fcbb150309dcfd25a37a862cef8ef1d98c877bfd784449ce"),
    (20261201000000, "14ea1ef9fd29771772b6a4d124d5a77f4a080a610f223d1be47ad682f1276733df1a97b30857d9a16c959f3c65a13e31"),
];

async fn relation_exists(pool: &PgPool, name: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Every row of `_sqlx_migrations`: version, checksum (hex) and when it was applied.
async fn applied(pool: &PgPool) -> Vec<(i64, String, String)> {
    sqlx::query_as(
        "SELECT version, encode(checksum, 'hex'), installed_on::text
         FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_database_used_by_the_engine_alone_has_no_videos_table() {
    let db = TestDatabase::unmigrated(2).await;
    slate_engine::migrate(&db.pool).await.unwrap();
    assert!(relation_exists(&db.pool, "runs").await);
    assert!(!relation_exists(&db.pool, "videos").await);
    let video_type: Option<String> = sqlx::query_scalar("SELECT to_regtype('video_status')::text")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(video_type, None);
    db.drop().await;
}

#[tokio::test]
async fn each_migrator_passes_over_the_others_rows_in_either_order_and_again() {
    let db = TestDatabase::unmigrated(2).await;
    slate_engine::migrate(&db.pool).await.unwrap();
    slate_activities::video::migrate(&db.pool).await.unwrap();
    let once = applied(&db.pool).await;
    slate_activities::video::migrate(&db.pool).await.unwrap();
    slate_engine::migrate(&db.pool).await.unwrap();
    assert_eq!(applied(&db.pool).await, once);
    let versions: Vec<(i64, String)> = once.into_iter().map(|(v, c, _)| (v, c)).collect();
    let shipped: Vec<(i64, String)> = SHIPPED.iter().map(|(v, c)| (*v, c.to_string())).collect();
    assert_eq!(
        versions[..shipped.len()],
        shipped,
        "shipped migrations keep their versions and checksums"
    );
    db.drop().await;
}

#[tokio::test]
async fn a_database_migrated_by_one_migrator_of_every_file_upgrades_untouched() {
    // Earlier releases applied every migration from one folder with one migrator.
    let db = TestDatabase::unmigrated(2).await;
    let folder = tempfile::tempdir().unwrap();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    for part in ["engine", "videos"] {
        for file in std::fs::read_dir(migrations.join(part)).unwrap() {
            let file = file.unwrap().path();
            std::fs::copy(&file, folder.path().join(file.file_name().unwrap())).unwrap();
        }
    }
    Migrator::new(folder.path())
        .await
        .unwrap()
        .run(&db.pool)
        .await
        .unwrap();
    sqlx::raw_sql(
        "INSERT INTO runs (id, workflow, workflow_version, input)
         VALUES ('00000000-0000-0000-0000-000000000001', 'video', 1, '{}');
         INSERT INTO videos (id, prompt, request)
         VALUES ('00000000-0000-0000-0000-000000000001', 'a mug', '{}')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let before = applied(&db.pool).await;

    slate_engine::migrate(&db.pool).await.unwrap();
    slate_activities::video::migrate(&db.pool).await.unwrap();

    assert_eq!(applied(&db.pool).await, before);
    let prompt: String = sqlx::query_scalar("SELECT prompt FROM videos")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(prompt, "a mug");
    db.drop().await;
}
