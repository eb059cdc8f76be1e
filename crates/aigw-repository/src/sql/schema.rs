//! The diesel schema, one definition for both backends (see `types` for the shared SQL types).
//! It mirrors `migrations/postgres` and `migrations/sqlite`.

diesel::table! {
    use diesel::sql_types::{Bool, Nullable, Text};
    use crate::sql::types::{JsonDoc, UtcTimestamp};

    providers (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        base_url -> Text,
        fallback_base_urls -> JsonDoc,
        supported_auth_types -> JsonDoc,
        models -> JsonDoc,
        is_active -> Bool,
        is_builtin -> Bool,
        config -> JsonDoc,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
        credentials -> Nullable<Text>,
        native_responses -> Bool,
        selection_strategy -> Text,
        session_affinity -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Nullable, Text};
    use crate::sql::types::{UtcTimestamp, UuidType};

    users (id) {
        id -> UuidType,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        access_key_hash -> Nullable<Text>,
        access_key_prefix -> Nullable<Text>,
        is_active -> Bool,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
        token_version -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text};
    use crate::sql::types::UtcTimestamp;

    proxy_pool (id) {
        id -> BigInt,
        url -> Text,
        protocol -> Text,
        is_active -> Bool,
        health_status -> Text,
        max_accounts -> BigInt,
        current_accounts -> BigInt,
        last_used_at -> Nullable<UtcTimestamp>,
        usage_count -> BigInt,
        priority -> Integer,
        weight -> Integer,
        consecutive_failures -> Integer,
        max_failures -> Integer,
        success_rate -> Double,
        avg_latency_ms -> BigInt,
        last_checked_at -> Nullable<UtcTimestamp>,
        marked_down_at -> Nullable<UtcTimestamp>,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
        credentials -> Nullable<Text>,
        last_latency_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
    use crate::sql::types::{JsonDoc, UtcTimestamp, UuidType};

    accounts (id) {
        id -> UuidType,
        provider_id -> Text,
        label -> Text,
        auth_data -> JsonDoc,
        metadata -> JsonDoc,
        is_active -> Bool,
        proxy_id -> Nullable<BigInt>,
        expires_at -> Nullable<UtcTimestamp>,
        last_used_at -> Nullable<UtcTimestamp>,
        usage_count -> BigInt,
        health_status -> Text,
        failure_count -> BigInt,
        last_error_at -> Nullable<UtcTimestamp>,
        last_error_msg -> Nullable<Text>,
        last_success_at -> Nullable<UtcTimestamp>,
        created_by -> Nullable<UuidType>,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
        weight -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Date, Text};

    proxy_stats (id) {
        id -> BigInt,
        proxy_id -> BigInt,
        provider_id -> Text,
        date -> Date,
        request_count -> BigInt,
        success_count -> BigInt,
        error_count -> BigInt,
        total_latency_ms -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
    use crate::sql::types::{UtcTimestamp, UuidType};

    request_logs (id) {
        id -> BigInt,
        created_at -> UtcTimestamp,
        request_id -> Text,
        api_key_id -> Nullable<UuidType>,
        provider_id -> Nullable<Text>,
        model -> Nullable<Text>,
        upstream_model -> Nullable<Text>,
        account_id -> Nullable<UuidType>,
        proxy_id -> Nullable<BigInt>,
        status_code -> Integer,
        latency_ms -> BigInt,
        ttfb_ms -> Nullable<BigInt>,
        input_tokens -> Nullable<BigInt>,
        output_tokens -> Nullable<BigInt>,
        cached_tokens -> Nullable<BigInt>,
        attempt -> Integer,
        switched_from_account_id -> Nullable<UuidType>,
        stream -> Bool,
        error_kind -> Nullable<Text>,
        error_message -> Nullable<Text>,
        fallback_base_url -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
    use crate::sql::types::{UtcTimestamp, UuidType};

    model_mappings (id) {
        id -> BigInt,
        alias -> Text,
        provider_id -> Text,
        model_name -> Text,
        description -> Nullable<Text>,
        enabled -> Bool,
        priority -> Integer,
        owner_id -> Nullable<UuidType>,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{Bool, Nullable, Text};
    use crate::sql::types::{UtcTimestamp, UuidType};

    api_keys (id) {
        id -> UuidType,
        user_id -> UuidType,
        key_hash -> Text,
        key_prefix -> Text,
        label -> Nullable<Text>,
        is_active -> Bool,
        last_used_at -> Nullable<UtcTimestamp>,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Double, Nullable, Text};
    use crate::sql::types::{UtcTimestamp, UuidType};

    account_quota_pattern (id) {
        id -> BigInt,
        account_id -> UuidType,
        model -> Text,
        est_request_limit -> Nullable<BigInt>,
        est_token_limit -> Nullable<BigInt>,
        confidence -> Double,
        sample_count -> BigInt,
        last_exhausted_at -> Nullable<UtcTimestamp>,
        last_reset_at -> Nullable<UtcTimestamp>,
        created_at -> UtcTimestamp,
        updated_at -> UtcTimestamp,
        limit_window -> Nullable<Text>,
        remaining -> Nullable<BigInt>,
        used_percent -> Nullable<Double>,
        resets_at -> Nullable<UtcTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::Text;
    use crate::sql::types::UtcTimestamp;

    settings (key) {
        key -> Text,
        value -> Text,
        created_at -> UtcTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::Text;
    use crate::sql::types::{UtcTimestamp, UuidType};

    stats_batches (batch_id, stage) {
        batch_id -> UuidType,
        stage -> Text,
        created_at -> UtcTimestamp,
    }
}

diesel::joinable!(accounts -> providers (provider_id));
diesel::joinable!(accounts -> proxy_pool (proxy_id));
diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(account_quota_pattern -> accounts (account_id));

diesel::allow_tables_to_appear_in_same_query!(
    providers,
    users,
    proxy_pool,
    accounts,
    proxy_stats,
    request_logs,
    model_mappings,
    api_keys,
    account_quota_pattern,
);

#[cfg(test)]
mod tests {
    use diesel::QueryableByName;
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;

    use crate::sql::SqlRepository;

    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        name: String,
    }

    /// The tables of this file with their columns, read from its text.
    fn declared() -> Vec<(String, Vec<String>)> {
        let text = include_str!("schema.rs");
        let text = &text[..text.find("#[cfg(test)]").unwrap_or(text.len())];
        let mut tables = Vec::new();
        let mut lines = text.lines().map(str::trim);
        while let Some(line) = lines.next() {
            let Some((name, key)) = line.split_once(" (") else {
                continue;
            };
            if !key.ends_with(") {") {
                continue;
            }
            let mut columns = Vec::new();
            for line in lines.by_ref() {
                if line == "}" {
                    break;
                }
                if let Some((column, _)) = line.split_once(" -> ") {
                    columns.push(column.to_owned());
                }
            }
            tables.push((name.to_owned(), columns));
        }
        tables
    }

    /// Every column the diesel schema declares exists in the migrated
    /// database, and no column of those tables is missing from the schema:
    /// a query naming a column the table lacks fails only at run time.
    #[tokio::test]
    async fn the_schema_matches_the_migrated_sqlite_database() {
        let repo = SqlRepository::connect("sqlite::memory:").await.unwrap();
        repo.migrate().await.unwrap();
        let tables = declared();
        assert!(tables.len() >= 11, "parsed only {tables:?}");
        for (table, mut declared) in tables {
            let query = format!("SELECT name FROM pragma_table_info('{table}')");
            let columns = async {
                with_conn!(repo, read, "schema.test", |conn| {
                    diesel::sql_query(&query).load::<Column>(conn).await
                })
            };
            let columns: Result<Vec<Column>, crate::Error> = columns.await;
            let mut actual: Vec<String> = columns.unwrap().into_iter().map(|c| c.name).collect();
            declared.sort();
            actual.sort();
            assert_eq!(declared, actual, "columns of {table}");
        }
    }
}
