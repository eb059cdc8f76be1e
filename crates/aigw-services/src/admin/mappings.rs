//! Model mappings: admins manage all, global or owned; users see global ones
//! and their own, and manage their own. Routing honours owner, priority and
//! the enabled flag (see `Snapshot::route`).
//!
//! An alias is unique per owner: every user has their own aliases, and the
//! global ones are a namespace of their own. A user's alias shadows a global
//! one of the same name for that user (on the API and when routing), and
//! nobody learns which aliases other users hold.

use aigw_domain::{
    MappingOwnership, ModelMapping, ModelMappingFilter, ModelMappingPatch, NewModelMapping, Page,
    Paged, ProviderId, UserId,
};

use serde::Deserialize;

use super::Admin;
use super::auth::Caller;
use crate::AdminError;

/// A mapping to create; also the body of `POST /api/v1/model-mappings`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMapping {
    /// The model name clients send that the mapping answers to.
    pub alias: String,
    /// The provider the alias routes to.
    pub provider_id: ProviderId,
    /// The model name sent to that provider.
    pub model_name: String,
    /// A note for operators.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the alias resolves (defaults to true); a disabled mapping is
    /// kept but ignored.
    #[serde(default = "aigw_domain::serde_helpers::default_true")]
    pub enabled: bool,
    /// Among mappings with the same alias, the higher one wins.
    #[serde(default)]
    pub priority: i32,
    /// Admins only: a mapping for every caller rather than the admin's own.
    #[serde(default)]
    pub is_global: bool,
}

/// A change to a mapping; `None` leaves a field as it is. Also the body of
/// `PUT /api/v1/model-mappings/{alias}`, where `alias` renames.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateMapping {
    /// A new client-facing model name.
    pub alias: Option<String>,
    /// Routes the alias to another provider.
    pub provider_id: Option<ProviderId>,
    /// A new upstream model name.
    pub model_name: Option<String>,
    /// A new note (`Some(None)`, `null` in JSON, clears it).
    #[serde(deserialize_with = "aigw_domain::serde_helpers::double_option")]
    pub description: Option<Option<String>>,
    /// Turns the mapping on or off.
    pub enabled: Option<bool>,
    /// A new rank among mappings with the same alias.
    pub priority: Option<i32>,
    /// Admins only: make it global (`true`) or the admin's own (`false`).
    pub is_global: Option<bool>,
}

fn check_name(field: &str, value: &str) -> Result<(), AdminError> {
    if value.trim().is_empty() || value.chars().count() > 200 {
        return Err(AdminError::invalid(field, "must be 1 to 200 characters"));
    }
    Ok(())
}

/// Which mapping of an alias a request means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MappingOwner {
    /// The caller's own, else the global one.
    #[default]
    Resolve,
    /// The global one.
    Global,
    /// The one of this user (admins, or the caller themself).
    User(UserId),
}

fn mapping_error(e: aigw_repository::Error) -> AdminError {
    match e {
        aigw_repository::Error::NotFound { .. } => {
            AdminError::NotFound(crate::Entity::ModelMapping)
        }
        // Only ever the owner's own aliases (or the global ones) collide.
        aigw_repository::Error::Conflict { .. } => AdminError::Conflict(
            "a model mapping with this alias already exists for this owner".to_owned(),
        ),
        e => e.into(),
    }
}

impl Admin {
    /// Mappings the caller may see: highest priority first, then by alias.
    pub async fn list_mappings(
        &self,
        caller: &Caller,
        page: Page,
    ) -> Result<Paged<ModelMapping>, AdminError> {
        let filter = ModelMappingFilter {
            ownership: (!caller.is_admin()).then_some(MappingOwnership::VisibleTo(caller.user.id)),
            ..ModelMappingFilter::default()
        };
        Ok(self.repository().list_model_mappings(&filter, page).await?)
    }

    /// One mapping the caller may see: by default the caller's own alias, else
    /// the global one, as a request of the caller's keys resolves it; `owner`
    /// picks the global one or one user's (any user's for admins, only their
    /// own for others: someone else's is "not found").
    pub async fn get_mapping(
        &self,
        caller: &Caller,
        alias: &str,
        owner: MappingOwner,
    ) -> Result<ModelMapping, AdminError> {
        let repo = self.repository();
        let found = match owner {
            MappingOwner::Resolve => {
                match repo
                    .get_model_mapping_by_alias(alias, Some(caller.user.id))
                    .await
                {
                    Err(aigw_repository::Error::NotFound { .. }) => {
                        repo.get_model_mapping_by_alias(alias, None).await
                    }
                    found => found,
                }
            }
            MappingOwner::Global => repo.get_model_mapping_by_alias(alias, None).await,
            MappingOwner::User(user) if caller.owns(Some(user)) => {
                repo.get_model_mapping_by_alias(alias, Some(user)).await
            }
            MappingOwner::User(_) => return Err(AdminError::NotFound(crate::Entity::ModelMapping)),
        };
        found.map_err(mapping_error)
    }

    /// A mapping the caller may change: their own, or any for admins.
    async fn own_mapping(
        &self,
        caller: &Caller,
        alias: &str,
        owner: MappingOwner,
    ) -> Result<ModelMapping, AdminError> {
        let m = self.get_mapping(caller, alias, owner).await?;
        if !caller.owns(m.owner_id) {
            return Err(AdminError::Forbidden(
                "only admins change global model mappings",
            ));
        }
        Ok(m)
    }

    async fn check_provider(&self, id: &ProviderId) -> Result<(), AdminError> {
        match self.repository().get_provider(id).await {
            Ok(_) => Ok(()),
            Err(aigw_repository::Error::NotFound { .. }) => {
                Err(AdminError::invalid("provider_id", "no such provider"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Creates a mapping owned by the caller, or global for an admin asking.
    pub async fn create_mapping(
        &self,
        caller: &Caller,
        new: CreateMapping,
    ) -> Result<ModelMapping, AdminError> {
        check_name("alias", &new.alias)?;
        check_name("model_name", &new.model_name)?;
        if new.is_global && !caller.is_admin() {
            return Err(AdminError::Forbidden(
                "only admins create global model mappings",
            ));
        }
        self.check_provider(&new.provider_id).await?;
        let row = NewModelMapping {
            alias: new.alias,
            provider_id: new.provider_id,
            model_name: new.model_name,
            description: new.description,
            enabled: new.enabled,
            priority: new.priority,
            owner_id: (!new.is_global).then_some(caller.user.id),
        };
        let m = self
            .repository()
            .insert_model_mapping(&row)
            .await
            .map_err(mapping_error)?;
        self.reload().await?;
        Ok(m)
    }

    /// Changes a mapping the caller may change.
    pub async fn update_mapping(
        &self,
        caller: &Caller,
        alias: &str,
        owner: MappingOwner,
        update: UpdateMapping,
    ) -> Result<ModelMapping, AdminError> {
        let current = self.own_mapping(caller, alias, owner).await?;
        if let Some(a) = &update.alias {
            check_name("alias", a)?;
        }
        if let Some(m) = &update.model_name {
            check_name("model_name", m)?;
        }
        if let Some(p) = &update.provider_id {
            self.check_provider(p).await?;
        }
        let owner_id = match update.is_global {
            Some(_) if !caller.is_admin() => {
                return Err(AdminError::Forbidden(
                    "only admins change whether a mapping is global",
                ));
            }
            Some(true) => Some(None),
            Some(false) => Some(Some(caller.user.id)),
            None => None,
        };
        let patch = ModelMappingPatch {
            alias: update.alias,
            provider_id: update.provider_id,
            model_name: update.model_name,
            description: update.description,
            enabled: update.enabled,
            priority: update.priority,
            owner_id,
        };
        let m = self
            .repository()
            .update_model_mapping(current.id, &patch)
            .await
            .map_err(mapping_error)?;
        self.reload().await?;
        Ok(m)
    }

    /// Deletes a mapping the caller may change.
    pub async fn delete_mapping(
        &self,
        caller: &Caller,
        alias: &str,
        owner: MappingOwner,
    ) -> Result<(), AdminError> {
        let current = self.own_mapping(caller, alias, owner).await?;
        self.repository()
            .delete_model_mapping(current.id)
            .await
            .map_err(mapping_error)?;
        Ok(self.reload().await?)
    }
}
