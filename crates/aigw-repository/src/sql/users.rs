//! Users and their client API keys: CRUD, lookups by unique hash, listing.

use aigw_domain::{
    ApiKey, ApiKeyFilter, ApiKeyId, ApiKeyPatch, NewApiKey, NewUser, Page, Paged, Role, User,
    UserFilter, UserId, UserPatch,
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::convert::{api_key_id, opt_time, parse, time, user_id};
use super::repository::SqlRepository;
use super::schema::{api_keys, users};
use super::types::{DbTime, DbUuid, now};
use crate::Error;

const USER: &str = "user";
const API_KEY: &str = "api key";

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    id: DbUuid,
    username: String,
    password_hash: String,
    role: String,
    access_key_hash: Option<String>,
    access_key_prefix: Option<String>,
    is_active: bool,
    created_at: DbTime,
    updated_at: DbTime,
    token_version: i64,
}

impl UserRow {
    pub(crate) fn into_domain(self, ctx: &'static str) -> Result<User, Error> {
        Ok(User {
            id: user_id(self.id),
            username: self.username,
            password_hash: self.password_hash,
            role: parse::<Role>(ctx, "users.role", &self.role)?,
            access_key_hash: self.access_key_hash,
            access_key_prefix: self.access_key_prefix,
            is_active: self.is_active,
            token_version: self.token_version,
            created_at: time(self.created_at),
            updated_at: time(self.updated_at),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
struct UserInsert<'a> {
    id: DbUuid,
    username: &'a str,
    password_hash: &'a str,
    role: &'static str,
    access_key_hash: Option<&'a str>,
    access_key_prefix: Option<&'a str>,
    is_active: bool,
    created_at: DbTime,
    updated_at: DbTime,
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserChanges<'a> {
    username: Option<&'a str>,
    password_hash: Option<&'a str>,
    role: Option<&'static str>,
    access_key_hash: Option<Option<&'a str>>,
    access_key_prefix: Option<Option<&'a str>>,
    is_active: Option<bool>,
    updated_at: DbTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub(crate) struct ApiKeyRow {
    id: DbUuid,
    user_id: DbUuid,
    key_hash: String,
    key_prefix: String,
    label: Option<String>,
    is_active: bool,
    last_used_at: Option<DbTime>,
    created_at: DbTime,
    updated_at: DbTime,
}

impl ApiKeyRow {
    pub(crate) fn into_domain(self) -> ApiKey {
        ApiKey {
            id: api_key_id(self.id),
            user_id: user_id(self.user_id),
            key_hash: self.key_hash,
            key_prefix: self.key_prefix,
            label: self.label,
            is_active: self.is_active,
            last_used_at: opt_time(self.last_used_at),
            created_at: time(self.created_at),
            updated_at: time(self.updated_at),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = api_keys, treat_none_as_default_value = false)]
struct ApiKeyInsert<'a> {
    id: DbUuid,
    user_id: DbUuid,
    key_hash: &'a str,
    key_prefix: &'a str,
    label: Option<&'a str>,
    is_active: bool,
    created_at: DbTime,
    updated_at: DbTime,
}

#[derive(AsChangeset)]
#[diesel(table_name = api_keys)]
struct ApiKeyChanges<'a> {
    label: Option<Option<&'a str>>,
    is_active: Option<bool>,
    updated_at: DbTime,
}

fn user_key(id: UserId) -> DbUuid {
    DbUuid(*id.as_uuid())
}

fn api_key_key(id: ApiKeyId) -> DbUuid {
    DbUuid(*id.as_uuid())
}

macro_rules! user_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &UserFilter = $filter;
        let mut query = $query;
        if let Some(role) = filter.role {
            query = query.filter(users::role.eq(role.as_str()));
        }
        if let Some(active) = filter.is_active {
            query = query.filter(users::is_active.eq(active));
        }
        query
    }};
}

macro_rules! api_key_filter {
    ($query:expr, $filter:expr) => {{
        let filter: &ApiKeyFilter = $filter;
        let mut query = $query;
        if let Some(user) = filter.user_id {
            query = query.filter(api_keys::user_id.eq(user_key(user)));
        }
        if let Some(active) = filter.is_active {
            query = query.filter(api_keys::is_active.eq(active));
        }
        query
    }};
}

impl SqlRepository {
    /// Creates a user with a fresh id; [`Error::Conflict`] if the username or access key
    /// hash is taken.
    pub async fn insert_user(&self, new: &NewUser) -> Result<User, Error> {
        let ctx = "users.insert";
        let at = DbTime(now());
        let row = UserInsert {
            id: user_key(UserId::new()),
            username: &new.username,
            password_hash: &new.password_hash,
            role: new.role.as_str(),
            access_key_hash: new.access_key_hash.as_deref(),
            access_key_prefix: new.access_key_prefix.as_deref(),
            is_active: new.is_active,
            created_at: at,
            updated_at: at,
        };
        with_conn!(self, write, ctx, |conn| diesel::insert_into(users::table)
            .values(&row)
            .returning(UserRow::as_returning())
            .get_result(conn)
            .await)?
        .into_domain(ctx)
    }

    /// The user with this id.
    pub async fn get_user(&self, id: UserId) -> Result<User, Error> {
        let ctx = "users.get";
        with_conn!(self, read, ctx, |conn| users::table
            .find(user_key(id))
            .select(UserRow::as_select())
            .first(conn)
            .await
            .optional())?
        .ok_or_else(|| Error::not_found(USER, id))?
        .into_domain(ctx)
    }

    /// The user with this username.
    pub async fn get_user_by_username(&self, username: &str) -> Result<User, Error> {
        let ctx = "users.get_by_username";
        with_conn!(self, read, ctx, |conn| users::table
            .filter(users::username.eq(username))
            .select(UserRow::as_select())
            .first(conn)
            .await
            .optional())?
        .ok_or_else(|| Error::not_found(USER, username))?
        .into_domain(ctx)
    }

    /// The user whose access key hashes to `hash`. The hash is not echoed in the error.
    pub async fn get_user_by_access_key_hash(&self, hash: &str) -> Result<User, Error> {
        let ctx = "users.get_by_access_key";
        with_conn!(self, read, ctx, |conn| users::table
            .filter(users::access_key_hash.eq(hash))
            .select(UserRow::as_select())
            .first(conn)
            .await
            .optional())?
        .ok_or_else(|| Error::not_found(USER, "(access key)"))?
        .into_domain(ctx)
    }

    /// How many users exist (to seed the first admin on an empty database).
    pub async fn count_users(&self) -> Result<i64, Error> {
        let ctx = "users.count";
        with_conn!(self, read, ctx, |conn| users::table
            .count()
            .get_result(conn)
            .await)
    }

    /// Users matching `filter`, newest first.
    pub async fn list_users(&self, filter: &UserFilter, page: Page) -> Result<Paged<User>, Error> {
        let ctx = "users.list";
        let page = page.clamped();
        let (total, rows) = with_conn!(self, read, ctx, |conn| {
            let total: i64 = user_filter!(users::table.into_boxed(), filter)
                .count()
                .get_result(conn)
                .await?;
            let rows = user_filter!(users::table.into_boxed(), filter)
                .order((users::created_at.desc(), users::id.desc()))
                .limit(page.limit)
                .offset(page.offset)
                .select(UserRow::as_select())
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

    /// Applies `patch`; fields it leaves `None` are untouched. A patch that
    /// [revokes sessions](UserPatch::revokes_sessions) raises `token_version` in
    /// the same statement.
    pub async fn update_user(&self, id: UserId, patch: &UserPatch) -> Result<User, Error> {
        let ctx = "users.update";
        let changes = UserChanges {
            username: patch.username.as_deref(),
            password_hash: patch.password_hash.as_deref(),
            role: patch.role.map(Role::as_str),
            access_key_hash: patch.access_key_hash.as_ref().map(Option::as_deref),
            access_key_prefix: patch.access_key_prefix.as_ref().map(Option::as_deref),
            is_active: patch.is_active,
            updated_at: DbTime(now()),
        };
        let revoke = patch.revokes_sessions();
        with_conn!(self, write, ctx, |conn| {
            let target = users::table.find(user_key(id));
            if revoke {
                diesel::update(target)
                    .set((
                        &changes,
                        users::token_version.eq(users::token_version + 1_i64),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()
            } else {
                diesel::update(target)
                    .set(&changes)
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()
            }
        })?
        .ok_or_else(|| Error::not_found(USER, id))?
        .into_domain(ctx)
    }

    /// Deletes a user with their API keys and their own model mappings; accounts they
    /// created are kept with `created_by` cleared.
    pub async fn delete_user(&self, id: UserId) -> Result<(), Error> {
        let ctx = "users.delete";
        let deleted = with_conn!(self, write, ctx, |conn| diesel::delete(
            users::table.find(user_key(id))
        )
        .execute(conn)
        .await)?;
        if deleted == 0 {
            return Err(Error::not_found(USER, id));
        }
        Ok(())
    }

    /// Creates an API key with a fresh id; [`Error::Conflict`] if the hash exists,
    /// [`Error::ForeignKey`] if the user does not.
    pub async fn insert_api_key(&self, new: &NewApiKey) -> Result<ApiKey, Error> {
        let ctx = "api_keys.insert";
        let at = DbTime(now());
        let row = ApiKeyInsert {
            id: api_key_key(ApiKeyId::new()),
            user_id: user_key(new.user_id),
            key_hash: &new.key_hash,
            key_prefix: &new.key_prefix,
            label: new.label.as_deref(),
            is_active: new.is_active,
            created_at: at,
            updated_at: at,
        };
        with_conn!(self, write, ctx, |conn| diesel::insert_into(
            api_keys::table
        )
        .values(&row)
        .returning(ApiKeyRow::as_returning())
        .get_result(conn)
        .await)
        .map(ApiKeyRow::into_domain)
    }

    /// The API key with this id.
    pub async fn get_api_key(&self, id: ApiKeyId) -> Result<ApiKey, Error> {
        let ctx = "api_keys.get";
        with_conn!(self, read, ctx, |conn| api_keys::table
            .find(api_key_key(id))
            .select(ApiKeyRow::as_select())
            .first(conn)
            .await
            .optional())?
        .map(ApiKeyRow::into_domain)
        .ok_or_else(|| Error::not_found(API_KEY, id))
    }

    /// The API key whose hash is `hash`. The hash is not echoed in the error.
    pub async fn get_api_key_by_hash(&self, hash: &str) -> Result<ApiKey, Error> {
        let ctx = "api_keys.get_by_hash";
        with_conn!(self, read, ctx, |conn| api_keys::table
            .filter(api_keys::key_hash.eq(hash))
            .select(ApiKeyRow::as_select())
            .first(conn)
            .await
            .optional())?
        .map(ApiKeyRow::into_domain)
        .ok_or_else(|| Error::not_found(API_KEY, "(key hash)"))
    }

    /// API keys matching `filter`, newest first.
    pub async fn list_api_keys(
        &self,
        filter: &ApiKeyFilter,
        page: Page,
    ) -> Result<Paged<ApiKey>, Error> {
        let ctx = "api_keys.list";
        let page = page.clamped();
        let (total, rows) = with_conn!(self, read, ctx, |conn| {
            let total: i64 = api_key_filter!(api_keys::table.into_boxed(), filter)
                .count()
                .get_result(conn)
                .await?;
            let rows = api_key_filter!(api_keys::table.into_boxed(), filter)
                .order((api_keys::created_at.desc(), api_keys::id.desc()))
                .limit(page.limit)
                .offset(page.offset)
                .select(ApiKeyRow::as_select())
                .load(conn)
                .await?;
            Ok((total, rows))
        })?;
        Ok(Paged {
            data: rows.into_iter().map(ApiKeyRow::into_domain).collect(),
            total,
            limit: page.limit,
            offset: page.offset,
        })
    }

    /// Applies `patch` (`is_active: Some(false)` revokes); fields it leaves `None` are
    /// untouched.
    pub async fn update_api_key(&self, id: ApiKeyId, patch: &ApiKeyPatch) -> Result<ApiKey, Error> {
        let ctx = "api_keys.update";
        let changes = ApiKeyChanges {
            label: patch.label.as_ref().map(Option::as_deref),
            is_active: patch.is_active,
            updated_at: DbTime(now()),
        };
        with_conn!(self, write, ctx, |conn| diesel::update(
            api_keys::table.find(api_key_key(id))
        )
        .set(&changes)
        .returning(ApiKeyRow::as_returning())
        .get_result(conn)
        .await
        .optional())?
        .map(ApiKeyRow::into_domain)
        .ok_or_else(|| Error::not_found(API_KEY, id))
    }

    /// Records that a key authenticated a request (`last_used_at = now`).
    pub async fn touch_api_key(&self, id: ApiKeyId) -> Result<(), Error> {
        let ctx = "api_keys.touch";
        let at = DbTime(now());
        let updated = with_conn!(self, write, ctx, |conn| diesel::update(
            api_keys::table.find(api_key_key(id))
        )
        .set(api_keys::last_used_at.eq(Some(at)))
        .execute(conn)
        .await)?;
        if updated == 0 {
            return Err(Error::not_found(API_KEY, id));
        }
        Ok(())
    }

    /// Deletes an API key for good (revoking with `is_active = false` keeps its history).
    pub async fn delete_api_key(&self, id: ApiKeyId) -> Result<(), Error> {
        let ctx = "api_keys.delete";
        let deleted = with_conn!(self, write, ctx, |conn| diesel::delete(
            api_keys::table.find(api_key_key(id))
        )
        .execute(conn)
        .await)?;
        if deleted == 0 {
            return Err(Error::not_found(API_KEY, id));
        }
        Ok(())
    }
}
