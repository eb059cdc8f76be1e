//! OAuth onboarding: `/api/v1/oauth/providers` (public), `init`, `callback`
//! (public: the state authorises it), `exchange` and `refresh`.
//!
//! The callback answers with an HTML page for the person in the browser.
//! Every value in it is escaped, its script posts the result only to the
//! configured origin (`oauth.callback_origin`), and the page forbids
//! caching and referrers since its URL carries the authorisation code. A
//! callback without a `state` is not from a flow and gets the API's JSON 400.

use aigw_domain::AccountId;
use aigw_services::onboarding::page::{self, CallbackOutcome};
use aigw_services::onboarding::{FlowInfo, FlowType, InitRequest};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, REFERRER_POLICY};
use http::{Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::accounts::account_view;
use super::ctx::{Ctx, Reply};
use super::json::ok;
use crate::body::ResponseBody;
use crate::error::ApiError;

/// `GET /api/v1/oauth/providers`.
pub(crate) async fn providers(ctx: Ctx<'_>) -> Reply {
    #[derive(Serialize)]
    struct Providers {
        providers: Vec<FlowInfo>,
    }
    Ok(ok(&Providers {
        providers: ctx.app.admin.onboarding().flows(),
    }))
}

/// `POST /api/v1/oauth/init`.
pub(crate) async fn init(ctx: Ctx<'_>) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        provider: String,
        #[serde(default)]
        flow_type: FlowType,
        #[serde(default)]
        project_id: Option<String>,
    }
    let body: Body = ctx.body()?;
    let caller = ctx.caller()?;
    let started = ctx
        .app
        .admin
        .onboarding()
        .init(InitRequest {
            provider: body.provider,
            flow_type: body.flow_type,
            project_id: body.project_id,
            created_by: Some(caller.user.id),
        })
        .await?;
    Ok(ok(&started))
}

/// `GET /api/v1/oauth/callback?code=&state=` (or `error=`).
pub(crate) async fn callback(ctx: Ctx<'_>) -> Reply {
    #[derive(Deserialize)]
    struct Query {
        code: Option<String>,
        state: Option<String>,
        error: Option<String>,
    }
    // Providers add their own parameters (`scope`, `authuser`, …): unknown
    // ones are ignored here, unlike everywhere else.
    let q: Query = ctx.query()?;
    if q.state.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_field("state", "is required"));
    }
    let admin = &ctx.app.admin;
    let outcome = async {
        let onboarded = admin
            .onboarding()
            .complete(q.code.as_deref(), q.state.as_deref(), q.error.as_deref())
            .await?;
        admin.create_onboarded_account(onboarded, None).await
    }
    .await;
    let origin = admin.onboarding().settings().callback_origin.as_deref();
    let (status, outcome) = match outcome {
        Ok(account) => (
            StatusCode::OK,
            CallbackOutcome::Created {
                account_id: account.id.to_string(),
                label: account.label,
                provider: account.provider_id.to_string(),
            },
        ),
        Err(e) => {
            let e = ApiError::from(e);
            (e.status, CallbackOutcome::Failed { message: e.message })
        }
    };
    Ok(html(status, page::render(&outcome, origin)))
}

fn html(status: StatusCode, page: String) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(page));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(page::CONTENT_SECURITY_POLICY),
    );
    resp
}

/// `POST /api/v1/oauth/exchange` `{callback_url}`: the URL the provider
/// redirected to, pasted by the user who started the flow (or an admin).
pub(crate) async fn exchange(ctx: Ctx<'_>) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        callback_url: String,
    }
    #[derive(Serialize)]
    struct Exchanged {
        success: bool,
        account: serde_json::Value,
    }
    let body: Body = ctx.body()?;
    let caller = ctx.caller()?;
    let admin = &ctx.app.admin;
    let onboarded = admin.onboarding().complete_url(&body.callback_url).await?;
    let account = admin
        .create_onboarded_account(onboarded, Some(caller))
        .await?;
    Ok(ok(&Exchanged {
        success: true,
        account: account_view(&account),
    }))
}

/// `POST /api/v1/oauth/refresh` `{account_id}`: the owner or an admin.
pub(crate) async fn refresh(ctx: Ctx<'_>) -> Reply {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        account_id: AccountId,
    }
    let body: Body = ctx.body()?;
    let refreshed = ctx
        .app
        .admin
        .refresh_oauth_account(ctx.caller()?, body.account_id)
        .await?;
    Ok(ok(&refreshed))
}
