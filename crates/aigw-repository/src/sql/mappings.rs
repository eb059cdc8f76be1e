//! Model mappings: CRUD, lookup by owner and alias, listing by ownership. An alias is
//! unique per owner (each user's own, and the global ones), not across every user.

use aigw_domain::{
    MappingId, MappingOwnership, ModelMapping, ModelMappingFilter, ModelMappingPatch,
    NewModelMapping, Page, Paged, ProviderId, UserId,
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::convert::{provider_id, time, user_id};
use super::repository::SqlRepository;
use super::schema::model_mappings;
use super::types::{DbTime, DbUuid, now};
use crate::Error;

const ENTITY: &str = "model mapping";

#[derive(Queryable, Selectable)]
#[diesel(table_name = model_mappings)]
pub(crate) struct MappingRow {
    id: i64,
    alias: String,
    provider_id: String,
    model_name: String,
    description: Option<String>,
    enabled: bool,
    priority: i32,
    owner_id: Option<DbUuid>,
    created_at: DbTime,
    updated_at: DbTime,
}

impl MappingRow {
    pub(crate) fn into_domain(self, ctx: &'static str) -> Result<ModelMapping, Error> {
        Ok(ModelMapping {
            id: MappingId::new(self.id),
            alias: self.alias,
            provider_id: provider_id(ctx, "model_mappings.provider_id", self.provider_id)?,
            model_name: self.model_name,
            description: self.description,
            enabled: self.enabled,
            priority: self.priority,
            owner_id: self.owner_id.map(user_id),
            created_at: time(self.created_at),
            updated_at: time(self.updated_at),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = model_mappings, treat_none_as_default_value = false)]
struct MappingInsert<'a> {
    alias: &'a str,
    provider_id: &'a str,
    model_name: &'a str,
    description: Option<&'a str>,
    enabled: bool,
    priority: i32,
    owner_id: Option<DbUuid>,
    created_at: DbTime,
    updated_at: DbTime,
}

#[derive(AsChangeset)]
#[diesel(table_name = model_mappings)]
struct MappingChanges<'a> {
    alias: Option<&'a str>,
    provider_id: Option<&'a str>,
    model_name: Option<&'a str>,
    description: Option<Option<&'a str>>,
    enabled: Option<bool>,
    priority: Option<i32>,
    owner_id: Option<Option<DbUuid>>,
    updated_at: DbTime,
}

macro_rules! mapping_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &ModelMappingFilter = $filter;
        let mut query = $query;
        if let Some(provider) = &filter.provider_id {
            query = query.filter(model_mappings::provider_id.eq(provider.as_str()));
        }
        if let Some(enabled) = filter.enabled {
            query = query.filter(model_mappings::enabled.eq(enabled));
        }
        match filter.ownership {
            None => {}
            Some(MappingOwnership::Global) => {
                query = query.filter(model_mappings::owner_id.is_null());
            }
            Some(MappingOwnership::OwnedBy(user)) => {
                query = query.filter(model_mappings::owner_id.eq(DbUuid(*user.as_uuid())));
            }
            Some(MappingOwnership::VisibleTo(user)) => {
                query = query.filter(
                    model_mappings::owner_id
                        .is_null()
                        .or(model_mappings::owner_id.eq(DbUuid(*user.as_uuid()))),
                );
            }
        }
        query
    }};
}

impl SqlRepository {
    /// Creates a mapping; [`Error::Conflict`] if its owner (or, for a global one, the
    /// global mappings) already has the alias, [`Error::ForeignKey`] if the provider or
    /// owner does not exist.
    pub async fn insert_model_mapping(&self, new: &NewModelMapping) -> Result<ModelMapping, Error> {
        let ctx = "model_mappings.insert";
        let at = DbTime(now());
        let row = MappingInsert {
            alias: &new.alias,
            provider_id: new.provider_id.as_str(),
            model_name: &new.model_name,
            description: new.description.as_deref(),
            enabled: new.enabled,
            priority: new.priority,
            owner_id: new.owner_id.map(|u| DbUuid(*u.as_uuid())),
            created_at: at,
            updated_at: at,
        };
        with_conn!(self, write, ctx, |conn| diesel::insert_into(
            model_mappings::table
        )
        .values(&row)
        .returning(MappingRow::as_returning())
        .get_result(conn)
        .await)?
        .into_domain(ctx)
    }

    /// The mapping with this id.
    pub async fn get_model_mapping(&self, id: MappingId) -> Result<ModelMapping, Error> {
        let ctx = "model_mappings.get";
        with_conn!(self, read, ctx, |conn| model_mappings::table
            .find(id.get())
            .select(MappingRow::as_select())
            .first(conn)
            .await
            .optional())?
        .ok_or_else(|| Error::not_found(ENTITY, id))?
        .into_domain(ctx)
    }

    /// The mapping `alias` of `owner`, or the global one with `owner` `None`.
    pub async fn get_model_mapping_by_alias(
        &self,
        alias: &str,
        owner: Option<UserId>,
    ) -> Result<ModelMapping, Error> {
        let ctx = "model_mappings.get_by_alias";
        with_conn!(self, read, ctx, |conn| {
            let query = model_mappings::table
                .filter(model_mappings::alias.eq(alias))
                .select(MappingRow::as_select())
                .into_boxed();
            let query = match owner {
                Some(user) => query.filter(model_mappings::owner_id.eq(DbUuid(*user.as_uuid()))),
                None => query.filter(model_mappings::owner_id.is_null()),
            };
            query.first(conn).await.optional()
        })?
        .ok_or_else(|| Error::not_found(ENTITY, alias))?
        .into_domain(ctx)
    }

    /// Mappings matching `filter`, highest priority first, then by alias.
    pub async fn list_model_mappings(
        &self,
        filter: &ModelMappingFilter,
        page: Page,
    ) -> Result<Paged<ModelMapping>, Error> {
        let ctx = "model_mappings.list";
        let page = page.clamped();
        let (total, rows) = with_conn!(self, read, ctx, |conn| {
            let total: i64 = mapping_filter!(model_mappings::table.into_boxed(), filter)
                .count()
                .get_result(conn)
                .await?;
            let rows = mapping_filter!(model_mappings::table.into_boxed(), filter)
                .order((model_mappings::priority.desc(), model_mappings::alias.asc()))
                .limit(page.limit)
                .offset(page.offset)
                .select(MappingRow::as_select())
                .load(conn)
                .await?;
            Ok((total, rows))
        })?;
        Ok(Paged {
            data: rows
                .into_iter()
                .map(|r| r.into_domain(ctx))
                .collect::<Result<_, _>>()?,
            total,
            limit: page.limit,
            offset: page.offset,
        })
    }

    /// Applies `patch` (a new alias renames); fields it leaves `None` are untouched.
    pub async fn update_model_mapping(
        &self,
        id: MappingId,
        patch: &ModelMappingPatch,
    ) -> Result<ModelMapping, Error> {
        let ctx = "model_mappings.update";
        let changes = MappingChanges {
            alias: patch.alias.as_deref(),
            provider_id: patch.provider_id.as_ref().map(ProviderId::as_str),
            model_name: patch.model_name.as_deref(),
            description: patch.description.as_ref().map(Option::as_deref),
            enabled: patch.enabled,
            priority: patch.priority,
            owner_id: patch.owner_id.map(|o| o.map(|u| DbUuid(*u.as_uuid()))),
            updated_at: DbTime(now()),
        };
        with_conn!(self, write, ctx, |conn| diesel::update(
            model_mappings::table.find(id.get())
        )
        .set(&changes)
        .returning(MappingRow::as_returning())
        .get_result(conn)
        .await
        .optional())?
        .ok_or_else(|| Error::not_found(ENTITY, id))?
        .into_domain(ctx)
    }

    /// Deletes a mapping.
    pub async fn delete_model_mapping(&self, id: MappingId) -> Result<(), Error> {
        let ctx = "model_mappings.delete";
        let deleted = with_conn!(self, write, ctx, |conn| diesel::delete(
            model_mappings::table.find(id.get())
        )
        .execute(conn)
        .await)?;
        if deleted == 0 {
            return Err(Error::not_found(ENTITY, id));
        }
        Ok(())
    }
}
