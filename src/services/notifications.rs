//! Notification channels: e-mail, Slack, Discord and Microsoft Teams.

use secrecy::{ExposeSecret, SecretString};

use crate::app::App;
use crate::db::{self, notifications::Notification, notifications::NotificationFields};
use crate::domain::catalog::NotificationType;
use crate::domain::ids::{NotificationId, ProjectId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{
    FieldErrors, Params, Problem, check_max_len, is_email, is_http_url,
};
use crate::error::{Error, Result};
use crate::services::access::{self, Principal};
use crate::services::records;

pub struct NotificationView {
    pub notification: records::Notification,
    /// The e-mail address or web hook URL.
    pub address: SecretString,
}

fn view(app: &App, notification: Notification) -> Result<NotificationView> {
    let address = app.vault.open_string(&notification.address_sealed)?;
    Ok(NotificationView {
        notification: notification.into(),
        address,
    })
}

pub async fn list(app: &App, who: &Principal, project: ProjectId) -> Result<Vec<NotificationView>> {
    access::project(app, who, project).await?;
    all(app, project).await
}

async fn all(app: &App, project: ProjectId) -> Result<Vec<NotificationView>> {
    db::notifications::list(&mut &app.store, project)
        .await?
        .into_iter()
        .map(|n| view(app, n))
        .collect()
}

async fn find(app: &App, project: ProjectId, id: NotificationId) -> Result<NotificationView> {
    let notification = db::notifications::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)?;
    view(app, notification)
}

pub async fn get(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: NotificationId,
) -> Result<NotificationView> {
    access::project(app, who, project).await?;
    find(app, project, id).await
}

/// Creates a channel; answers with the project's whole list, as documented.
pub async fn create(
    app: &App,
    who: &Principal,
    project: ProjectId,
    params: &Params,
) -> Result<Vec<NotificationView>> {
    access::project_for(app, who, project, Scope::create(Resource::Notifications)).await?;
    let (fields, webhook) = read_fields(app, params, None)?;
    check_webhook(app, webhook.as_ref()).await?;
    db::notifications::insert(&mut &app.store, project, &fields, Timestamp::now()).await?;
    all(app, project).await
}

pub async fn update(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: NotificationId,
    params: &Params,
) -> Result<NotificationView> {
    access::project_for(app, who, project, Scope::create(Resource::Notifications)).await?;
    let current = find(app, project, id).await?;
    let (fields, webhook) = read_fields(app, params, Some(&current))?;
    check_webhook(app, webhook.as_ref()).await?;
    db::notifications::update(&mut &app.store, id, &fields, Timestamp::now()).await?;
    find(app, project, id).await
}

pub async fn delete(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: NotificationId,
) -> Result<()> {
    access::project_for(app, who, project, Scope::delete(Resource::Notifications)).await?;
    find(app, project, id).await?;
    db::notifications::delete(&mut &app.store, id).await
}

/// A web hook URL given in this request must not point into private networks.
async fn check_webhook(app: &App, webhook: Option<&(&'static str, String)>) -> Result<()> {
    match webhook {
        Some((field, url)) => super::check_outbound_url(app, field, Some(url)).await,
        None => Ok(()),
    }
}

/// The fields to store, and the web hook URL this request gives (its field and value), which
/// must still pass the address policy.
type ReadFields = (NotificationFields, Option<(&'static str, String)>);

fn read_fields(
    app: &App,
    params: &Params,
    current: Option<&NotificationView>,
) -> Result<ReadFields> {
    let mut errors = FieldErrors::default();
    let creating = current.is_none();
    let name = if creating {
        params.required_string("name", &mut errors)
    } else {
        params.string("name", &mut errors)
    };
    if let Some(name) = &name {
        check_max_len("name", name, 255, &mut errors);
    }
    let type_text = if creating {
        params.required_string("type", &mut errors)
    } else {
        params.string("type", &mut errors)
    };
    let kind = match &type_text {
        Some(text) => NotificationType::parse(text).or_else(|| {
            errors.add("type", Problem::NotOneOf);
            None
        }),
        None => current.and_then(|c| NotificationType::parse(&c.notification.notification_type)),
    };
    let active = params.boolean("active", &mut errors);

    let mut address = None;
    if let Some(kind) = kind {
        let field = kind.address_field();
        let changed_type =
            current.is_some_and(|c| c.notification.notification_type != kind.as_str());
        let value = params.string(field, &mut errors);
        match &value {
            None if (creating || changed_type) && !errors.has(field) => {
                errors.add(field, Problem::Required)
            }
            Some(email) if kind == NotificationType::Email && !is_email(email) => {
                errors.add(field, Problem::Email)
            }
            Some(url) if kind != NotificationType::Email && !is_http_url(url) => {
                errors.add(field, Problem::Url)
            }
            Some(url) => check_max_len(field, url, 2048, &mut errors),
            None => {}
        }
        address = value;
    }
    errors.into_result()?;

    let webhook = match (kind, &address) {
        (Some(kind), Some(url)) if kind != NotificationType::Email => {
            Some((kind.address_field(), url.clone()))
        }
        _ => None,
    };
    let address_sealed = match (address, current) {
        (Some(address), _) => app.vault.seal_str(&address),
        (None, Some(current)) => app.vault.seal_str(current.address.expose_secret()),
        (None, None) => return Err(Error::invalid("type", Problem::Required)),
    };
    let fields = NotificationFields {
        name: name
            .or_else(|| current.map(|c| c.notification.name.clone()))
            .unwrap_or_default(),
        notification_type: kind.map(|k| k.as_str().to_owned()).unwrap_or_default(),
        address_sealed,
        active: active
            .or(current.map(|c| c.notification.active))
            .unwrap_or(true),
    };
    Ok((fields, webhook))
}
