//! What both OpenAPI documents are built from: operations described by the request and
//! response types themselves (their `ToSchema` derives), the schemas those types name, and the
//! interactive reference at `/api/docs`.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use utoipa::ToSchema;
use utoipa::openapi::path::{
    Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HttpMethod, Info, OpenApi, OpenApiBuilder, Paths, Ref,
    RefOr, Required,
};

/// A router that keeps the paths it routes, so that a test can hold them against the
/// document.
pub struct Routes<S> {
    router: Router<S>,
    paths: Vec<&'static str>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            paths: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn route(mut self, path: &'static str, methods: MethodRouter<S>) -> Self {
        self.router = self.router.route(path, methods);
        self.paths.push(path);
        self
    }

    pub fn paths(&self) -> &[&'static str] {
        &self.paths
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

/// The schemas a document refers to, each registered once under its name.
#[derive(Default)]
pub struct Schemas(Vec<(String, RefOr<Schema>)>);

impl Schemas {
    /// Registers `T` and every schema it names, and returns a reference to it.
    pub fn of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name().into_owned();
        if !self.0.iter().any(|(known, _)| *known == name) {
            self.0.push((name.clone(), T::schema()));
            T::schemas(&mut self.0);
        }
        Ref::from_schema_name(name).into()
    }

    /// A request body of `T`, required when `T` has a required field.
    pub fn body<T: ToSchema>(&mut self) -> Input {
        let required = match T::schema() {
            RefOr::T(Schema::Object(object)) if object.required.is_empty() => Required::False,
            _ => Required::True,
        };
        Input::Body(Box::new(self.of::<T>()), required)
    }

    /// `{"<key>": T}`: the envelope Envoyer wraps every answer in.
    pub fn keyed<T: ToSchema>(&mut self, key: &str) -> RefOr<Schema> {
        let inner = self.of::<T>();
        ObjectBuilder::new()
            .property(key, inner)
            .required(key)
            .into()
    }

    /// `{"<key>": [T, …]}`
    pub fn keyed_list<T: ToSchema>(&mut self, key: &str) -> RefOr<Schema> {
        let inner = self.of::<T>();
        ObjectBuilder::new()
            .property(
                key,
                utoipa::openapi::schema::ArrayBuilder::new().items(inner),
            )
            .required(key)
            .into()
    }

    fn into_components(mut self) -> Vec<(String, RefOr<Schema>)> {
        let mut seen = std::collections::HashSet::new();
        self.0.retain(|(name, _)| seen.insert(name.clone()));
        self.0.sort_by(|a, b| a.0.cmp(&b.0));
        self.0
    }
}

/// How a request sends its parameters.
pub enum Input {
    None,
    /// A JSON body (form fields work too), and whether one must be sent.
    Body(Box<RefOr<Schema>>, Required),
    /// Query string parameters.
    Query(Vec<Parameter>),
}

/// A media type and its schema.
pub type Content = (&'static str, RefOr<Schema>);

/// A status, what it means, and (for answers with a body) its content.
pub type Answer = (u16, &'static str, Option<Content>);

/// One documented operation.
pub struct Op {
    pub method: HttpMethod,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    /// What the token must be allowed, if anything beyond reading.
    pub scope: Option<&'static str>,
    pub input: Input,
    pub responses: Vec<Answer>,
    pub description: Option<&'static str>,
    /// Headers it reads, beyond the token.
    pub headers: Vec<Parameter>,
}

/// An integer path parameter (`{projectId}`).
pub fn id_parameter(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        ))
        .build()
}

/// A string path parameter.
pub fn text_parameter(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1)),
        ))
        .build()
}

/// An optional query parameter.
pub fn query(name: &str, description: &str, schema: impl Into<RefOr<Schema>>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

pub struct Dialect {
    pub info: Info,
    pub tags: &'static [(&'static str, &'static str)],
    /// The security scheme every operation with a scope or `secured` uses.
    pub scheme: (&'static str, SecurityScheme),
    /// Parameters every operation of a path takes, by the path's `{name}`.
    pub path_parameters: fn(&str) -> Option<Parameter>,
    /// Whether an operation without a scope still needs the token.
    pub secured: fn(&Op) -> bool,
}

pub fn build(dialect: Dialect, ops: Vec<Op>, schemas: Schemas) -> OpenApi {
    let mut paths = Paths::new();
    for op in ops {
        paths.add_path_operation(op.path, vec![op.method.clone()], operation(&dialect, &op));
    }
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas.into_components())
        .security_scheme(dialect.scheme.0, dialect.scheme.1.clone())
        .build();
    // Relative: the document describes the server it is served from.
    let this_server = utoipa::openapi::server::ServerBuilder::new()
        .url("/")
        .description(Some("This Slipway server"))
        .build();
    OpenApiBuilder::new()
        .info(dialect.info.clone())
        .servers(Some(vec![this_server]))
        .paths(paths)
        .components(Some(components))
        .tags(Some(
            dialect
                .tags
                .iter()
                .map(|(name, description)| {
                    TagBuilder::new()
                        .name(*name)
                        .description(Some(*description))
                        .build()
                })
                .collect::<Vec<_>>(),
        ))
        .build()
}

fn operation(dialect: &Dialect, op: &Op) -> Operation {
    let mut responses = ResponsesBuilder::new();
    for (status, description, content) in &op.responses {
        let mut response = ResponseBuilder::new().description(*description);
        if let Some((content_type, schema)) = content {
            response = response.content(
                *content_type,
                ContentBuilder::new().schema(Some(schema.clone())).build(),
            );
        }
        responses = responses.response(status.to_string(), response.build());
    }
    let mut parameters: Vec<Parameter> = op
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .filter_map(dialect.path_parameters)
        .collect();
    let mut description = op.description.unwrap_or_default().to_owned();
    if let Some(scope) = op.scope {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&format!("Needs a token with the `{scope}` scope."));
    }
    let mut builder = OperationBuilder::new()
        .summary(Some(op.summary))
        .tag(op.tag)
        .operation_id(Some(operation_id(op)))
        .responses(responses.build());
    if !description.is_empty() {
        builder = builder.description(Some(description));
    }
    match &op.input {
        Input::None => {}
        Input::Query(list) => parameters.extend(list.iter().cloned()),
        Input::Body(schema, required) => {
            builder = builder.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(schema.as_ref().clone()))
                            .build(),
                    )
                    .required(Some(required.clone()))
                    .build(),
            ));
        }
    }
    parameters.extend(op.headers.iter().cloned());
    if !parameters.is_empty() {
        builder = builder.parameters(Some(parameters));
    }
    let requirement = match (op.scope, (dialect.secured)(op)) {
        (Some(scope), _) => Some(SecurityRequirement::new(dialect.scheme.0, [scope])),
        (None, true) => Some(SecurityRequirement::new(
            dialect.scheme.0,
            Vec::<String>::new(),
        )),
        (None, false) => None,
    };
    builder = builder.securities(Some(requirement.into_iter().collect::<Vec<_>>()));
    builder.build()
}

/// `listProjects`-style ids from the summary, which every table keeps unique.
fn operation_id(op: &Op) -> String {
    let mut id = String::new();
    for (index, word) in op
        .summary
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if index == 0 {
                id.push(first.to_ascii_lowercase());
            } else {
                id.push(first.to_ascii_uppercase());
            }
            id.push_str(chars.as_str());
        }
    }
    id
}

/// A response helper: JSON content of `schema`.
pub fn json(schema: RefOr<Schema>) -> Option<Content> {
    Some(("application/json", schema))
}

/// Serves a document as JSON, built once into `json`.
pub fn serve(json: &'static std::sync::OnceLock<Vec<u8>>, document: fn() -> OpenApi) -> Response {
    let bytes = json.get_or_init(|| {
        serde_json::to_vec(&document()).expect("an OpenAPI document always serialises")
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        bytes.as_slice(),
    )
        .into_response()
}

/// `/api/docs`: an interactive reference of both dialects, served from files built into the
/// binary (no CDN).
pub fn docs_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    use utoipa_swagger_ui::{Config, SwaggerUi, Url};
    let ui = SwaggerUi::new("/api/docs").config(
        Config::new([
            Url::new("Envoyer dialect (/api)", "/api/openapi.json"),
            Url::new(
                "GitLab Environments dialect (/api/v4)",
                "/api/v4/openapi.json",
            ),
        ])
        .try_it_out_enabled(true),
    );
    Router::from(ui).with_state(())
}

/// String fields as the services' rules accept them, each described once for both
/// dialects (utoipa's `pattern` takes only literals, so these are `schema_with` functions).
pub mod fields {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    use utoipa::openapi::{KnownFormat, SchemaFormat};

    fn text(pattern: &str, min: usize, max: usize) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .min_length((min > 0).then_some(min))
            .max_length(Some(max))
    }

    /// No control characters, and something besides spaces.
    const SOME_TEXT: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";
    /// Kept as sent: line breaks and tabs allowed, other control characters not.
    const RAW_TEXT: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

    pub fn name() -> ObjectBuilder {
        text(SOME_TEXT, 1, 255)
    }

    /// `owner/name`, `host/group/name` or a git URL, depending on the provider.
    pub fn repository() -> ObjectBuilder {
        text(SOME_TEXT, 1, 1024)
    }

    pub fn secret_key() -> ObjectBuilder {
        text(RAW_TEXT, 1, 255)
    }

    pub fn env_contents() -> ObjectBuilder {
        text(RAW_TEXT, 0, 1024 * 1024)
    }

    pub fn description() -> ObjectBuilder {
        text(RAW_TEXT, 0, 10_000)
    }

    pub fn teardown_script() -> ObjectBuilder {
        text(RAW_TEXT, 0, 64 * 1024)
    }

    /// A script with something besides white space.
    pub fn script() -> ObjectBuilder {
        text(
            r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$",
            1,
            64 * 1024,
        )
    }

    /// A git branch or tag name.
    pub fn git_ref() -> ObjectBuilder {
        text(
            r"^(?!.*\.\.)(?!.*//)(?!.*(?:^|/)\.)(?!.*\.lock(?:/|$))[A-Za-z0-9_+][A-Za-z0-9_./+-]*(?<![/.])$",
            1,
            255,
        )
    }

    pub fn commit_sha() -> ObjectBuilder {
        text(r"^[0-9a-fA-F]{7,40}$", 7, 40)
    }

    /// Letters, digits, `-_/${}.` and spaces; not starting or ending with `/` or a space.
    pub fn environment_name() -> ObjectBuilder {
        text(
            r"^[A-Za-z0-9_${}.-]([A-Za-z0-9 _/${}.-]*[A-Za-z0-9_${}.-])?$",
            1,
            255,
        )
    }

    pub fn unix_user() -> ObjectBuilder {
        text(r"^[a-z_][a-z0-9_-]{0,31}$", 1, 32)
    }

    /// A program name, or an absolute path to one.
    pub fn program_path() -> ObjectBuilder {
        text(
            r"^([A-Za-z0-9_][A-Za-z0-9._-]{0,63}|/[A-Za-z0-9_@+-][A-Za-z0-9_./@+-]*)$",
            1,
            255,
        )
    }

    /// Relative to the project, without `.` or `..` components.
    pub fn relative_path() -> ObjectBuilder {
        text(
            r"^(?!\.{1,2}(?:/|$))(?!.*/\.{1,2}(?:/|$))(?!.*//)[A-Za-z0-9_.@+-][A-Za-z0-9_./@+-]*(?<!/)$",
            1,
            255,
        )
    }

    pub fn absolute_path() -> ObjectBuilder {
        text(
            r"^(?!.*/\.{1,2}(?:/|$))(?!.*//)/[A-Za-z0-9_.@+-][A-Za-z0-9_./@+-]*(?<!/)$",
            2,
            255,
        )
    }

    /// An http(s) URL with a host (and a real port, if any).
    pub fn http_url() -> ObjectBuilder {
        text(
            r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/[!-~]*)?$",
            1,
            2048,
        )
    }

    pub fn email() -> ObjectBuilder {
        text(
            r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
            3,
            320,
        )
    }

    /// A host name, or an IPv4 or IPv6 address.
    pub fn host() -> OneOfBuilder {
        OneOfBuilder::new()
            .item(text(
                r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
                1,
                253,
            ))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Ipv6))),
            )
    }
}
