//! Model mappings: an alias clients send, mapped to a provider and the model
//! sent upstream. Users see the global ones and their own; admins all.

use aigw_domain::{Page, ProviderId, UserId};
use aigw_services::admin::mappings::{CreateMapping, MappingOwner};
use maud::html;

use super::common::{Ctx, Reply, Signed, done, ok_page, provider_options, redirect};
use super::signin::unprocessable;
use crate::Error;
use crate::form::{Form, query_string};
use crate::layout::{self, FieldError, Nav};

const PAGE: i64 = 50;

/// `GET /ui/mappings` (and the form re-drawn with its errors).
pub(crate) async fn list(ctx: &Ctx<'_>, s: &Signed, form: &Form, errors: &[FieldError]) -> Reply {
    s.require(Nav::Mappings)?;
    let page = ctx.query.page();
    let mappings = ctx
        .admin
        .list_mappings(&s.caller, Page::new(PAGE, page * PAGE))
        .await?;
    let providers = provider_options(ctx, None).await?;
    let link = |p: i64| format!("/ui/mappings{}", query_string(&[("page", &p.to_string())]));
    let body = html! {
        (done(ctx))
        @if mappings.data.is_empty() {
            div.panel { (layout::empty("No model mappings yet — add one below", html! { p { "Without a mapping, a model goes to the provider its name's prefix rule names." } })) }
        } @else {
            (layout::pager(mappings.total, PAGE, page * PAGE, link))
            div.table-wrap {
                table {
                    thead { tr { th { "Alias" } th { "Provider" } th { "Upstream model" } th { "Owner" } th.num { "Priority" } th { "Status" } th { span.sr-only { "Actions" } } } }
                    tbody {
                        @for m in &mappings.data {
                            tr {
                                td { code { (m.alias) } @if let Some(d) = &m.description { div.small.muted { (d) } } }
                                td { (m.provider_id) }
                                td { code { (m.model_name) } }
                                td { @match m.owner_id { None => "global", Some(id) if id == s.caller.user.id => "you", Some(_) => "another user" } }
                                td.num { (m.priority) }
                                td { @if m.enabled { (layout::badge("ok", "enabled")) } @else { (layout::badge("", "disabled")) } }
                                td { @if m.owner_id.is_some() || s.is_admin() {
                                    form method="post" action="/ui/mappings/delete" {
                                        (layout::csrf_field(&s.record.csrf))
                                        input type="hidden" name="alias" value=(m.alias);
                                        input type="hidden" name="owner" value=(m.owner_id.map_or_else(|| "global".to_owned(), |id| id.to_string()));
                                        button.danger.small type="submit" aria-label={ "Delete " (m.alias) } { "Delete" }
                                    }
                                } }
                            }
                        }
                    }
                }
            }
        }
        div.panel {
            h2 { "Add a mapping" }
            form.stack method="post" action="/ui/mappings" {
                (layout::csrf_field(&s.record.csrf))
                (layout::input("text", "alias", "Alias", form.get("alias").unwrap_or(""), Some("The model name clients send."), errors, true))
                (layout::select("provider_id", "Provider", &providers, form.get("provider_id").unwrap_or("openai"), errors))
                (layout::input("text", "model_name", "Upstream model", form.get("model_name").unwrap_or(""), None, errors, true))
                (layout::input("text", "description", "Description", form.get("description").unwrap_or(""), None, errors, false))
                (layout::input("number", "priority", "Priority", form.get("priority").unwrap_or("0"), None, errors, false))
                @if s.is_admin() { (layout::checkbox("is_global", "Global (for every user)", form.checked("is_global"))) }
                div { button type="submit" { "Add mapping" } }
            }
        }
    };
    ok_page(s, Nav::Mappings, "Model mappings", body)
}

/// `POST /ui/mappings`.
pub(crate) async fn create(ctx: &Ctx<'_>, s: &Signed, f: &Form) -> Reply {
    s.require(Nav::Mappings)?;
    let parsed = (|| -> Result<CreateMapping, Error> {
        let provider_id =
            ProviderId::new(f.get("provider_id").unwrap_or("")).map_err(|_| Error::BadInput {
                field: "provider_id",
                message: "choose a provider",
            })?;
        Ok(CreateMapping {
            alias: f.get("alias").unwrap_or("").to_owned(),
            provider_id,
            model_name: f.get("model_name").unwrap_or("").to_owned(),
            description: f.get("description").map(str::to_owned),
            enabled: true,
            priority: f.number("priority", "priority", 0)?,
            is_global: f.checked("is_global"),
        })
    })();
    let result = match parsed {
        Ok(new) => ctx
            .admin
            .create_mapping(&s.caller, new)
            .await
            .map_err(Error::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect("/ui/mappings?done=mapping-created")),
        Err(e) => {
            match FieldError::from_error(&e, &["alias", "provider_id", "model_name", "priority"]) {
                Some(err) => list(ctx, s, f, &[err]).await.map(unprocessable),
                None if e.status(ctx.status_of).is_client_error() => list(
                    ctx,
                    s,
                    f,
                    &[FieldError::new("alias", e.message(ctx.status_of))],
                )
                .await
                .map(unprocessable),
                None => Err(e),
            }
        }
    }
}

/// `POST /ui/mappings/delete`.
pub(crate) async fn delete(ctx: &Ctx<'_>, s: &Signed, f: &Form) -> Reply {
    s.require(Nav::Mappings)?;
    let owner = match f.get("owner") {
        Some("global") => MappingOwner::Global,
        Some(id) => MappingOwner::User(id.parse::<UserId>().map_err(|_| Error::NotFound)?),
        None => MappingOwner::Resolve,
    };
    ctx.admin
        .delete_mapping(&s.caller, f.get("alias").unwrap_or(""), owner)
        .await?;
    Ok(redirect("/ui/mappings?done=mapping-deleted"))
}
