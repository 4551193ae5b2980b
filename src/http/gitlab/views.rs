//! GitLab's shapes: the environment entity (fields in GitLab's order), its basic project, the
//! last deployment, and pagination headers.

use axum::http::{HeaderMap, HeaderValue, Uri};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};

use crate::domain::catalog::Provider;
use crate::domain::deployment::DeploymentStatus;
use crate::domain::environment::{AUTO_STOP_SETTINGS, STATES, TIERS};
use crate::domain::ids::{DeploymentId, EnvironmentId, ProjectId, UserId};
use crate::domain::time::Timestamp;
use crate::services::environments::{LastDeployment, ReviewAppCleanup};
use crate::services::projects::ProjectView;
use crate::services::records::Environment;

/// A timestamp in GitLab's JSON form, written without an intermediate value.
#[derive(Clone, Copy)]
pub struct Time(Timestamp);

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.gitlab())
    }
}

impl utoipa::PartialSchema for Time {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .examples(["2019-05-25T18:55:13.252Z"])
            .into()
    }
}

impl ToSchema for Time {}

fn time(micros: i64) -> Time {
    Time(Timestamp(micros))
}

/// A field GitLab always sends and Slipway has nothing for.
fn always_null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

fn word_of(words: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words.iter().copied()))
}

fn tiers() -> ObjectBuilder {
    word_of(TIERS)
}

fn states() -> ObjectBuilder {
    word_of(STATES)
}

fn auto_stop_settings() -> ObjectBuilder {
    word_of(AUTO_STOP_SETTINGS)
}

fn always_empty_list() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String))
        .max_items(Some(0))
}

/// The environment entity, fields in GitLab's order.
#[derive(Serialize, ToSchema)]
#[schema(as = Environment)]
pub struct EnvironmentJson<'a> {
    id: EnvironmentId,
    name: &'a str,
    slug: &'a str,
    #[schema(required = true)]
    external_url: Option<&'a str>,
    created_at: Time,
    updated_at: Time,
    #[schema(schema_with = tiers)]
    tier: &'a str,
    /// Shown by list, create, update and stop; not by get.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    project: Option<BasicProject<'a>>,
    #[schema(schema_with = states)]
    state: &'a str,
    #[schema(required = true)]
    auto_stop_at: Option<Time>,
    #[schema(required = true)]
    description: Option<&'a str>,
    #[schema(schema_with = auto_stop_settings)]
    auto_stop_setting: &'a str,
    /// Slipway: the teardown script run on the environment's servers when it stops.
    #[schema(required = true)]
    on_stop: Option<&'a str>,
}

/// Get one: the entity without `project`, and its latest successful deployment (or null).
#[derive(Serialize, ToSchema)]
#[schema(as = EnvironmentDetail)]
pub struct EnvironmentDetailJson<'a> {
    #[serde(flatten)]
    environment: EnvironmentJson<'a>,
    #[schema(required = true)]
    last_deployment: Option<LastDeploymentJson<'a>>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Deployment)]
pub struct LastDeploymentJson<'a> {
    id: DeploymentId,
    iid: i64,
    #[serde(rename = "ref")]
    #[schema(required = true)]
    reference: Option<&'a str>,
    #[schema(required = true)]
    sha: Option<&'a str>,
    created_at: Time,
    updated_at: Time,
    #[schema(inline)]
    status: GitlabDeploymentStatus,
    #[schema(required = true)]
    user: Option<UserJson<'a>>,
    #[schema(required = true, schema_with = always_null)]
    deployable: Option<()>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserJson<'a> {
    id: UserId,
    name: &'a str,
    username: &'a str,
    #[schema(inline)]
    state: ActiveState,
    avatar_url: String,
    #[schema(required = true, schema_with = always_null)]
    web_url: Option<()>,
}

/// An entry of a review-app clean-up.
#[derive(Serialize, ToSchema)]
#[schema(as = EnvironmentEntry)]
pub struct EntryJson<'a> {
    id: EnvironmentId,
    name: &'a str,
    slug: &'a str,
    #[schema(required = true)]
    external_url: Option<&'a str>,
    created_at: Time,
    updated_at: Time,
}

/// What a review-app clean-up scheduled, or would schedule on a dry run.
#[derive(Serialize, ToSchema)]
#[schema(as = ReviewAppCleanup)]
pub struct CleanupJson<'a> {
    scheduled_entries: Vec<EntryJson<'a>>,
    unprocessable_entries: Vec<EntryJson<'a>>,
}

/// GitLab's basic project shape, filled from the Slipway project (path = its `owner/name`).
#[derive(Serialize, ToSchema)]
#[schema(as = BasicProject)]
pub struct BasicProject<'a> {
    id: ProjectId,
    #[schema(required = true, schema_with = always_null)]
    description: Option<()>,
    name: &'a str,
    name_with_namespace: String,
    path: &'a str,
    path_with_namespace: &'a str,
    created_at: Time,
    default_branch: &'a str,
    #[schema(schema_with = always_empty_list)]
    tag_list: [(); 0],
    #[schema(schema_with = always_empty_list)]
    topics: [(); 0],
    ssh_url_to_repo: String,
    #[schema(required = true)]
    http_url_to_repo: Option<String>,
    #[schema(required = true)]
    web_url: Option<String>,
    #[schema(required = true, schema_with = always_null)]
    readme_url: Option<()>,
    forks_count: i64,
    #[schema(required = true, schema_with = always_null)]
    avatar_url: Option<()>,
    star_count: i64,
    last_activity_at: Time,
    #[schema(inline)]
    visibility: Visibility,
    namespace: NamespaceJson<'a>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Namespace)]
pub struct NamespaceJson<'a> {
    id: UserId,
    name: &'a str,
    path: &'a str,
    #[schema(inline)]
    kind: NamespaceKind,
    full_path: &'a str,
    #[schema(required = true, schema_with = always_null)]
    parent_id: Option<()>,
    #[schema(required = true, schema_with = always_null)]
    avatar_url: Option<()>,
    #[schema(required = true)]
    web_url: Option<String>,
}

/// Words GitLab sends, each its variant's name in lower case.
macro_rules! words {
    ($($(#[$meta:meta])* $name:ident { $($variant:ident),* $(,)? })*) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, Serialize, ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($variant),*
        }
    )*};
}

words! {
    /// Slipway's deployment status in GitLab's words.
    GitlabDeploymentStatus { Created, Running, Success, Failed, Canceled }
    ActiveState { Active }
    Visibility { Private }
    NamespaceKind { User, Group }
}

pub fn environment<'a>(
    e: &'a Environment,
    project: Option<&'a ProjectView>,
) -> EnvironmentJson<'a> {
    EnvironmentJson {
        id: e.id,
        name: &e.name,
        slug: &e.slug,
        external_url: e.external_url.as_deref(),
        created_at: Time(e.created_at),
        updated_at: Time(e.updated_at),
        tier: &e.tier,
        project: project.map(basic_project),
        state: &e.state,
        auto_stop_at: e.auto_stop_at.map(time),
        description: e.description.as_deref(),
        auto_stop_setting: &e.auto_stop_setting,
        on_stop: e.on_stop.as_deref(),
    }
}

pub fn cleanup(cleanup: &ReviewAppCleanup) -> CleanupJson<'_> {
    CleanupJson {
        scheduled_entries: cleanup.scheduled.iter().map(entry).collect(),
        unprocessable_entries: cleanup.unprocessable.iter().map(entry).collect(),
    }
}

fn entry(e: &Environment) -> EntryJson<'_> {
    EntryJson {
        id: e.id,
        name: &e.name,
        slug: &e.slug,
        external_url: e.external_url.as_deref(),
        created_at: Time(e.created_at),
        updated_at: Time(e.updated_at),
    }
}

pub fn environment_detail<'a>(
    e: &'a Environment,
    last: Option<&'a LastDeployment>,
) -> EnvironmentDetailJson<'a> {
    EnvironmentDetailJson {
        environment: environment(e, None),
        last_deployment: last.map(|last| LastDeploymentJson {
            id: last.deployment.id,
            iid: last.number,
            reference: last.deployment.commit_branch.as_deref(),
            sha: last.deployment.commit_hash.as_deref(),
            created_at: Time(last.deployment.created_at),
            updated_at: Time(last.deployment.updated_at),
            status: gitlab_status(last.deployment.status),
            user: last.user.as_ref().map(|u| UserJson {
                id: u.id,
                name: &u.name,
                username: u.email.split('@').next().unwrap_or_default(),
                state: ActiveState::Active,
                avatar_url: crate::git::avatar_url(&u.email),
                web_url: None,
            }),
            deployable: None,
        }),
    }
}

fn gitlab_status(status: DeploymentStatus) -> GitlabDeploymentStatus {
    match status {
        DeploymentStatus::Finished => GitlabDeploymentStatus::Success,
        DeploymentStatus::Error => GitlabDeploymentStatus::Failed,
        DeploymentStatus::Cancelled => GitlabDeploymentStatus::Canceled,
        DeploymentStatus::Running => GitlabDeploymentStatus::Running,
        DeploymentStatus::Pending => GitlabDeploymentStatus::Created,
    }
}

fn basic_project(view: &ProjectView) -> BasicProject<'_> {
    let p = &view.project;
    let provider = Provider::parse(&p.provider);
    let path_with_namespace = match provider {
        Some(Provider::GitlabSelf) => p
            .repository
            .split_once('/')
            .map_or(p.repository.as_str(), |(_, rest)| rest),
        Some(Provider::Custom) | None => p.name.as_str(),
        _ => p.repository.as_str(),
    };
    let (namespace, path) = path_with_namespace
        .rsplit_once('/')
        .unwrap_or(("", path_with_namespace));
    let host = match provider {
        Some(Provider::Github) => Some("github.com"),
        Some(Provider::Bitbucket) => Some("bitbucket.org"),
        Some(Provider::Gitlab) => Some("gitlab.com"),
        Some(Provider::GitlabSelf) => p.repository.split('/').next(),
        _ => None,
    };
    let web = |path: &str| host.map(|h| format!("https://{h}/{path}"));
    let clone_url = provider
        .map(|provider| provider.clone_url(&p.repository))
        .unwrap_or_else(|| p.repository.clone());
    BasicProject {
        id: p.id,
        description: None,
        name: &p.name,
        name_with_namespace: if namespace.is_empty() {
            p.name.clone()
        } else {
            format!("{} / {}", namespace.replace('/', " / "), p.name)
        },
        path,
        path_with_namespace,
        created_at: Time(p.created_at),
        default_branch: &p.branch,
        tag_list: [],
        topics: [],
        ssh_url_to_repo: clone_url,
        http_url_to_repo: web(&format!("{path_with_namespace}.git")),
        web_url: web(path_with_namespace),
        readme_url: None,
        forks_count: 0,
        avatar_url: None,
        star_count: 0,
        last_activity_at: Time(p.updated_at),
        visibility: Visibility::Private,
        namespace: NamespaceJson {
            id: p.user_id,
            name: namespace,
            path: namespace,
            kind: if namespace.contains('/') {
                NamespaceKind::Group
            } else {
                NamespaceKind::User
            },
            full_path: namespace,
            parent_id: None,
            avatar_url: None,
            web_url: web(namespace),
        },
    }
}

/// `X-Page`, `X-Per-Page`, `X-Next-Page`, `X-Prev-Page`, `X-Total`, `X-Total-Pages` and a
/// `Link` header built from the request's own scheme, host and port.
pub fn pagination(
    out: &mut HeaderMap,
    request: &HeaderMap,
    uri: &Uri,
    page: i64,
    per_page: i64,
    total: i64,
) {
    let pages = ((total + per_page - 1) / per_page).max(1);
    let next = (page < pages).then(|| page + 1);
    let prev = (page > 1).then(|| (page - 1).min(pages));
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    };
    set("x-page", page.to_string());
    set("x-per-page", per_page.to_string());
    set(
        "x-next-page",
        next.map(|n| n.to_string()).unwrap_or_default(),
    );
    set(
        "x-prev-page",
        prev.map(|n| n.to_string()).unwrap_or_default(),
    );
    set("x-total", total.to_string());
    set("x-total-pages", pages.to_string());

    let host = request
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = request
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| *s == "https")
        .unwrap_or("http");
    let kept: Vec<(String, String)> = crate::http::params::query_pairs(uri.query())
        .into_iter()
        .filter(|(k, _)| k != "page" && k != "per_page" && k != "private_token")
        .collect();
    let link = |page: i64, rel: &str| {
        let mut query = vec![
            ("page".to_owned(), page.to_string()),
            ("per_page".to_owned(), per_page.to_string()),
        ];
        query.extend(kept.iter().cloned());
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!("<{scheme}://{host}{}?{query}>; rel=\"{rel}\"", uri.path())
    };
    let mut links = Vec::new();
    if let Some(prev) = prev {
        links.push(link(prev, "prev"));
    }
    if let Some(next) = next {
        links.push(link(next, "next"));
    }
    links.push(link(1, "first"));
    links.push(link(pages, "last"));
    set("link", links.join(", "));
}
