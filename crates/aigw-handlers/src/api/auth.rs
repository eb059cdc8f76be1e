//! Who is calling: the credential in `Authorization: Bearer`, `x-api-key` or
//! `X-Access-Key`, resolved by the service layer into the caller's current
//! user row, then checked against the route's access rule.

use aigw_domain::Role;
use aigw_services::AdminError;
use aigw_services::admin::Admin;
use aigw_services::admin::auth::Caller;
use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::error::ApiError;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in caller, whatever the role.
    SignedIn,
    /// Signed-in callers with one of these roles.
    Roles(&'static [Role]),
}

impl Access {
    /// Whether a caller with `role` passes (for a signed-in caller).
    pub fn allows(self, role: Role) -> bool {
        match self {
            Self::Public | Self::SignedIn => true,
            Self::Roles(roles) => roles.contains(&role),
        }
    }
}

/// Admins only.
pub(crate) const ADMIN: Access = Access::Roles(&[Role::Admin]);
/// Admins and users (the original's `RequireRole(admin, user)`).
pub(crate) const ADMIN_USER: Access = Access::Roles(&[Role::Admin, Role::User]);
/// Admins and provider-role users, who manage upstream accounts.
pub(crate) const ADMIN_PROVIDER: Access = Access::Roles(&[Role::Admin, Role::Provider]);

/// The presented credential: a bearer token, an `x-api-key`, or an
/// `X-Access-Key`, first present wins; an empty value counts as absent.
fn credential(headers: &HeaderMap) -> Option<&str> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if let Some((scheme, token)) = header(AUTHORIZATION.as_str()).and_then(|a| a.split_once(' '))
        && scheme.eq_ignore_ascii_case("bearer")
        && !token.trim().is_empty()
    {
        return Some(token.trim());
    }
    header("x-api-key").or_else(|| header("x-access-key"))
}

/// The caller a route with `access` may serve: `None` for public routes,
/// 401 without a valid credential, 403 for a role the route does not admit.
pub(crate) async fn authorize(
    admin: &Admin,
    headers: &HeaderMap,
    access: Access,
) -> Result<Option<Caller>, ApiError> {
    if access == Access::Public {
        return Ok(None);
    }
    let presented = credential(headers).ok_or(AdminError::NotSignedIn)?;
    let caller = admin.authenticate(presented).await?;
    if !access.allows(caller.role()) {
        return Err(AdminError::Forbidden("your role may not use this endpoint").into());
    }
    Ok(Some(caller))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn credential_from_any_of_the_three_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(credential(&h), None);
        h.insert("x-access-key", HeaderValue::from_static("uk_1"));
        assert_eq!(credential(&h), Some("uk_1"));
        h.insert("x-api-key", HeaderValue::from_static("ak_1"));
        assert_eq!(credential(&h), Some("ak_1"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer jwt"));
        assert_eq!(credential(&h), Some("jwt"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic x"));
        assert_eq!(credential(&h), Some("ak_1"));
    }

    #[test]
    fn roles_gate_access() {
        assert!(ADMIN.allows(Role::Admin));
        assert!(!ADMIN.allows(Role::User));
        assert!(ADMIN_PROVIDER.allows(Role::Provider));
        assert!(!ADMIN_USER.allows(Role::Provider));
        assert!(Access::SignedIn.allows(Role::Provider));
    }
}
