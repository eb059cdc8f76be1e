//! `/api/v1/providers`, `/api/v1/accounts`, `/api/v1/proxies` and
//! `/api/v1/model-mappings`.

use aigw_domain::{
    Account, AccountId, AuthData, AuthKind, NewProxy, Provider, ProviderId, ProviderKind, ProxyId,
    SelectionStrategy, UserId, mask_url_credentials,
};
use aigw_services::Error;
use aigw_services::admin::accounts::{CreateAccount, UpdateAccount};
use aigw_services::admin::mappings::{CreateMapping, MappingOwner, UpdateMapping};
use aigw_services::admin::providers::{CreateProvider, UpdateProvider};
use aigw_services::admin::proxies::UpdateProxy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ctx::{Ctx, Reply};
use super::json::{PageQuery, created, message, no_content, ok, page};
use crate::error::ApiError;

// ---------------------------------------------------------------- providers

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
pub(crate) async fn list_providers(ctx: Ctx<'_>) -> Reply {
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
pub(crate) async fn get_provider(ctx: Ctx<'_>) -> Reply {
    let provider = ctx.app.admin.get_provider(ctx.path.get("id")).await?;
    if !provider.is_active && !ctx.caller()?.is_admin() {
        return Err(Error::NotFound("provider").into());
    }
    Ok(ok(&ProviderView::from(&provider)))
}

/// `POST /api/v1/providers`: a custom provider of a known kind.
pub(crate) async fn create_provider(ctx: Ctx<'_>) -> Reply {
    let new: CreateProvider = ctx.body()?;
    let provider = ctx.app.admin.create_provider(new).await?;
    Ok(created(&ProviderView::from(&provider)))
}

/// `PUT /api/v1/providers/{id}`: omitted fields stay as they are.
pub(crate) async fn update_provider(ctx: Ctx<'_>) -> Reply {
    let update: UpdateProvider = ctx.body()?;
    let provider = ctx
        .app
        .admin
        .update_provider(ctx.path.get("id"), update)
        .await?;
    Ok(ok(&ProviderView::from(&provider)))
}

/// `DELETE /api/v1/providers/{id}`: 409 for built-in providers.
pub(crate) async fn delete_provider(ctx: Ctx<'_>) -> Reply {
    ctx.app.admin.delete_provider(ctx.path.get("id")).await?;
    Ok(no_content())
}

// ----------------------------------------------------------------- accounts

/// What may be shown of a credential.
#[derive(Serialize)]
struct CredentialSummary {
    #[serde(rename = "type")]
    kind: AuthKind,
    /// The last 4 characters of the key or access token, when it is long
    /// enough for that not to give most of it away.
    last4: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    has_refresh_token: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    project_id: Option<String>,
}

impl From<&AuthData> for CredentialSummary {
    fn from(auth: &AuthData) -> Self {
        let masked = auth.masked();
        Self {
            kind: masked.kind,
            last4: masked
                .hint
                .and_then(|h| h.strip_prefix('…').map(str::to_owned)),
            expires_at: masked.expires_at,
            has_refresh_token: masked.has_refresh_token,
            project_id: masked.project_id,
        }
    }
}

/// An account as the API shows it: the credential only as a summary.
pub(super) fn account_view(account: &Account) -> serde_json::Value {
    // The domain type already masks `auth_data`; the summary replaces it
    // with the API's shape.
    let mut value = serde_json::to_value(account).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "auth_data".to_owned(),
            serde_json::to_value(CredentialSummary::from(&account.auth_data)).unwrap_or_default(),
        );
    }
    value
}

/// The account `{id}` names.
fn account_id(ctx: &Ctx<'_>) -> Result<AccountId, ApiError> {
    ctx.path.parse("id", "account")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountQuery {
    provider_id: Option<ProviderId>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/v1/accounts`: own accounts; an admin's are all.
pub(crate) async fn list_accounts(ctx: Ctx<'_>) -> Reply {
    let q: AccountQuery = ctx.query()?;
    let accounts = ctx
        .app
        .admin
        .list_accounts(ctx.caller()?, q.provider_id, page(q.limit, q.offset)?)
        .await?;
    Ok(ok(&accounts.map(|a| account_view(&a))))
}

/// `GET /api/v1/accounts/{id}`.
pub(crate) async fn get_account(ctx: Ctx<'_>) -> Reply {
    let account = ctx
        .app
        .admin
        .get_account(ctx.caller()?, account_id(&ctx)?)
        .await?;
    Ok(ok(&account_view(&account)))
}

/// `POST /api/v1/accounts`.
pub(crate) async fn create_account(ctx: Ctx<'_>) -> Reply {
    let new: CreateAccount = ctx.body()?;
    let account = ctx.app.admin.create_account(ctx.caller()?, new).await?;
    Ok(created(&account_view(&account)))
}

/// `PUT /api/v1/accounts/{id}`: omitted fields stay as they are.
pub(crate) async fn update_account(ctx: Ctx<'_>) -> Reply {
    let id = account_id(&ctx)?;
    let update: UpdateAccount = ctx.body()?;
    let account = ctx
        .app
        .admin
        .update_account(ctx.caller()?, id, update)
        .await?;
    Ok(ok(&account_view(&account)))
}

/// `DELETE /api/v1/accounts/{id}`.
pub(crate) async fn delete_account(ctx: Ctx<'_>) -> Reply {
    let id = account_id(&ctx)?;
    ctx.app.admin.delete_account(ctx.caller()?, id).await?;
    Ok(no_content())
}

// ------------------------------------------------------------------ proxies

/// The proxy `{id}` names.
fn proxy_id(ctx: &Ctx<'_>) -> Result<ProxyId, ApiError> {
    ctx.path.parse("id", "proxy")
}

/// `GET /api/v1/proxies`.
pub(crate) async fn list_proxies(ctx: Ctx<'_>) -> Reply {
    let q: PageQuery = ctx.query()?;
    Ok(ok(&ctx.app.admin.list_proxies(q.page()?).await?))
}

/// `GET /api/v1/proxies/{id}`.
pub(crate) async fn get_proxy(ctx: Ctx<'_>) -> Reply {
    Ok(ok(&ctx.app.admin.get_proxy(proxy_id(&ctx)?).await?))
}

/// `POST /api/v1/proxies`.
pub(crate) async fn create_proxy(ctx: Ctx<'_>) -> Reply {
    let proxy = ctx.app.admin.create_proxy(ctx.body::<NewProxy>()?).await?;
    Ok(created(&proxy))
}

/// `PUT /api/v1/proxies/{id}`: omitted fields stay as they are.
pub(crate) async fn update_proxy(ctx: Ctx<'_>) -> Reply {
    let id = proxy_id(&ctx)?;
    let update: UpdateProxy = ctx.body()?;
    Ok(ok(&ctx.app.admin.update_proxy(id, update).await?))
}

/// `DELETE /api/v1/proxies/{id}`.
pub(crate) async fn delete_proxy(ctx: Ctx<'_>) -> Reply {
    ctx.app.admin.delete_proxy(proxy_id(&ctx)?).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentQuery {
    provider: Option<String>,
}

/// `GET /api/v1/proxies/assignments`: every provider's, or `?provider=`'s.
pub(crate) async fn proxy_assignments(ctx: Ctx<'_>) -> Reply {
    let q: AssignmentQuery = ctx.query()?;
    Ok(ok(&ctx
        .app
        .admin
        .proxy_assignments(q.provider.as_deref())
        .await?))
}

/// `POST /api/v1/proxies/recalculate`.
pub(crate) async fn recalculate_proxies(ctx: Ctx<'_>) -> Reply {
    let moved = ctx.app.admin.recalculate_proxies().await?;
    Ok(message(&format!(
        "proxy assignments recalculated; {moved} accounts changed proxy"
    )))
}

// ----------------------------------------------------------- model mappings

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    /// The original's 1-based page number, still accepted (`offset` wins).
    page: Option<i64>,
}

/// `GET /api/v1/model-mappings`: global and own; an admin's are all.
pub(crate) async fn list_mappings(ctx: Ctx<'_>) -> Reply {
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
pub(crate) async fn get_mapping(ctx: Ctx<'_>) -> Reply {
    let owner = mapping_owner(&ctx)?;
    Ok(ok(&ctx
        .app
        .admin
        .get_mapping(ctx.caller()?, ctx.path.get("alias"), owner)
        .await?))
}

/// `POST /api/v1/model-mappings`.
pub(crate) async fn create_mapping(ctx: Ctx<'_>) -> Reply {
    let new: CreateMapping = ctx.body()?;
    let m = ctx.app.admin.create_mapping(ctx.caller()?, new).await?;
    Ok(created(&m))
}

/// `PUT /api/v1/model-mappings/{alias}`: omitted fields stay as they are;
/// `alias` renames.
pub(crate) async fn update_mapping(ctx: Ctx<'_>) -> Reply {
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
pub(crate) async fn delete_mapping(ctx: Ctx<'_>) -> Reply {
    let owner = mapping_owner(&ctx)?;
    ctx.app
        .admin
        .delete_mapping(ctx.caller()?, ctx.path.get("alias"), owner)
        .await?;
    Ok(no_content())
}
