//! Building a snapshot from the database and installing it in the running
//! gateway: what the runtime's refresher and every management write share.

use aigw_repository::Error as RepositoryError;
use aigw_repository::SqlRepository;

use crate::gateway::Gateway;
use crate::routing::RuleTable;
use crate::snapshot::{LoadTicket, ProxyOverflow, Snapshot};

/// What a snapshot is built with besides the rows.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotBuilder {
    rules: RuleTable,
    overflow: ProxyOverflow,
}

impl SnapshotBuilder {
    /// A builder that applies `rules` and `overflow` to the rows it reads.
    pub(crate) fn new(rules: RuleTable, overflow: ProxyOverflow) -> Self {
        Self { rules, overflow }
    }

    /// Reads every row the snapshot needs and builds it.
    pub(crate) async fn load(
        &self,
        repository: &SqlRepository,
    ) -> Result<Snapshot, RepositoryError> {
        let data = repository.load_snapshot().await?;
        Ok(Snapshot::build(data, self.rules.clone(), self.overflow))
    }

    /// Rebuilds the gateway's snapshot from the database and installs it,
    /// unless a rebuild that read later got there first (see
    /// [`crate::snapshot::SnapshotStore`]).
    pub(crate) async fn rebuild(
        &self,
        repository: &SqlRepository,
        gateway: &Gateway,
    ) -> Result<(), RepositoryError> {
        let ticket = gateway.snapshot().ticket();
        let fresh = self.load(repository).await?;
        install(gateway, ticket, fresh);
        Ok(())
    }
}

/// Swaps in a fresh snapshot read under `ticket` and drops the pooled
/// clients of egresses it no longer uses: proxies gone, and the direct egress
/// once no account connects directly.
fn install(gateway: &Gateway, ticket: LoadTicket, snapshot: Snapshot) {
    let egresses: std::collections::HashSet<_> = snapshot.egresses().cloned().collect();
    if gateway.snapshot().install(ticket, snapshot) {
        gateway.pool().retain(|egress| egresses.contains(egress));
    }
}
