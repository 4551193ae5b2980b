//! Collaborators: the owner invites existing users by e-mail; each invited user accepts with
//! their own token, and from then on sees the project.

use crate::app::App;
use crate::db;
use crate::domain::ids::{ProjectId, UserId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params, Problem, is_email};
use crate::error::{Error, Result};
use crate::services::access::{self, Principal};
use crate::services::records::{self, Collaborator};

pub async fn list(app: &App, who: &Principal, project: ProjectId) -> Result<Vec<Collaborator>> {
    access::project(app, who, project).await?;
    Ok(records::all(
        db::collaborators::list(&mut &app.store, project).await?,
    ))
}

pub async fn get(
    app: &App,
    who: &Principal,
    project: ProjectId,
    user: UserId,
) -> Result<Collaborator> {
    access::project(app, who, project).await?;
    db::collaborators::get(&mut &app.store, project, user)
        .await?
        .map(Collaborator::from)
        .ok_or(Error::NotFound)
}

fn read_email(params: &Params) -> Result<String> {
    let mut errors = FieldErrors::default();
    let email = params.required_string("email", &mut errors);
    if let Some(email) = &email
        && !is_email(email)
    {
        errors.add("email", Problem::Email);
    }
    errors.into_result()?;
    email.ok_or_else(|| Error::invalid("email", Problem::Required))
}

/// Invites the user with `email`; answers with the whole list, as documented.
pub async fn invite(
    app: &App,
    who: &Principal,
    project: ProjectId,
    params: &Params,
) -> Result<Vec<Collaborator>> {
    let access =
        access::project_for(app, who, project, Scope::create(Resource::Collaborators)).await?;
    access.require_owner()?;
    let email = read_email(params)?;
    let user = db::users::find_by_email(&mut &app.store, &email)
        .await?
        .ok_or_else(|| Error::invalid("email", Problem::NoSuchUser))?;
    if user.id == access.owner {
        return Err(Error::invalid("email", Problem::OwnerCannotCollaborate));
    }
    db::collaborators::invite(&mut &app.store, project, user.id, Timestamp::now()).await?;
    Ok(records::all(
        db::collaborators::list(&mut &app.store, project).await?,
    ))
}

pub async fn remove(app: &App, who: &Principal, project: ProjectId, params: &Params) -> Result<()> {
    let access =
        access::project_for(app, who, project, Scope::delete(Resource::Collaborators)).await?;
    access.require_owner()?;
    let email = read_email(params)?;
    let user = db::users::find_by_email(&mut &app.store, &email)
        .await?
        .ok_or(Error::NotFound)?;
    if db::collaborators::remove(&mut &app.store, project, user.id).await? {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

/// The invited caller accepts an invitation to `project`. Only an invited user learns that
/// the project exists; for anyone else it is not found.
pub async fn accept(app: &App, who: &Principal, project: ProjectId) -> Result<Collaborator> {
    let invitation = db::collaborators::get(&mut &app.store, project, who.user)
        .await?
        .ok_or(Error::NotFound)?;
    who.require(Scope::create(Resource::Collaborators))?;
    if invitation.status != "accepted" {
        db::collaborators::accept(&mut &app.store, project, who.user, Timestamp::now()).await?;
    }
    db::collaborators::get(&mut &app.store, project, who.user)
        .await?
        .map(Collaborator::from)
        .ok_or(Error::NotFound)
}
