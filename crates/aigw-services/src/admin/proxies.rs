//! Outbound proxies (admins): CRUD with the URL validated as the client pool
//! will use it, the assignments of every provider's accounts, and a full
//! reassignment on demand.

use std::collections::BTreeMap;

use aigw_domain::{
    AccountId, NewProxy, Page, Paged, Proxy, ProxyFilter, ProxyId, ProxyPatch, ProxyProtocol,
    ProxyUrl,
};

use serde::Deserialize;

use super::Admin;
use crate::AdminError;

/// A change to a proxy; `None` leaves a field as it is. Also the body of
/// `PUT /api/v1/proxies/{id}` (a new proxy's is [`NewProxy`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateProxy {
    /// A new proxy URL; its scheme sets the protocol.
    pub url: Option<String>,
    /// The protocol; it must match the URL's scheme.
    pub protocol: Option<ProxyProtocol>,
    /// Turns assignment to the proxy on or off; off moves its accounts away.
    pub is_active: Option<bool>,
    /// How many active accounts it may carry (0: unlimited).
    pub max_accounts: Option<i64>,
    /// Proxies of higher priority are filled first.
    pub priority: Option<i32>,
    /// Its share among proxies of equal priority.
    pub weight: Option<i32>,
    /// Consecutive probe failures after which it is marked down (at least 1).
    pub max_failures: Option<i32>,
}

/// Which accounts each proxy carries.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Assignments {
    /// Account ids by proxy id.
    pub assignments: BTreeMap<ProxyId, Vec<AccountId>>,
    /// Active accounts without a proxy.
    pub unassigned: Vec<AccountId>,
}

/// A URL the client pool accepts: http, https or socks5, a host, a port
/// (explicit or the scheme's), nothing else.
fn check_url(url: &str) -> Result<ProxyProtocol, AdminError> {
    crate::client_pool::ValidProxyUrl::parse(url)
        .map_err(|e| AdminError::invalid("url", e.to_string()))?;
    ProxyProtocol::from_url(url).ok_or_else(|| AdminError::invalid("url", "unsupported scheme"))
}

fn check_numbers(
    max_accounts: Option<i64>,
    weight: Option<i32>,
    max_failures: Option<i32>,
) -> Result<(), AdminError> {
    if max_accounts.is_some_and(|n| n < 0) {
        return Err(AdminError::invalid(
            "max_accounts",
            "must not be negative (0 = unlimited)",
        ));
    }
    if weight.is_some_and(|n| n < 1) {
        return Err(AdminError::invalid("weight", "must be at least 1"));
    }
    if max_failures.is_some_and(|n| n < 1) {
        return Err(AdminError::invalid("max_failures", "must be at least 1"));
    }
    Ok(())
}

fn proxy_error(e: aigw_repository::Error) -> AdminError {
    match e {
        aigw_repository::Error::NotFound { .. } => AdminError::NotFound(crate::Entity::Proxy),
        aigw_repository::Error::Conflict { .. } => {
            AdminError::Conflict("a proxy with this URL already exists".to_owned())
        }
        e => e.into(),
    }
}

impl Admin {
    /// Proxies, highest priority first.
    pub async fn list_proxies(&self, page: Page) -> Result<Paged<Proxy>, AdminError> {
        Ok(self
            .repository()
            .list_proxies(&ProxyFilter::default(), page)
            .await?)
    }

    /// One proxy.
    pub async fn get_proxy(&self, id: ProxyId) -> Result<Proxy, AdminError> {
        self.repository().get_proxy(id).await.map_err(proxy_error)
    }

    /// Adds a proxy; accounts waiting for one get it.
    pub async fn create_proxy(&self, mut new: NewProxy) -> Result<Proxy, AdminError> {
        let scheme = check_url(new.url.expose())?;
        check_numbers(
            Some(new.max_accounts),
            Some(new.weight),
            Some(new.max_failures),
        )?;
        match new.protocol {
            Some(p) if p != scheme => {
                return Err(AdminError::invalid(
                    "protocol",
                    "does not match the URL's scheme",
                ));
            }
            _ => new.protocol = Some(scheme),
        }
        let proxy = self
            .repository()
            .insert_proxy(&new)
            .await
            .map_err(proxy_error)?;
        self.reload().await?;
        self.get_proxy(proxy.id).await
    }

    /// Changes a proxy. Disabling it moves its accounts to other proxies.
    pub async fn update_proxy(
        &self,
        id: ProxyId,
        update: UpdateProxy,
    ) -> Result<Proxy, AdminError> {
        let current = self.get_proxy(id).await?;
        let scheme = match &update.url {
            Some(url) => check_url(url)?,
            None => ProxyProtocol::from_url(current.url.expose()).unwrap_or(current.protocol),
        };
        if update.protocol.is_some_and(|p| p != scheme) {
            return Err(AdminError::invalid(
                "protocol",
                "does not match the URL's scheme",
            ));
        }
        check_numbers(update.max_accounts, update.weight, update.max_failures)?;
        let patch = ProxyPatch {
            protocol: update.url.as_ref().map(|_| scheme).or(update.protocol),
            url: update.url.map(ProxyUrl::new),
            is_active: update.is_active,
            health_status: None,
            max_accounts: update.max_accounts,
            priority: update.priority,
            weight: update.weight,
            max_failures: update.max_failures,
        };
        self.repository()
            .update_proxy(id, &patch)
            .await
            .map_err(proxy_error)?;
        self.reload().await?;
        self.get_proxy(id).await
    }

    /// Deletes a proxy; its accounts are reassigned.
    pub async fn delete_proxy(&self, id: ProxyId) -> Result<(), AdminError> {
        self.repository()
            .delete_proxy(id)
            .await
            .map_err(proxy_error)?;
        Ok(self.reload().await?)
    }

    /// Which accounts each proxy carries, across every provider (or one).
    pub async fn proxy_assignments(
        &self,
        provider: Option<&str>,
    ) -> Result<Assignments, AdminError> {
        let data = self.repository().load_snapshot().await?;
        let mut out = Assignments {
            assignments: data.proxies.iter().map(|p| (p.id, Vec::new())).collect(),
            unassigned: Vec::new(),
        };
        for account in data
            .accounts
            .iter()
            .filter(|a| provider.is_none_or(|p| a.provider_id.as_str() == p))
        {
            match account.proxy_id {
                Some(proxy) => out.assignments.entry(proxy).or_default().push(account.id),
                None if account.is_active => out.unassigned.push(account.id),
                None => {}
            }
        }
        Ok(out)
    }

    /// Reassigns every active account from scratch (fill-first) and recounts
    /// the proxies' loads; returns how many accounts changed proxy.
    pub async fn recalculate_proxies(&self) -> Result<usize, AdminError> {
        let moved = crate::proxy_assign::assign_proxies(self.repository(), true).await?;
        self.repository().recount_proxy_accounts().await?;
        self.reload().await?;
        Ok(moved)
    }
}
