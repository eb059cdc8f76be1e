//! `/api/v1/accounts`: upstream accounts, all of them for admins and their
//! own for provider-role users. Credentials are shown only as a summary.

use aigw_domain::{Account, AccountId, AuthData, AuthKind, ProviderId};
use aigw_services::admin::accounts::{CreateAccount, UpdateAccount};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ctx::{Ctx, Reply};
use super::json::{created, no_content, ok, page};
use crate::error::ApiError;

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
    ctx.path.parse("id", aigw_services::Entity::Account)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountQuery {
    provider_id: Option<ProviderId>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/v1/accounts`: own accounts; an admin's are all.
pub(crate) async fn list(ctx: Ctx<'_>) -> Reply {
    let q: AccountQuery = ctx.query()?;
    let accounts = ctx
        .app
        .admin
        .list_accounts(ctx.caller()?, q.provider_id, page(q.limit, q.offset)?)
        .await?;
    Ok(ok(&accounts.map(|a| account_view(&a))))
}

/// `GET /api/v1/accounts/{id}`.
pub(crate) async fn get(ctx: Ctx<'_>) -> Reply {
    let account = ctx
        .app
        .admin
        .get_account(ctx.caller()?, account_id(&ctx)?)
        .await?;
    Ok(ok(&account_view(&account)))
}

/// `POST /api/v1/accounts`.
pub(crate) async fn create(ctx: Ctx<'_>) -> Reply {
    let new: CreateAccount = ctx.body()?;
    let account = ctx.app.admin.create_account(ctx.caller()?, new).await?;
    Ok(created(&account_view(&account)))
}

/// `PUT /api/v1/accounts/{id}`: omitted fields stay as they are.
pub(crate) async fn update(ctx: Ctx<'_>) -> Reply {
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
pub(crate) async fn delete(ctx: Ctx<'_>) -> Reply {
    let id = account_id(&ctx)?;
    ctx.app.admin.delete_account(ctx.caller()?, id).await?;
    Ok(no_content())
}
