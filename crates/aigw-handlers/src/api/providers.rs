//! `/api/v1/providers`: every signed-in caller reads them (admins also the
//! inactive ones); admins add, change and delete them.

use aigw_domain::{
    AuthKind, Provider, ProviderId, ProviderKind, SelectionStrategy, mask_url_credentials,
};
use aigw_services::AdminError;
use aigw_services::admin::providers::{CreateProvider, UpdateProvider};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ctx::{Ctx, Reply};
use super::json::{created, no_content, ok};

/// A provider as the API shows it: credentials in its URLs (basic auth of an
/// upstream) are masked for every caller.
#[derive(Serialize)]
struct ProviderView<'a> {
    id: &'a ProviderId,
    name: &'a str,
    kind: ProviderKind,
    base_url: String,
    fallback_base_urls: Vec<String>,
    supported_auth_types: &'a [AuthKind],
    models: &'a [String],
    is_active: bool,
    is_builtin: bool,
    native_responses: bool,
    selection_strategy: SelectionStrategy,
    session_affinity: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl<'a> From<&'a Provider> for ProviderView<'a> {
    fn from(p: &'a Provider) -> Self {
        Self {
            id: &p.id,
            name: &p.name,
            kind: p.kind,
            base_url: mask_url_credentials(&p.base_url),
            fallback_base_urls: p
                .fallback_base_urls
                .iter()
                .map(|u| mask_url_credentials(u))
                .collect(),
            supported_auth_types: &p.supported_auth_types,
            models: &p.models,
            is_active: p.is_active,
            is_builtin: p.is_builtin,
            native_responses: p.native_responses,
            selection_strategy: p.selection_strategy,
            session_affinity: p.session_affinity,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// `GET /api/v1/providers`: the original's `{providers, total}`; admins
/// also see inactive providers.
pub(crate) async fn list(ctx: Ctx<'_>) -> Reply {
    #[derive(Serialize)]
    struct List<'a> {
        providers: Vec<ProviderView<'a>>,
        total: usize,
    }
    let admin = ctx.caller()?.is_admin();
    let providers = ctx.app.admin.list_providers(!admin).await?;
    Ok(ok(&List {
        providers: providers.iter().map(ProviderView::from).collect(),
        total: providers.len(),
    }))
}

/// `GET /api/v1/providers/{id}`; inactive ones only for admins.
pub(crate) async fn get(ctx: Ctx<'_>) -> Reply {
    let provider = ctx.app.admin.get_provider(ctx.path.get("id")).await?;
    if !provider.is_active && !ctx.caller()?.is_admin() {
        return Err(AdminError::NotFound(aigw_services::Entity::Provider).into());
    }
    Ok(ok(&ProviderView::from(&provider)))
}

/// `POST /api/v1/providers`: a custom provider of a known kind.
pub(crate) async fn create(ctx: Ctx<'_>) -> Reply {
    let new: CreateProvider = ctx.body()?;
    let provider = ctx.app.admin.create_provider(new).await?;
    Ok(created(&ProviderView::from(&provider)))
}

/// `PUT /api/v1/providers/{id}`: omitted fields stay as they are.
pub(crate) async fn update(ctx: Ctx<'_>) -> Reply {
    let update: UpdateProvider = ctx.body()?;
    let provider = ctx
        .app
        .admin
        .update_provider(ctx.path.get("id"), update)
        .await?;
    Ok(ok(&ProviderView::from(&provider)))
}

/// `DELETE /api/v1/providers/{id}`: 409 for built-in providers.
pub(crate) async fn delete(ctx: Ctx<'_>) -> Reply {
    ctx.app.admin.delete_provider(ctx.path.get("id")).await?;
    Ok(no_content())
}
