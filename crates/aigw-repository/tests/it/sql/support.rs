//! Test harness of the SQL suite: raw SQL beside the repository, to look at what is
//! really stored. The fresh databases per test and the skip-or-fail rule come from
//! `aigw-test-support`.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

/// Runs raw SQL on the database at `url` (bypassing the repository) and returns the
/// text column `v` of each row: to look at what is really stored.
pub async fn raw_texts(url: &str, sql: &str) -> Vec<String> {
    use diesel::Connection as _;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut conn = diesel::SqliteConnection::establish(path).expect("open SQLite");
        diesel::RunQueryDsl::load::<TextRow>(diesel::sql_query(sql), &mut conn)
            .expect("raw query")
            .into_iter()
            .map(|r| r.v)
            .collect()
    } else {
        let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
        diesel::sql_query(sql)
            .load::<TextRow>(&mut conn)
            .await
            .expect("raw query")
            .into_iter()
            .map(|r| r.v)
            .collect()
    }
}

/// Runs a raw SQL statement on the database at `url`.
pub async fn raw_execute(url: &str, sql: &str) {
    use diesel::Connection as _;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut conn = diesel::SqliteConnection::establish(path).expect("open SQLite");
        diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut conn).expect("raw statement");
    } else {
        let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
        diesel::sql_query(sql)
            .execute(&mut conn)
            .await
            .expect("raw statement");
    }
}
