//! `/api/v1/users` (admins) and `/api/v1/api-keys` (each user's own keys).

use aigw_domain::{ApiKey, ApiKeyId, UserId};
use aigw_services::admin::users::{CreateUser, UpdateUser};
use serde::{Deserialize, Serialize};

use super::ctx::{Ctx, Reply};
use super::json::{PageQuery, created, no_content, ok, page};
use super::session::UserView;
use crate::error::ApiError;

/// The user `{id}` names.
fn user_id(ctx: &Ctx<'_>) -> Result<UserId, ApiError> {
    ctx.path.parse("id", aigw_services::Entity::User)
}

/// `GET /api/v1/users`.
pub(crate) async fn list(ctx: Ctx<'_>) -> Reply {
    let q: PageQuery = ctx.query()?;
    let users = ctx.app.admin.list_users(q.page()?).await?;
    Ok(ok(&users.map(|u| UserView::from(&u))))
}

/// `GET /api/v1/users/{id}`.
pub(crate) async fn get(ctx: Ctx<'_>) -> Reply {
    let user = ctx.app.admin.get_user(user_id(&ctx)?).await?;
    Ok(ok(&UserView::from(&user)))
}

/// `POST /api/v1/users`.
pub(crate) async fn create(ctx: Ctx<'_>) -> Reply {
    let new: CreateUser = ctx.body()?;
    let user = ctx.app.admin.create_user(&new).await?;
    Ok(created(&UserView::from(&user)))
}

/// `PUT /api/v1/users/{id}`: omitted fields stay as they are.
pub(crate) async fn update(ctx: Ctx<'_>) -> Reply {
    let id = user_id(&ctx)?;
    let update: UpdateUser = ctx.body()?;
    let user = ctx
        .app
        .admin
        .update_user(ctx.caller()?, id, &update)
        .await?;
    Ok(ok(&UserView::from(&user)))
}

/// `DELETE /api/v1/users/{id}`.
pub(crate) async fn delete(ctx: Ctx<'_>) -> Reply {
    let id = user_id(&ctx)?;
    ctx.app.admin.delete_user(ctx.caller()?, id).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyQuery {
    user_id: Option<UserId>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/v1/api-keys`: an admin's are all keys (or `?user_id=`'s),
/// anyone else's their own.
pub(crate) async fn list_keys(ctx: Ctx<'_>) -> Reply {
    let q: KeyQuery = ctx.query()?;
    let keys = ctx
        .app
        .admin
        .list_api_keys(ctx.caller()?, q.user_id, page(q.limit, q.offset)?)
        .await?;
    Ok(ok(&keys))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateKeyRequest {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    user_id: Option<UserId>,
}

#[derive(Serialize)]
struct CreatedKey {
    id: ApiKeyId,
    key: String,
    key_prefix: String,
    label: Option<String>,
    message: &'static str,
}

/// `POST /api/v1/api-keys`: the key is in this answer and nowhere else, ever.
pub(crate) async fn create_key(ctx: Ctx<'_>) -> Reply {
    let req: CreateKeyRequest = if ctx.body_is_empty() {
        CreateKeyRequest::default()
    } else {
        ctx.body()?
    };
    let issued = ctx
        .app
        .admin
        .create_api_key(ctx.caller()?, req.user_id, req.label)
        .await?;
    let ApiKey {
        id,
        key_prefix,
        label,
        ..
    } = issued.key;
    Ok(created(&CreatedKey {
        id,
        key: issued.raw,
        key_prefix,
        label,
        message: "store this key now: it cannot be shown again",
    }))
}

/// `DELETE /api/v1/api-keys/{id}`: revokes the key on every instance.
pub(crate) async fn revoke_key(ctx: Ctx<'_>) -> Reply {
    let id: ApiKeyId = ctx.path.parse("id", aigw_services::Entity::ApiKey)?;
    ctx.app.admin.revoke_api_key(ctx.caller()?, id).await?;
    Ok(no_content())
}
