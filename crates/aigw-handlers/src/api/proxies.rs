//! `/api/v1/proxies` (admins): the outbound proxy pool, which accounts each
//! proxy carries, and a full reassignment on demand.

use aigw_domain::{NewProxy, ProxyId};
use aigw_services::admin::proxies::UpdateProxy;
use serde::Deserialize;

use super::ctx::{Ctx, Reply};
use super::json::{PageQuery, created, message, no_content, ok};
use crate::error::ApiError;

/// The proxy `{id}` names.
fn proxy_id(ctx: &Ctx<'_>) -> Result<ProxyId, ApiError> {
    ctx.path.parse("id", aigw_services::Entity::Proxy)
}

/// `GET /api/v1/proxies`.
pub(crate) async fn list(ctx: Ctx<'_>) -> Reply {
    let q: PageQuery = ctx.query()?;
    Ok(ok(&ctx.app.admin.list_proxies(q.page()?).await?))
}

/// `GET /api/v1/proxies/{id}`.
pub(crate) async fn get(ctx: Ctx<'_>) -> Reply {
    Ok(ok(&ctx.app.admin.get_proxy(proxy_id(&ctx)?).await?))
}

/// `POST /api/v1/proxies`.
pub(crate) async fn create(ctx: Ctx<'_>) -> Reply {
    let proxy = ctx.app.admin.create_proxy(ctx.body::<NewProxy>()?).await?;
    Ok(created(&proxy))
}

/// `PUT /api/v1/proxies/{id}`: omitted fields stay as they are.
pub(crate) async fn update(ctx: Ctx<'_>) -> Reply {
    let id = proxy_id(&ctx)?;
    let update: UpdateProxy = ctx.body()?;
    Ok(ok(&ctx.app.admin.update_proxy(id, update).await?))
}

/// `DELETE /api/v1/proxies/{id}`.
pub(crate) async fn delete(ctx: Ctx<'_>) -> Reply {
    ctx.app.admin.delete_proxy(proxy_id(&ctx)?).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentQuery {
    provider: Option<String>,
}

/// `GET /api/v1/proxies/assignments`: every provider's, or `?provider=`'s.
pub(crate) async fn assignments(ctx: Ctx<'_>) -> Reply {
    let q: AssignmentQuery = ctx.query()?;
    Ok(ok(&ctx
        .app
        .admin
        .proxy_assignments(q.provider.as_deref())
        .await?))
}

/// `POST /api/v1/proxies/recalculate`.
pub(crate) async fn recalculate(ctx: Ctx<'_>) -> Reply {
    let moved = ctx.app.admin.recalculate_proxies().await?;
    Ok(message(&format!(
        "proxy assignments recalculated; {moved} accounts changed proxy"
    )))
}
