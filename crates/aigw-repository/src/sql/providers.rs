//! Providers: CRUD and listing. Credentials in a base URL (`https://user:pw@host/…`) are
//! sealed at rest in `providers.credentials` (see `secrets.rs`) and come back whole.

use aigw_domain::{
    AuthKind, NewProvider, Page, Paged, Provider, ProviderFilter, ProviderId, ProviderKind,
    ProviderPatch, SelectionStrategy,
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::convert::{from_json, parse, provider_id, string_array, time};
use super::repository::SqlRepository;
use super::schema::providers;
use super::secrets::{
    open_fallback_urls, open_provider_url, seal_fallback_urls, seal_provider_url,
};
use super::types::{DbJson, DbTime, now};
use crate::Error;
use crate::crypto::Keyring;

const ENTITY: &str = "provider";

#[derive(Queryable, Selectable)]
#[diesel(table_name = providers)]
pub(crate) struct ProviderRow {
    id: String,
    name: String,
    kind: String,
    base_url: String,
    fallback_base_urls: DbJson,
    supported_auth_types: DbJson,
    models: DbJson,
    is_active: bool,
    is_builtin: bool,
    config: DbJson,
    created_at: DbTime,
    updated_at: DbTime,
    credentials: Option<String>,
    native_responses: bool,
    selection_strategy: String,
    session_affinity: bool,
}

impl ProviderRow {
    pub(crate) fn into_domain(
        self,
        ctx: &'static str,
        keyring: Option<&Keyring>,
    ) -> Result<Provider, Error> {
        let base_url = open_provider_url(keyring, ctx, &self.id, self.base_url, self.credentials)?;
        let fallback_base_urls =
            open_fallback_urls(keyring, ctx, &self.id, self.fallback_base_urls)?;
        Ok(Provider {
            id: provider_id(ctx, "providers.id", self.id)?,
            name: self.name,
            kind: parse::<ProviderKind>(ctx, "providers.kind", &self.kind)?,
            base_url,
            fallback_base_urls,
            supported_auth_types: from_json(
                ctx,
                "providers.supported_auth_types",
                self.supported_auth_types,
            )?,
            models: from_json(ctx, "providers.models", self.models)?,
            is_active: self.is_active,
            is_builtin: self.is_builtin,
            config: self.config.0,
            native_responses: self.native_responses,
            selection_strategy: parse(
                ctx,
                "providers.selection_strategy",
                &self.selection_strategy,
            )?,
            session_affinity: self.session_affinity,
            created_at: time(self.created_at),
            updated_at: time(self.updated_at),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = providers, treat_none_as_default_value = false)]
struct ProviderInsert<'a> {
    id: &'a str,
    name: &'a str,
    kind: &'static str,
    base_url: String,
    credentials: Option<String>,
    fallback_base_urls: DbJson,
    supported_auth_types: DbJson,
    models: DbJson,
    is_active: bool,
    is_builtin: bool,
    config: DbJson,
    native_responses: bool,
    selection_strategy: &'static str,
    session_affinity: bool,
    created_at: DbTime,
    updated_at: DbTime,
}

impl<'a> ProviderInsert<'a> {
    fn new(
        new: &'a NewProvider,
        keyring: Option<&Keyring>,
        ctx: &'static str,
    ) -> Result<Self, Error> {
        let at = DbTime(now());
        let (base_url, credentials) =
            seal_provider_url(keyring, ctx, new.id.as_str(), &new.base_url)?;
        Ok(Self {
            id: new.id.as_str(),
            name: &new.name,
            kind: new.kind.as_str(),
            base_url,
            credentials,
            fallback_base_urls: seal_fallback_urls(
                keyring,
                ctx,
                new.id.as_str(),
                &new.fallback_base_urls,
            )?,
            supported_auth_types: auth_kinds(&new.supported_auth_types),
            models: string_array(new.models.iter().map(String::as_str)),
            is_active: new.is_active,
            is_builtin: new.is_builtin,
            config: DbJson(new.config.clone()),
            native_responses: new.native_responses,
            selection_strategy: new.selection_strategy.as_str(),
            session_affinity: new.session_affinity,
            created_at: at,
            updated_at: at,
        })
    }
}

fn auth_kinds(kinds: &[AuthKind]) -> DbJson {
    string_array(kinds.iter().map(|k| k.as_str()))
}

#[derive(AsChangeset)]
#[diesel(table_name = providers)]
struct ProviderChanges<'a> {
    name: Option<&'a str>,
    kind: Option<&'static str>,
    base_url: Option<String>,
    /// Written with every new base URL: its sealed credentials, or NULL.
    credentials: Option<Option<String>>,
    fallback_base_urls: Option<DbJson>,
    supported_auth_types: Option<DbJson>,
    models: Option<DbJson>,
    is_active: Option<bool>,
    config: Option<DbJson>,
    native_responses: Option<bool>,
    selection_strategy: Option<&'static str>,
    session_affinity: Option<bool>,
    updated_at: DbTime,
}

impl<'a> ProviderChanges<'a> {
    fn new(
        id: &ProviderId,
        patch: &'a ProviderPatch,
        keyring: Option<&Keyring>,
        ctx: &'static str,
    ) -> Result<Self, Error> {
        let (base_url, credentials) = match &patch.base_url {
            Some(full) => {
                let (url, credentials) = seal_provider_url(keyring, ctx, id.as_str(), full)?;
                (Some(url), Some(credentials))
            }
            None => (None, None),
        };
        Ok(Self {
            name: patch.name.as_deref(),
            kind: patch.kind.map(ProviderKind::as_str),
            base_url,
            credentials,
            fallback_base_urls: patch
                .fallback_base_urls
                .as_deref()
                .map(|urls| seal_fallback_urls(keyring, ctx, id.as_str(), urls))
                .transpose()?,
            supported_auth_types: patch.supported_auth_types.as_deref().map(auth_kinds),
            models: patch
                .models
                .as_ref()
                .map(|m| string_array(m.iter().map(String::as_str))),
            is_active: patch.is_active,
            config: patch.config.clone().map(DbJson),
            native_responses: patch.native_responses,
            selection_strategy: patch.selection_strategy.map(SelectionStrategy::as_str),
            session_affinity: patch.session_affinity,
            updated_at: DbTime(now()),
        })
    }
}

macro_rules! provider_filter {
    ($query:expr, $filter:expr) => {{
        let mut query = $query;
        if let Some(active) = $filter.is_active {
            query = query.filter(providers::is_active.eq(active));
        }
        if let Some(kind) = $filter.kind {
            query = query.filter(providers::kind.eq(kind.as_str()));
        }
        query
    }};
}

impl SqlRepository {
    /// Creates a provider; [`Error::Conflict`] if the id is taken.
    pub async fn insert_provider(&self, new: &NewProvider) -> Result<Provider, Error> {
        let ctx = "providers.insert";
        let row = ProviderInsert::new(new, self.keyring(), ctx)?;
        with_conn!(self, write, ctx, |conn| diesel::insert_into(
            providers::table
        )
        .values(&row)
        .returning(ProviderRow::as_returning())
        .get_result(conn)
        .await)?
        .into_domain(ctx, self.keyring())
    }

    /// Creates a provider unless one with the same id exists (for seeding built-ins);
    /// returns whether it was created. An existing provider is left as the operator set it.
    pub async fn insert_provider_if_absent(&self, new: &NewProvider) -> Result<bool, Error> {
        let ctx = "providers.insert_if_absent";
        let row = ProviderInsert::new(new, self.keyring(), ctx)?;
        let inserted = with_conn!(self, write, ctx, |conn| diesel::insert_into(
            providers::table
        )
        .values(&row)
        .on_conflict(providers::id)
        .do_nothing()
        .execute(conn)
        .await)?;
        Ok(inserted == 1)
    }

    /// The provider with this id.
    pub async fn get_provider(&self, id: &ProviderId) -> Result<Provider, Error> {
        let ctx = "providers.get";
        with_conn!(self, read, ctx, |conn| providers::table
            .find(id.as_str())
            .select(ProviderRow::as_select())
            .first(conn)
            .await
            .optional())?
        .ok_or_else(|| Error::not_found(ENTITY, id))?
        .into_domain(ctx, self.keyring())
    }

    /// Providers matching `filter`, ordered by id.
    pub async fn list_providers(
        &self,
        filter: &ProviderFilter,
        page: Page,
    ) -> Result<Paged<Provider>, Error> {
        let ctx = "providers.list";
        let page = page.clamped();
        let (total, rows) = with_conn!(self, read, ctx, |conn| {
            let total: i64 = provider_filter!(providers::table.into_boxed(), filter)
                .count()
                .get_result(conn)
                .await?;
            let rows = provider_filter!(providers::table.into_boxed(), filter)
                .order(providers::id.asc())
                .limit(page.limit)
                .offset(page.offset)
                .select(ProviderRow::as_select())
                .load(conn)
                .await?;
            Ok((total, rows))
        })?;
        let data = rows
            .into_iter()
            .map(|r| r.into_domain(ctx, self.keyring()))
            .collect::<Result<_, _>>()?;
        Ok(Paged {
            data,
            total,
            limit: page.limit,
            offset: page.offset,
        })
    }

    /// Applies `patch`; fields it leaves `None` are untouched.
    pub async fn update_provider(
        &self,
        id: &ProviderId,
        patch: &ProviderPatch,
    ) -> Result<Provider, Error> {
        let ctx = "providers.update";
        let changes = ProviderChanges::new(id, patch, self.keyring(), ctx)?;
        with_conn!(self, write, ctx, |conn| diesel::update(
            providers::table.find(id.as_str())
        )
        .set(&changes)
        .returning(ProviderRow::as_returning())
        .get_result(conn)
        .await
        .optional())?
        .ok_or_else(|| Error::not_found(ENTITY, id))?
        .into_domain(ctx, self.keyring())
    }

    /// Deletes a provider; [`Error::ForeignKey`] while accounts or mappings still use it.
    pub async fn delete_provider(&self, id: &ProviderId) -> Result<(), Error> {
        let ctx = "providers.delete";
        let deleted = with_conn!(self, write, ctx, |conn| diesel::delete(
            providers::table.find(id.as_str())
        )
        .execute(conn)
        .await)?;
        if deleted == 0 {
            return Err(Error::not_found(ENTITY, id));
        }
        Ok(())
    }
}
