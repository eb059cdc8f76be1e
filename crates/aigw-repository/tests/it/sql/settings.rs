//! Shared settings: the first value written under a key wins.

use aigw_repository::SqlRepository;

async fn first_value_wins(repo: SqlRepository) {
    assert_eq!(repo.get_setting("auth.jwt_secret").await.unwrap(), None);
    assert_eq!(
        repo.init_setting("auth.jwt_secret", "first").await.unwrap(),
        "first"
    );
    // A second instance starting later reads back the first value.
    assert_eq!(
        repo.init_setting("auth.jwt_secret", "second")
            .await
            .unwrap(),
        "first"
    );
    assert_eq!(
        repo.get_setting("auth.jwt_secret")
            .await
            .unwrap()
            .as_deref(),
        Some("first")
    );
    assert_eq!(repo.get_setting("other").await.unwrap(), None);
}

aigw_test_support::backend_tests!(first_value_wins);
