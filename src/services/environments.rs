//! Deployment environments: every project has `production`; servers belong to one and each
//! deployment targets one.

use crate::app::App;
use crate::db::{
    self, environments::Environment, environments::EnvironmentFields, environments::Filter,
};
use crate::domain::environment::{
    AUTO_STOP_SETTINGS, DEFAULT_PER_PAGE, MAX_DESCRIPTION, MAX_EXTERNAL_URL, MAX_ON_STOP,
    MAX_PER_PAGE, MIN_SEARCH, REVIEW_APPS_DEFAULT_AGE_DAYS, REVIEW_APPS_DEFAULT_LIMIT,
    REVIEW_APPS_MAX_LIMIT, STALE_NEWEST_DAYS, STALE_OLDEST_DAYS, STATES, TIERS, guess_tier,
    is_valid_name, slug,
};
use crate::domain::ids::{EnvironmentId, ProjectId};
use crate::domain::scopes::{Resource, Scope};
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Params, Problem};
use crate::error::{Error, Result};
use crate::services::access::{self, Principal};
use crate::services::projects::{self, ProjectKey, ProjectView};
use crate::services::records;

/// What a new environment named `name` starts with: GitLab's guessed tier, nothing else.
/// The environment a deployment or rollback request names (`environment`, default
/// production).
pub(crate) fn read_target(params: &Params) -> Result<String> {
    let mut errors = FieldErrors::default();
    let environment = params
        .string("environment", &mut errors)
        .unwrap_or_else(|| "production".to_owned());
    errors.into_result()?;
    check_name("environment", &environment)?;
    Ok(environment)
}

/// Creates an environment named in a form's `name` field, with the defaults a new one gets.
pub async fn create_named(
    app: &App,
    who: &Principal,
    project: ProjectId,
    params: &Params,
) -> Result<records::Environment> {
    let mut errors = FieldErrors::default();
    let name = params.required_string("name", &mut errors);
    errors.into_result()?;
    let name = name.unwrap_or_default();
    check_name("name", &name)?;
    let created = create(app, who, project.into(), &name, Change::default()).await?;
    Ok(created.environment)
}

/// Refuses a name GitLab would refuse for an environment.
fn check_name(field: &'static str, name: &str) -> Result<()> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::invalid(field, Problem::EnvironmentName))
    }
}

pub fn new_fields(name: &str) -> EnvironmentFields {
    EnvironmentFields {
        external_url: None,
        tier: guess_tier(name).to_owned(),
        description: None,
        auto_stop_setting: "always".to_owned(),
        on_stop: None,
    }
}

/// The environment named `name`, created (as GitLab CI does on a first deployment) when the
/// project does not have it yet.
pub(crate) async fn ensure(app: &App, project: ProjectId, name: &str) -> Result<Environment> {
    if let Some(environment) = db::environments::get_by_name(&mut &app.store, project, name).await?
    {
        return Ok(environment);
    }
    let fields = new_fields(name);
    // A concurrent request may create it first; either way it exists afterwards.
    db::environments::insert(
        &mut &app.store,
        project,
        name,
        &slug(name),
        &fields,
        Timestamp::now(),
    )
    .await?;
    db::environments::get_by_name(&mut &app.store, project, name)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("environment {name} vanished")))
}

/// What a list asks for: filters and a page; `None` takes the default.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    /// Exactly this name.
    pub name: Option<String>,
    /// Names starting with this (case-insensitive), at least [`MIN_SEARCH`] characters.
    pub search: Option<String>,
    /// One of [`STATES`].
    pub state: Option<String>,
    pub page: Option<i64>,
    /// At most [`MAX_PER_PAGE`] (larger asks get that many).
    pub per_page: Option<i64>,
}

/// A page of a project's environments.
pub struct Listed {
    pub project: ProjectView,
    pub environments: Vec<records::Environment>,
    /// How many match in all.
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// The filters and page size of a list, checked; the project is looked up only after.
fn checked_list(query: &ListQuery) -> Result<(Filter, i64, i64)> {
    if query.name.is_some() && query.search.is_some() {
        return Err(Error::invalid("name", Problem::Exclusive("search")));
    }
    if let Some(state) = &query.state
        && !STATES.contains(&state.as_str())
    {
        return Err(Error::invalid("states", Problem::NotOneOf));
    }
    let page = query.page.unwrap_or(1);
    if page < 1 {
        return Err(Error::invalid("page", Problem::OutOfRange));
    }
    let per_page = query.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if per_page < 1 {
        return Err(Error::invalid("per_page", Problem::OutOfRange));
    }
    let filter = Filter {
        name: query.name.clone(),
        search: query.search.clone(),
        state: query.state.clone(),
    };
    Ok((filter, page, per_page.min(MAX_PER_PAGE)))
}

/// A page of a project's environments and how many match in all.
pub async fn list(
    app: &App,
    who: &Principal,
    project: ProjectKey<'_>,
    query: &ListQuery,
) -> Result<Listed> {
    let (filter, page, per_page) = checked_list(query)?;
    let project = projects::find(app, who, project).await?;
    if let Some(search) = &filter.search
        && search.chars().count() < MIN_SEARCH
    {
        return Err(Error::invalid("search", Problem::TooShort(MIN_SEARCH)));
    }
    // A page far past the end is simply empty.
    let (environments, total) = match (page - 1).checked_mul(per_page) {
        Some(offset) => {
            db::environments::list(
                &mut &app.store,
                project.project.id,
                &filter,
                per_page,
                offset,
            )
            .await?
        }
        None => {
            let (_, total) =
                db::environments::list(&mut &app.store, project.project.id, &filter, 0, 0).await?;
            (Vec::new(), total)
        }
    };
    Ok(Listed {
        project,
        environments: records::all(environments),
        total,
        page,
        per_page,
    })
}

/// An environment and its project.
pub struct Changed {
    pub project: ProjectView,
    pub environment: records::Environment,
}

/// An environment, with its newest successful deployment.
pub struct Shown {
    pub environment: records::Environment,
    pub last: Option<LastDeployment>,
}

pub async fn show(
    app: &App,
    who: &Principal,
    project: ProjectKey<'_>,
    id: Option<EnvironmentId>,
) -> Result<Shown> {
    let project = projects::find(app, who, project).await?;
    let environment = find(app, project.project.id, id.ok_or(Error::NotFound)?).await?;
    let last = last_deployment(app, &environment).await?;
    Ok(Shown {
        environment: environment.into(),
        last,
    })
}

async fn find(app: &App, project: ProjectId, id: EnvironmentId) -> Result<Environment> {
    db::environments::get(&mut &app.store, project, id)
        .await?
        .ok_or(Error::NotFound)
}

/// The newest successful deployment to an environment: the record, its number within the
/// project, and who asked for it.
pub struct LastDeployment {
    pub deployment: records::Deployment,
    pub number: i64,
    pub user: Option<records::User>,
}

async fn last_deployment(app: &App, environment: &Environment) -> Result<Option<LastDeployment>> {
    let found = db::deployments::last_successful(
        &mut &app.store,
        environment.project_id,
        &environment.name,
    )
    .await?;
    let Some((deployment, number)) = found else {
        return Ok(None);
    };
    let user = match deployment.user_id {
        Some(id) => db::users::get(&mut &app.store, crate::domain::ids::UserId(id)).await?,
        None => None,
    };
    Ok(Some(LastDeployment {
        deployment: deployment.into(),
        number,
        user: user.map(records::User::from),
    }))
}

/// What a create or update sets; `None` leaves a field as it is (`Some(None)` clears it).
#[derive(Debug, Default, Clone)]
pub struct Change {
    /// A slug was sent: it is made from the name and cannot be set.
    pub slug_sent: bool,
    pub external_url: Option<Option<String>>,
    pub tier: Option<String>,
    pub description: Option<Option<String>>,
    /// A teardown script; setting one runs commands on servers, so it needs `hooks:create`.
    pub on_stop: Option<Option<String>>,
    pub auto_stop_setting: Option<String>,
}

impl Change {
    /// The rules on the change's form, told before the project is looked up.
    fn check_form(&self) -> Result<()> {
        if self.slug_sent {
            return Err(Error::invalid("slug", Problem::ReadOnly));
        }
        if let Some(tier) = &self.tier
            && !TIERS.contains(&tier.as_str())
        {
            return Err(Error::invalid("tier", Problem::NotOneOf));
        }
        if let Some(setting) = &self.auto_stop_setting
            && !AUTO_STOP_SETTINGS.contains(&setting.as_str())
        {
            return Err(Error::invalid("auto_stop_setting", Problem::NotOneOf));
        }
        Ok(())
    }

    /// The rules on the change's values, all of them at once, told after the caller's
    /// rights were checked.
    fn broken_values(&self) -> FieldErrors {
        let mut broken = FieldErrors::default();
        if let Some(Some(url)) = &self.external_url {
            let lower = url.trim().to_ascii_lowercase();
            if ["javascript:", "data:", "vbscript:"]
                .iter()
                .any(|scheme| lower.starts_with(scheme))
            {
                broken.add("external_url", Problem::Scheme);
            } else if url.len() > MAX_EXTERNAL_URL {
                broken.add("external_url", Problem::TooLong(MAX_EXTERNAL_URL));
            }
        }
        if let Some(Some(description)) = &self.description
            && description.len() > MAX_DESCRIPTION
        {
            broken.add("description", Problem::TooLong(MAX_DESCRIPTION));
        }
        if let Some(Some(script)) = &self.on_stop
            && script.len() > MAX_ON_STOP
        {
            broken.add("on_stop", Problem::TooLong(MAX_ON_STOP));
        }
        broken
    }

    /// Writing needs environments:create; setting a teardown script needs hooks:create too.
    fn require_scopes(&self, who: &Principal) -> Result<()> {
        who.require(Scope::create(Resource::Environments))?;
        if matches!(self.on_stop, Some(Some(_))) {
            who.require(Scope::create(Resource::Hooks))?;
        }
        Ok(())
    }

    fn apply(self, fields: &mut EnvironmentFields) {
        if let Some(url) = self.external_url {
            fields.external_url = url;
        }
        if let Some(tier) = self.tier {
            fields.tier = tier;
        }
        if let Some(description) = self.description {
            fields.description = description;
        }
        if let Some(script) = self.on_stop {
            fields.on_stop = script;
        }
        if let Some(setting) = self.auto_stop_setting {
            fields.auto_stop_setting = setting;
        }
    }
}

/// Creates an environment named `name` with what `change` sets.
pub async fn create(
    app: &App,
    who: &Principal,
    project: ProjectKey<'_>,
    name: &str,
    change: Change,
) -> Result<Changed> {
    change.check_form()?;
    let project = projects::find(app, who, project).await?;
    change.require_scopes(who)?;
    let mut broken = FieldErrors::default();
    if !is_valid_name(name) {
        broken.add("name", Problem::EnvironmentName);
    }
    for (field, problems) in change.broken_values().iter() {
        for problem in problems {
            broken.add(field, problem.clone());
        }
    }
    broken.into_result()?;
    let mut fields = new_fields(name);
    change.apply(&mut fields);
    let environment = insert(app, project.project.id, name, &fields).await?;
    Ok(Changed {
        project,
        environment: environment.into(),
    })
}

/// Inserts an environment; a taken name is a `Taken` name.
async fn insert(
    app: &App,
    project: ProjectId,
    name: &str,
    fields: &EnvironmentFields,
) -> Result<Environment> {
    let id = db::environments::insert(
        &mut &app.store,
        project,
        name,
        &slug(name),
        fields,
        Timestamp::now(),
    )
    .await?
    .ok_or_else(|| Error::invalid("name", Problem::Taken))?;
    find(app, project, id).await
}

/// Changes what `change` changes of an environment (never its name or slug).
pub async fn update(
    app: &App,
    who: &Principal,
    project: ProjectKey<'_>,
    id: Option<EnvironmentId>,
    change: Change,
) -> Result<Changed> {
    change.check_form()?;
    let project = projects::find(app, who, project).await?;
    change.require_scopes(who)?;
    change.broken_values().into_result()?;
    let id = id.ok_or(Error::NotFound)?;
    let current = find(app, project.project.id, id).await?;
    let mut fields = EnvironmentFields {
        external_url: current.external_url,
        tier: current.tier,
        description: current.description,
        auto_stop_setting: current.auto_stop_setting,
        on_stop: current.on_stop,
    };
    change.apply(&mut fields);
    db::environments::update(&mut &app.store, id, &fields, Timestamp::now()).await?;
    let environment = find(app, project.project.id, id).await?;
    Ok(Changed {
        project,
        environment: environment.into(),
    })
}

/// Deletes a stopped environment. `unmodified_since` makes it conditional: an environment
/// changed after it is not deleted.
pub async fn delete(
    app: &App,
    who: &Principal,
    project: ProjectKey<'_>,
    id: Option<EnvironmentId>,
    unmodified_since: Option<Timestamp>,
) -> Result<DeleteOutcome> {
    let project = projects::find(app, who, project).await?.project.id;
    let id = id.ok_or(Error::NotFound)?;
    access::project_for(app, who, project, Scope::delete(Resource::Environments)).await?;
    let environment = find(app, project, id).await?;
    if environment.state != "stopped" {
        return Err(Error::Forbidden);
    }
    if let Some(since) = unmodified_since
        && environment.updated_at.unix_seconds() > since.unix_seconds()
    {
        return Ok(DeleteOutcome::Modified);
    }
    db::environments::delete(&mut &app.store, id).await?;
    Ok(DeleteOutcome::Deleted)
}

pub enum DeleteOutcome {
    Deleted,
    /// Changed after the client's `If-Unmodified-Since`: nothing was deleted.
    Modified,
}

/// Stops an environment; stopping a stopped one needs `force`.
pub async fn stop(
    app: &App,
    who: &Principal,
    project: ProjectKey<'_>,
    id: Option<EnvironmentId>,
    force: bool,
) -> Result<Changed> {
    let project = projects::find(app, who, project).await?;
    let id = id.ok_or(Error::NotFound)?;
    access::project_for(
        app,
        who,
        project.project.id,
        Scope::create(Resource::Environments),
    )
    .await?;
    let environment = stop_one(app, who, project.project.id, id, force).await?;
    Ok(Changed {
        project,
        environment: environment.into(),
    })
}

/// Stops one environment of a project the caller may change: with a teardown script and
/// servers to run it on, it is stopping until the script has run.
async fn stop_one(
    app: &App,
    who: &Principal,
    project: ProjectId,
    id: EnvironmentId,
    force: bool,
) -> Result<Environment> {
    let environment = find(app, project, id).await?;
    // With a teardown script and servers to run it on, the environment is stopping until the
    // script has run (the worker stops it then).
    let has_servers = db::servers::list(&mut &app.store, project)
        .await?
        .iter()
        .any(|s| s.environment == environment.name);
    if environment.on_stop.is_some()
        && has_servers
        && db::environments::start_stopping(&mut &app.store, id, Timestamp::now()).await?
    {
        db::deployments::enqueue_stop(
            &mut &app.store,
            project,
            Some(who.user.0),
            &environment.name,
            Timestamp::now(),
        )
        .await?;
        app.engine.wake();
        return find(app, project, id).await;
    }
    if !db::environments::stop(&mut &app.store, id, force, Timestamp::now()).await? {
        return Err(Error::invalid("environment", Problem::AlreadyStopped));
    }
    find(app, project, id).await
}

/// What a review-app clean-up asks for; `None` takes the default.
#[derive(Debug, Default, Clone)]
pub struct ReviewAppQuery {
    /// Apps stopped before this ([`REVIEW_APPS_DEFAULT_AGE_DAYS`] ago by default).
    pub before: Option<Timestamp>,
    /// At most this many ([`REVIEW_APPS_DEFAULT_LIMIT`], up to [`REVIEW_APPS_MAX_LIMIT`]).
    pub limit: Option<i64>,
    /// Only tell what would be deleted (the default).
    pub dry_run: Option<bool>,
}

impl ReviewAppQuery {
    /// `before`, `limit` and `dry_run` with their defaults, checked.
    fn checked(&self, now: Timestamp) -> Result<(Timestamp, i64, bool)> {
        let before = self
            .before
            .unwrap_or_else(|| now.minus_seconds(REVIEW_APPS_DEFAULT_AGE_DAYS * 86_400));
        let limit = self.limit.unwrap_or(REVIEW_APPS_DEFAULT_LIMIT);
        if !(1..=REVIEW_APPS_MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid("limit", Problem::OutOfRange));
        }
        Ok((before, limit, self.dry_run.unwrap_or(true)))
    }
}

/// What a review-app clean-up picked.
pub struct ReviewAppCleanup {
    pub scheduled: Vec<records::Environment>,
    pub unprocessable: Vec<records::Environment>,
}

/// Delete Multiple Stopped Review Apps: picks them, and unless it is a dry run schedules each
/// for deletion a week from now (the worker deletes them then).
pub async fn clean_up_review_apps(
    app: &App,
    who: &Principal,
    project: ProjectKey<'_>,
    query: &ReviewAppQuery,
) -> Result<ReviewAppCleanup> {
    let (before, limit, dry_run) = query.checked(Timestamp::now())?;
    let project = projects::find(app, who, project).await?.project.id;
    access::project_for(app, who, project, Scope::delete(Resource::Environments)).await?;
    let picked =
        db::environments::stopped_review_apps(&mut &app.store, project, before, limit).await?;
    if !dry_run {
        let ids: Vec<EnvironmentId> = picked.iter().map(|e| e.id).collect();
        let week = Timestamp::now().minus_seconds(-7 * 86_400);
        db::environments::schedule_deletion(&mut &app.store, &ids, week).await?;
    }
    Ok(ReviewAppCleanup {
        scheduled: records::all(picked),
        unprocessable: Vec::new(),
    })
}

/// Stops the project's environments not deployed to since `before`, which must lie between
/// [`STALE_OLDEST_DAYS`] and [`STALE_NEWEST_DAYS`] ago.
pub async fn stop_stale(
    app: &App,
    who: &Principal,
    project: ProjectKey<'_>,
    before: Timestamp,
) -> Result<u64> {
    let project = projects::find(app, who, project).await?.project.id;
    access::project_for(app, who, project, Scope::create(Resource::Environments)).await?;
    check_stale_before(before, Timestamp::now())?;
    let stale = db::environments::stale(&mut &app.store, project, before).await?;
    // Each goes through the usual stop, so teardown scripts run.
    for id in &stale {
        stop_one(app, who, project, *id, false).await?;
    }
    Ok(stale.len() as u64)
}

/// `stop_stale`'s `before` must lie between [`STALE_OLDEST_DAYS`] and [`STALE_NEWEST_DAYS`]
/// ago.
fn check_stale_before(before: Timestamp, now: Timestamp) -> Result<()> {
    let window = now.minus_seconds(STALE_OLDEST_DAYS * 86_400)
        ..=now.minus_seconds(STALE_NEWEST_DAYS * 86_400);
    if window.contains(&before) {
        Ok(())
    } else {
        Err(Error::invalid("before", Problem::DateWindow))
    }
}

/// The background sweep: deletes environments whose scheduled deletion has come.
pub async fn delete_scheduled(app: &App, now: Timestamp) -> Result<u64> {
    db::environments::delete_scheduled(&mut &app.store, now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{TokenId, UserId};
    use crate::domain::scopes::Scopes;

    /// The (field, problem) pairs of an invalid result.
    fn broke<T: std::fmt::Debug>(result: Result<T>) -> Vec<(String, Problem)> {
        match result {
            Err(Error::Invalid(errors)) => flatten(&errors),
            other => panic!("expected invalid fields, got {other:?}"),
        }
    }

    fn flatten(errors: &FieldErrors) -> Vec<(String, Problem)> {
        errors
            .iter()
            .flat_map(|(field, problems)| problems.iter().map(|p| (field.to_owned(), p.clone())))
            .collect()
    }

    fn one(field: &str, problem: Problem) -> Vec<(String, Problem)> {
        vec![(field.to_owned(), problem)]
    }

    #[test]
    fn a_list_takes_name_or_search_a_known_state_and_positive_pages() {
        let (_, page, per_page) = checked_list(&ListQuery::default()).unwrap();
        assert_eq!((page, per_page), (1, DEFAULT_PER_PAGE));
        let big = ListQuery {
            per_page: Some(500),
            ..Default::default()
        };
        assert_eq!(checked_list(&big).unwrap().2, MAX_PER_PAGE);
        let both = ListQuery {
            name: Some("a".into()),
            search: Some("abc".into()),
            ..Default::default()
        };
        assert_eq!(
            broke(checked_list(&both)),
            one("name", Problem::Exclusive("search"))
        );
        let unknown = ListQuery {
            state: Some("gone".into()),
            ..Default::default()
        };
        assert_eq!(
            broke(checked_list(&unknown)),
            one("states", Problem::NotOneOf)
        );
        let stopped = ListQuery {
            state: Some("stopped".into()),
            ..Default::default()
        };
        assert_eq!(
            checked_list(&stopped).unwrap().0.state.as_deref(),
            Some("stopped")
        );
        for (page, per_page, field) in [(0, 1, "page"), (1, 0, "per_page"), (-3, 5, "page")] {
            let query = ListQuery {
                page: Some(page),
                per_page: Some(per_page),
                ..Default::default()
            };
            assert_eq!(broke(checked_list(&query)), one(field, Problem::OutOfRange));
        }
    }

    #[test]
    fn a_change_keeps_slugs_tiers_and_auto_stop_settings_to_their_words() {
        assert!(Change::default().check_form().is_ok());
        let slug = Change {
            slug_sent: true,
            ..Default::default()
        };
        assert_eq!(broke(slug.check_form()), one("slug", Problem::ReadOnly));
        let tier = Change {
            tier: Some("prod".into()),
            ..Default::default()
        };
        assert_eq!(broke(tier.check_form()), one("tier", Problem::NotOneOf));
        let setting = Change {
            auto_stop_setting: Some("never".into()),
            ..Default::default()
        };
        assert_eq!(
            broke(setting.check_form()),
            one("auto_stop_setting", Problem::NotOneOf)
        );
    }

    #[test]
    fn a_change_reports_every_bad_value_at_once() {
        let change = Change {
            external_url: Some(Some("JavaScript:alert(1)".into())),
            description: Some(Some("d".repeat(MAX_DESCRIPTION + 1))),
            on_stop: Some(Some("x".repeat(MAX_ON_STOP + 1))),
            ..Default::default()
        };
        assert_eq!(
            flatten(&change.broken_values()),
            [
                ("external_url".to_owned(), Problem::Scheme),
                ("description".to_owned(), Problem::TooLong(MAX_DESCRIPTION)),
                ("on_stop".to_owned(), Problem::TooLong(MAX_ON_STOP)),
            ]
        );
        let long_url = Change {
            external_url: Some(Some(format!("https://{}", "a".repeat(MAX_EXTERNAL_URL)))),
            ..Default::default()
        };
        assert_eq!(
            flatten(&long_url.broken_values()),
            one("external_url", Problem::TooLong(MAX_EXTERNAL_URL))
        );
        let cleared = Change {
            external_url: Some(None),
            on_stop: Some(None),
            ..Default::default()
        };
        assert!(cleared.broken_values().is_empty());
    }

    #[test]
    fn setting_a_teardown_script_needs_the_hooks_scope_too() {
        let only_environments = Principal {
            user: UserId(1),
            token: TokenId(1),
            scopes: Scopes::new(vec![Scope::create(Resource::Environments)]),
        };
        let script = Change {
            on_stop: Some(Some("./teardown".into())),
            ..Default::default()
        };
        assert!(matches!(
            script.require_scopes(&only_environments),
            Err(Error::MissingScope(scope)) if scope == Scope::create(Resource::Hooks)
        ));
        let clearing = Change {
            on_stop: Some(None),
            ..Default::default()
        };
        assert!(clearing.require_scopes(&only_environments).is_ok());
        assert!(Change::default().require_scopes(&only_environments).is_ok());
    }

    #[test]
    fn review_app_clean_ups_default_to_a_dry_run_of_a_month_and_a_hundred() {
        let now = Timestamp(1_000_000_000 * 1_000_000);
        let (before, limit, dry_run) = ReviewAppQuery::default().checked(now).unwrap();
        assert_eq!(before, now.minus_seconds(30 * 86_400));
        assert_eq!((limit, dry_run), (100, true));
        for limit in [0, REVIEW_APPS_MAX_LIMIT + 1] {
            let query = ReviewAppQuery {
                limit: Some(limit),
                ..Default::default()
            };
            assert_eq!(broke(query.checked(now)), one("limit", Problem::OutOfRange));
        }
        let largest = ReviewAppQuery {
            limit: Some(REVIEW_APPS_MAX_LIMIT),
            dry_run: Some(false),
            ..Default::default()
        };
        let (_, limit, dry_run) = largest.checked(now).unwrap();
        assert_eq!((limit, dry_run), (REVIEW_APPS_MAX_LIMIT, false));
    }

    #[test]
    fn stale_means_between_ten_years_and_a_week_ago() {
        let now = Timestamp(1_000_000_000 * 1_000_000);
        let days = |n: i64| now.minus_seconds(n * 86_400);
        assert!(check_stale_before(days(7), now).is_ok());
        assert!(check_stale_before(days(3650), now).is_ok());
        for outside in [days(6), days(3651), now.minus_seconds(-86_400)] {
            assert_eq!(
                broke(check_stale_before(outside, now)),
                one("before", Problem::DateWindow)
            );
        }
    }

    #[test]
    fn environment_names_follow_gitlab() {
        assert!(check_name("name", "review/fix-1 ${CI}").is_ok());
        for bad in ["/leading", "trailing/", "tab\there", "", "ümlaut"] {
            assert_eq!(
                broke(check_name("name", bad)),
                one("name", Problem::EnvironmentName)
            );
        }
    }
}
