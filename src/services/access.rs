//! Who is asking, and what they may see and do.

use crate::app::App;
use crate::db;
use crate::domain::ids::{ProjectId, TokenId, UserId};
use crate::domain::scopes::{Scope, Scopes};
use crate::error::{Error, Result};

/// The authenticated caller: a user acting through one of their tokens.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserId,
    pub token: TokenId,
    pub scopes: Scopes,
}

impl Principal {
    pub fn require(&self, scope: Scope) -> Result<()> {
        if self.scopes.allows(scope) {
            Ok(())
        } else {
            Err(Error::MissingScope(scope))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Collaborator,
}

/// A project the caller may see, and in which role.
#[derive(Debug, Clone, Copy)]
pub struct ProjectAccess {
    pub project: ProjectId,
    pub owner: UserId,
    pub role: Role,
}

impl ProjectAccess {
    /// Only the owner may delete the project or manage its collaborators.
    pub fn require_owner(&self) -> Result<()> {
        match self.role {
            Role::Owner => Ok(()),
            Role::Collaborator => Err(Error::Forbidden),
        }
    }
}

/// The project `id` as the caller may see it; a project they may not see is not found, exactly
/// like one that does not exist.
pub async fn project(app: &App, who: &Principal, id: ProjectId) -> Result<ProjectAccess> {
    let membership = db::projects::membership(&mut &app.store, id, who.user)
        .await?
        .ok_or(Error::NotFound)?;
    let role = if membership.owner_id == who.user {
        Role::Owner
    } else if membership.collaboration.as_deref() == Some("accepted") {
        Role::Collaborator
    } else {
        return Err(Error::NotFound);
    };
    Ok(ProjectAccess {
        project: id,
        owner: membership.owner_id,
        role,
    })
}

/// Access for a write: the scope first (a 403 for a missing scope is only told about projects
/// the caller can see, so the project is looked up first).
pub async fn project_for(
    app: &App,
    who: &Principal,
    id: ProjectId,
    scope: Scope,
) -> Result<ProjectAccess> {
    let access = project(app, who, id).await?;
    who.require(scope)?;
    Ok(access)
}
