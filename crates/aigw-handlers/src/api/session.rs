//! `/api/v1/auth/*`: sign-in, the caller's own user, password and access key.

use aigw_domain::{Role, User, UserId};
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ctx::{Ctx, Reply};
use super::json::ok;
use crate::error::ApiError;

/// A user as the API shows it (no hashes, RFC 3339 timestamps).
#[derive(Debug, Serialize)]
pub(crate) struct UserView {
    id: UserId,
    username: String,
    role: Role,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            role: u.role,
            is_active: u.is_active,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct LoginResponse {
    token: String,
    user: UserView,
}

/// `POST /api/v1/auth/login`: throttled per username and per client address
/// (429 with `Retry-After` past either budget).
pub(crate) async fn login(ctx: Ctx<'_>) -> Reply {
    let req: LoginRequest = ctx.body()?;
    let session = ctx
        .app
        .admin
        .login(&req.username, &req.password, ctx.peer)
        .await?;
    Ok(ok(&LoginResponse {
        token: session.token,
        user: UserView::from(&session.user),
    }))
}

/// `GET /api/v1/auth/me`.
pub(crate) async fn me(ctx: Ctx<'_>) -> Reply {
    Ok(ok(&UserView::from(&ctx.caller()?.user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    current_password: String,
    new_password: String,
}

#[derive(Serialize)]
struct PasswordChanged {
    message: &'static str,
    token: String,
}

/// `PUT /api/v1/auth/password`: every earlier session token of the user stops
/// working; the answer carries a fresh one.
pub(crate) async fn change_password(ctx: Ctx<'_>) -> Reply {
    let req: PasswordRequest = ctx.body()?;
    let session = ctx
        .app
        .admin
        .change_password(ctx.caller()?, &req.current_password, &req.new_password)
        .await?;
    Ok(ok(&PasswordChanged {
        message: "password changed; other sessions are signed out",
        token: session.token,
    }))
}

#[derive(Serialize)]
struct KeyView<'a> {
    key: &'a str,
}

/// `GET /api/v1/auth/my-key`: the access key masked (first 7 + `...` + last 4).
pub(crate) async fn my_key(ctx: Ctx<'_>) -> Reply {
    match &ctx.caller()?.user.access_key_prefix {
        Some(masked) => Ok(ok(&KeyView { key: masked })),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no access key has been issued; POST /api/v1/auth/regenerate-key to create one",
        )),
    }
}

/// `GET /api/v1/auth/my-key/full`: access keys are stored as hashes only, so
/// the full key cannot be shown again (unlike the original, which kept them
/// in plain text). The answer says how to get a new one.
pub(crate) async fn my_key_full(ctx: Ctx<'_>) -> Reply {
    ctx.caller()?;
    Err(ApiError::new(
        StatusCode::GONE,
        "key_not_retrievable",
        "access keys are stored as hashes and are shown only once, when created; \
         POST /api/v1/auth/regenerate-key to get a new one",
    ))
}

#[derive(Serialize)]
struct NewKeyView {
    key: String,
    message: &'static str,
}

/// `POST /api/v1/auth/regenerate-key`: a new `uk_` key, shown once; the old
/// one stops working at once.
pub(crate) async fn regenerate_key(ctx: Ctx<'_>) -> Reply {
    let user = ctx.caller()?.user.id;
    let key = ctx.app.admin.regenerate_access_key(user).await?;
    Ok(ok(&NewKeyView {
        key: key.raw,
        message: "store this key now: it cannot be shown again",
    }))
}
