//! `/api/v1/model-mappings`: client-facing model aliases, global and each
//! user's own; admins manage all of them.

use aigw_domain::UserId;
use aigw_services::admin::mappings::{CreateMapping, MappingOwner, UpdateMapping};
use serde::Deserialize;

use super::ctx::{Ctx, Reply};
use super::json::{created, no_content, ok, page};
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    /// The original's 1-based page number, still accepted (`offset` wins).
    page: Option<i64>,
}

/// `GET /api/v1/model-mappings`: global and own; an admin's are all.
pub(crate) async fn list(ctx: Ctx<'_>) -> Reply {
    let q: MappingQuery = ctx.query()?;
    let offset = match (q.offset, q.page) {
        (Some(offset), _) => Some(offset),
        (None, Some(n)) if n < 1 => return Err(ApiError::bad_field("page", "must be at least 1")),
        (None, Some(n)) => {
            let limit = page(q.limit, None)?.limit;
            Some((n - 1).saturating_mul(limit))
        }
        (None, None) => None,
    };
    Ok(ok(&ctx
        .app
        .admin
        .list_mappings(ctx.caller()?, page(q.limit, offset)?)
        .await?))
}

/// Which mapping of `{alias}` a request means: `?owner=global`, `?owner=<user
/// id>`, or by default the caller's own, else the global one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingOwnerQuery {
    #[serde(default)]
    owner: Option<String>,
}

fn mapping_owner(ctx: &Ctx<'_>) -> Result<MappingOwner, ApiError> {
    let q: MappingOwnerQuery = ctx.query()?;
    match q.owner.as_deref() {
        None | Some("") => Ok(MappingOwner::Resolve),
        Some("global") => Ok(MappingOwner::Global),
        Some(id) => id
            .parse::<UserId>()
            .map(MappingOwner::User)
            .map_err(|_| ApiError::bad_field("owner", "must be `global` or a user id")),
    }
}

/// `GET /api/v1/model-mappings/{alias}`.
pub(crate) async fn get(ctx: Ctx<'_>) -> Reply {
    let owner = mapping_owner(&ctx)?;
    Ok(ok(&ctx
        .app
        .admin
        .get_mapping(ctx.caller()?, ctx.path.get("alias"), owner)
        .await?))
}

/// `POST /api/v1/model-mappings`.
pub(crate) async fn create(ctx: Ctx<'_>) -> Reply {
    let new: CreateMapping = ctx.body()?;
    let m = ctx.app.admin.create_mapping(ctx.caller()?, new).await?;
    Ok(created(&m))
}

/// `PUT /api/v1/model-mappings/{alias}`: omitted fields stay as they are;
/// `alias` renames.
pub(crate) async fn update(ctx: Ctx<'_>) -> Reply {
    let update: UpdateMapping = ctx.body()?;
    let owner = mapping_owner(&ctx)?;
    let m = ctx
        .app
        .admin
        .update_mapping(ctx.caller()?, ctx.path.get("alias"), owner, update)
        .await?;
    Ok(ok(&m))
}

/// `DELETE /api/v1/model-mappings/{alias}`.
pub(crate) async fn delete(ctx: Ctx<'_>) -> Reply {
    let owner = mapping_owner(&ctx)?;
    ctx.app
        .admin
        .delete_mapping(ctx.caller()?, ctx.path.get("alias"), owner)
        .await?;
    Ok(no_content())
}
