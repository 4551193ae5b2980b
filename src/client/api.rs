//! The HTTP side of the client: requests to a Slipway server's `/api`, its answers as JSON, and
//! its refusals as errors a person can act on.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::model::Project;

/// Why a command could not do what it was asked, worded for the person who asked.
#[derive(Debug)]
pub enum ClientError {
    /// The command line or the local setup is wrong.
    Usage(String),
    /// 401: the server does not know the token.
    Refused,
    /// 403: the token lacks a scope (when the server says which), or the user the right.
    Forbidden {
        scope: Option<String>,
        message: String,
    },
    /// 404, with what was looked for.
    NotFound(String),
    /// 422: each field and its messages.
    Invalid(Vec<(String, Vec<String>)>),
    /// 400: the request was understood but cannot be carried out.
    Failed(String),
    /// 429, with the seconds to wait when the server says.
    RateLimited(Option<u64>),
    /// The server could not be reached, or the connection broke.
    Unreachable { url: String, cause: String },
    /// Any other answer.
    Unexpected { status: u16, message: String },
}

impl ClientError {
    /// The same error, with a 404 naming `what` was missing.
    pub fn missing(self, what: impl Into<String>) -> ClientError {
        match self {
            ClientError::NotFound(_) => ClientError::NotFound(what.into()),
            other => other,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Usage(message) => f.write_str(message),
            ClientError::Refused => f.write_str("the token was refused; run slipway login"),
            ClientError::Forbidden {
                scope: Some(scope), ..
            } => write!(
                f,
                "the token lacks the scope {scope}; create one that has it and run slipway login"
            ),
            ClientError::Forbidden {
                scope: None,
                message,
            } => write!(
                f,
                "the server does not allow this ({message}); some changes are for the \
                 project's owner alone"
            ),
            ClientError::NotFound(what) => write!(f, "{what} was not found"),
            ClientError::Invalid(fields) => {
                f.write_str("the server refused the request:")?;
                for (field, messages) in fields {
                    write!(f, "\n  {field}: {}", messages.join(" "))?;
                }
                Ok(())
            }
            ClientError::Failed(message) => f.write_str(message),
            ClientError::RateLimited(Some(seconds)) => write!(
                f,
                "the server is rate limiting this token; try again in {seconds} s"
            ),
            ClientError::RateLimited(None) => {
                f.write_str("the server is rate limiting this token; try again later")
            }
            ClientError::Unreachable { url, cause } => write!(f, "could not reach {url}: {cause}"),
            ClientError::Unexpected { status, message } => {
                write!(f, "the server answered {status}: {message}")
            }
        }
    }
}

impl std::error::Error for ClientError {}

pub type Result<T> = std::result::Result<T, ClientError>;

/// A server's answer: its body as sent (printed unchanged by `--json`) and as JSON.
pub struct Reply {
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// The value under `key`, as `T`.
    pub fn field<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        let value = self.json.get(key).cloned().unwrap_or(Value::Null);
        serde_json::from_value(value).map_err(|err| ClientError::Unexpected {
            status: 200,
            message: format!("its `{key}` is not what this client understands ({err})"),
        })
    }
}

/// One Server-Sent Event: its name and its data.
pub struct Event {
    pub name: String,
    pub data: String,
}

/// A stream of Server-Sent Events, read as it arrives.
pub struct Events {
    response: reqwest::Response,
    buffer: EventBuffer,
    url: String,
}

impl Events {
    /// The next event; `None` when the server closed the stream.
    pub async fn next(&mut self) -> Result<Option<Event>> {
        loop {
            if let Some(event) = self.buffer.take() {
                return Ok(Some(event));
            }
            // The server sends a keep-alive every 15 s: a longer silence is a dead connection.
            let chunk = tokio::time::timeout(STREAM_SILENCE, self.response.chunk())
                .await
                .map_err(|_| ClientError::Unreachable {
                    url: self.url.clone(),
                    cause: format!("nothing arrived for {} s", STREAM_SILENCE.as_secs()),
                })?
                .map_err(|err| unreachable(&self.url, &err))?;
            match chunk {
                Some(bytes) => self.buffer.push(&bytes),
                None => return Ok(None),
            }
        }
    }
}

/// Bytes of an event stream read but not yet taken as events.
#[derive(Default)]
struct EventBuffer {
    /// The bytes after the last complete event (which may end inside a character).
    pending: Vec<u8>,
    /// How far `pending` is known to hold no event's end: a large event arrives in many
    /// chunks, and each is searched once.
    searched: usize,
}

impl EventBuffer {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Takes one complete event (ended by a blank line); comments and events without a name
    /// are skipped.
    fn take(&mut self) -> Option<Event> {
        loop {
            let from = self.searched.saturating_sub(1);
            let Some(found) = self.pending[from..].windows(2).position(|w| w == b"\n\n") else {
                self.searched = self.pending.len();
                return None;
            };
            self.searched = 0;
            let block: Vec<u8> = self.pending.drain(..from + found + 2).collect();
            let block = String::from_utf8_lossy(&block);
            let mut name = String::new();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            if !name.is_empty() {
                return Some(Event {
                    name,
                    data: data.join("\n"),
                });
            }
        }
    }
}

/// A Slipway server, and the token to speak to it with.
pub struct Api {
    http: reqwest::Client,
    base: Url,
    token: SecretString,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest silence on an event stream before it counts as broken.
const STREAM_SILENCE: Duration = Duration::from_secs(45);

impl Api {
    pub fn new(base: Url, token: SecretString) -> Result<Api> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("slipway-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| ClientError::Usage(format!("cannot make an HTTP client: {err}")))?;
        Ok(Api { http, base, token })
    }

    pub async fn get(&self, path: &str) -> Result<Reply> {
        self.send(Method::GET, path, None).await
    }

    /// A GET with a JSON body, as the Envoyer API reads an environment (the key stays out of
    /// URLs and logs).
    pub async fn get_with(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(Method::GET, path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Reply> {
        self.send(Method::DELETE, path, None).await
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Reply> {
        let url = self.url(path);
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(self.token.expose_secret())
            .header("accept", "application/json")
            .timeout(REQUEST_TIMEOUT);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| unreachable(url.as_str(), &err))?;
        let status = response.status();
        let retry_after = header_number(&response, "retry-after");
        let text = response
            .text()
            .await
            .map_err(|err| unreachable(url.as_str(), &err))?;
        let json: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(json) => json,
                Err(_) if status.is_success() => {
                    return Err(ClientError::Unexpected {
                        status: status.as_u16(),
                        message: format!("{url} did not answer with JSON; is it a Slipway server?"),
                    });
                }
                Err(_) => Value::Null,
            }
        };
        if status.is_success() {
            return Ok(Reply { text, json });
        }
        Err(refusal(status, &json, retry_after, url.path()))
    }

    /// Opens a stream of Server-Sent Events.
    pub async fn events(&self, path: &str) -> Result<Events> {
        let url = self.url(path);
        let response = self
            .http
            .get(url.clone())
            .bearer_auth(self.token.expose_secret())
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|err| unreachable(url.as_str(), &err))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = header_number(&response, "retry-after");
            let json = response.json::<Value>().await.unwrap_or(Value::Null);
            return Err(refusal(status, &json, retry_after, url.path()));
        }
        Ok(Events {
            response,
            buffer: EventBuffer::default(),
            url: url.to_string(),
        })
    }

    /// The project named `name_or_id`: a number is its id, anything else its exact name.
    pub async fn project(&self, name_or_id: &str) -> Result<(Project, Reply)> {
        if !name_or_id.is_empty() && name_or_id.bytes().all(|b| b.is_ascii_digit()) {
            let reply = self
                .get(&format!("/api/projects/{name_or_id}"))
                .await
                .map_err(|err| err.missing(format!("project {name_or_id}")))?;
            let project = reply.field("project")?;
            return Ok((project, reply));
        }
        let projects: Vec<Project> = self.get("/api/projects").await?.field("projects")?;
        let mut named: Vec<Project> = projects
            .into_iter()
            .filter(|p| p.name == name_or_id)
            .collect();
        match named.len() {
            0 => Err(ClientError::NotFound(format!(
                "a project named {name_or_id:?}"
            ))),
            1 => {
                let id = named.remove(0).id;
                let reply = self.get(&format!("/api/projects/{id}")).await?;
                let project = reply.field("project")?;
                Ok((project, reply))
            }
            _ => {
                let ids: Vec<String> = named.iter().map(|p| p.id.to_string()).collect();
                Err(ClientError::Usage(format!(
                    "{} projects are named {name_or_id:?} (ids {}); name one by its id",
                    named.len(),
                    ids.join(", ")
                )))
            }
        }
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let base_path = self.base.path().trim_end_matches('/');
        match path.split_once('?') {
            Some((path, query)) => {
                url.set_path(&format!("{base_path}{path}"));
                url.set_query(Some(query));
            }
            None => url.set_path(&format!("{base_path}{path}")),
        }
        url
    }
}

fn header_number(response: &reqwest::Response, name: &str) -> Option<u64> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
}

fn unreachable(url: &str, err: &reqwest::Error) -> ClientError {
    use std::error::Error as _;
    // reqwest's own words are generic ("error sending request"); the root cause says why.
    let mut cause = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if err.is_timeout() {
        cause = "the server did not answer in time".to_owned();
    }
    // The URL never carries the token, but strip a query string all the same.
    let url = url.split('?').next().unwrap_or(url).to_owned();
    ClientError::Unreachable { url, cause }
}

/// The error for a refusal, from its status and Laravel-style body.
fn refusal(status: StatusCode, body: &Value, retry_after: Option<u64>, path: &str) -> ClientError {
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match status {
        StatusCode::UNAUTHORIZED => ClientError::Refused,
        StatusCode::FORBIDDEN => ClientError::Forbidden {
            scope: body
                .get("missing_scope")
                .and_then(Value::as_str)
                .map(str::to_owned),
            message: if message.is_empty() {
                "403 Forbidden".to_owned()
            } else {
                message
            },
        },
        StatusCode::NOT_FOUND => ClientError::NotFound(path.to_owned()),
        StatusCode::UNPROCESSABLE_ENTITY => {
            let fields = body
                .get("errors")
                .and_then(Value::as_object)
                .map(|errors| {
                    errors
                        .iter()
                        .map(|(field, messages)| {
                            let messages = match messages {
                                Value::Array(list) => list
                                    .iter()
                                    .map(|m| m.as_str().unwrap_or_default().to_owned())
                                    .collect(),
                                other => vec![other.to_string()],
                            };
                            (field.clone(), messages)
                        })
                        .collect()
                })
                .unwrap_or_else(|| vec![(String::from("request"), vec![message.clone()])]);
            ClientError::Invalid(fields)
        }
        StatusCode::BAD_REQUEST if !message.is_empty() => ClientError::Failed(message),
        StatusCode::TOO_MANY_REQUESTS => ClientError::RateLimited(retry_after),
        _ => ClientError::Unexpected {
            status: status.as_u16(),
            message: if message.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no explanation")
                    .to_owned()
            } else {
                message
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_422_lists_each_field_with_its_messages() {
        let body = serde_json::json!({
            "message": "The given data was invalid.",
            "errors": {"branch": ["The branch must be a valid git branch name."], "sha": ["Bad."]}
        });
        let err = refusal(StatusCode::UNPROCESSABLE_ENTITY, &body, None, "/api/x");
        assert_eq!(
            err.to_string(),
            "the server refused the request:\n  branch: The branch must be a valid git branch name.\n  sha: Bad."
        );
    }

    #[test]
    fn a_403_names_the_missing_scope_when_the_server_does() {
        let body = serde_json::json!({"message": "This action is unauthorized.", "missing_scope": "deployments:create"});
        let err = refusal(StatusCode::FORBIDDEN, &body, None, "/api/x");
        assert!(
            err.to_string()
                .contains("lacks the scope deployments:create")
        );
        let err = refusal(StatusCode::FORBIDDEN, &Value::Null, None, "/api/x");
        assert!(err.to_string().contains("(403 Forbidden)"), "{err}");
    }

    #[test]
    fn events_are_taken_whole_however_the_stream_is_cut() {
        let stream =
            ":keep-alive\n\nevent: output\ndata: {\"text\":\"héllo\"}\n\nevent: end\ndata: {}\n\n";
        for cut in 1..stream.len() {
            let (first, second) = stream.as_bytes().split_at(cut);
            let mut buffer = EventBuffer::default();
            let mut events = Vec::new();
            for chunk in [first, second] {
                buffer.push(chunk);
                while let Some(event) = buffer.take() {
                    events.push((event.name, event.data));
                }
            }
            assert_eq!(
                events,
                [
                    ("output".to_owned(), "{\"text\":\"héllo\"}".to_owned()),
                    ("end".to_owned(), "{}".to_owned())
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn paths_join_the_base_url_with_its_own_path() {
        let api = Api::new(
            Url::parse("https://deploy.example.com/slipway/").unwrap(),
            SecretString::from("t".to_owned()),
        )
        .unwrap();
        assert_eq!(
            api.url("/api/projects?environment=staging").as_str(),
            "https://deploy.example.com/slipway/api/projects?environment=staging"
        );
    }
}
