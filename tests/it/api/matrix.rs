//! The authorization matrix: every route of the management API's table ×
//! {anonymous, user, provider, admin, revoked key} → 401, 403 or through.
//! Driven by the table itself, so a new route is covered the day it lands.

use aigateway::domain::Role;
use aigateway::handlers::api::{Access, routes};
use serde_json::json;

use super::Api;
use crate::support::{Deployment, TestGateway};

/// What a caller gets from a route's access rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Unauthorized,
    Forbidden,
    /// Past authorization: anything but 401 and 403 (the handler may still
    /// answer 400 or 404 for the placeholder ids and empty bodies).
    Through,
}

fn expect(access: Access, role: Option<Role>) -> Expect {
    match (access, role) {
        (Access::Public, _) => Expect::Through,
        (_, None) => Expect::Unauthorized,
        (access, Some(role)) if access.allows(role) => Expect::Through,
        _ => Expect::Forbidden,
    }
}

async fn every_route_enforces_its_access_rule(d: Deployment) {
    let Some(gw) = TestGateway::start(d).await else {
        return;
    };
    let api = Api::new(&gw);
    let admin = api.admin().await;
    let (_, user) = api.user(&admin, "matrix-user", "user").await;
    let (_, provider) = api.user(&admin, "matrix-provider", "provider").await;
    let revoked = api.post("/api/v1/api-keys", &admin, json!({})).await.json();
    let revoked_key = revoked["key"].as_str().unwrap().to_owned();
    let resp = api
        .delete(
            &format!("/api/v1/api-keys/{}", revoked["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(resp.status, 204);

    let callers: [(&str, Option<&str>, Option<Role>); 5] = [
        ("anonymous", None, None),
        ("revoked key", Some(&revoked_key), None),
        ("user", Some(&user), Some(Role::User)),
        ("provider", Some(&provider), Some(Role::Provider)),
        ("admin", Some(&admin), Some(Role::Admin)),
    ];
    let mut checked = 0;
    for route in routes() {
        let path = route
            .path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{alias}", "no-such-alias");
        for (name, credential, role) in &callers {
            let body = (route.method != http::Method::GET).then(|| json!({}));
            let resp = api
                .call(route.method.clone(), &path, *credential, body)
                .await;
            let got = match resp.status.as_u16() {
                401 => Expect::Unauthorized,
                403 => Expect::Forbidden,
                _ => Expect::Through,
            };
            assert_eq!(
                got,
                expect(route.access, *role),
                "{} {} as {name}: {} {}",
                route.method,
                route.path,
                resp.status,
                resp.text()
            );
            checked += 1;
        }
    }
    // The table is not empty by accident: every resource's routes are in it.
    assert!(routes().len() >= 37, "only {} routes", routes().len());
    assert_eq!(checked, routes().len() * callers.len());
}

deployment_tests!(every_route_enforces_its_access_rule);
