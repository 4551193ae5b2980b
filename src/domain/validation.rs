//! Request parameters as a loosely typed bag, and what can be wrong with a field, named rather
//! than worded: each dialect words a [`Problem`] its own way.
//!
//! Clients send JSON, form fields, or form fields labelled as JSON, so every value is read
//! through the same getters: each records a field problem when the value has the wrong type
//! and yields `None`, so that one request reports every bad field at once.

use serde_json::{Map, Value};

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    // The value's form.
    Required,
    NotString,
    NotBoolean,
    NotInteger,
    NotArray,
    NotIntegerEntries,
    ControlCharacters,
    /// More characters than the field takes.
    TooLong(usize),
    /// Fewer characters than the field needs.
    TooShort(usize),
    /// More than this many kilobytes.
    TooLarge(usize),
    /// Not one of the field's values (or no such record).
    NotOneOf,
    Between(i64, i64),
    SecondsBetween(i64, i64),
    Email,
    Url,
    /// A URL with a scheme other than http or https.
    Scheme,
    UnixUser,
    Host,
    GitRef,
    Sha,
    RelativePath,
    AbsolutePath,
    ProgramPath,
    EnvironmentName,
    Repository(RepositoryForm),
    /// The provider changed and the stored repository does not fit it.
    RepositoryForProvider,
    LocalRepositoriesOff,
    /// A `file://` repository outside the allowed directory (named).
    LocalRepositoryOutside(String),
    /// The request body could not be read (why).
    Unreadable(String),
    /// May not be sent together with the named field.
    Exclusive(&'static str),
    /// Made by the server; may not be sent.
    ReadOnly,
    /// A number outside the allowed range.
    OutOfRange,
    /// A date outside the allowed window.
    DateWindow,
    // What is stored.
    Taken,
    NoSuchUser,
    OwnerCannotCollaborate,
    FolderLinked,
    KeyDoesNotUnlock,
    NotTheProjectsServers,
    HealthGateNeedsMonitor,
    /// An outbound URL the address policy refuses (why).
    Outbound(String),
    /// The named environment has no servers to deploy to.
    NoServersIn(String),
    /// The named environment has no servers that receive code.
    NoCodeServersIn(String),
    ReleaseAndDeployment,
    /// A release of another environment: the release, its environment, the one asked for.
    ReleaseElsewhere(String, String, String),
    NoEarlierRelease,
    /// A release that cannot be rolled back to, and why.
    Unusable(String, String),
    BuiltNoRelease,
    /// A provider web hook without an event header.
    NoEventHeader,
    PayloadNotJson,
    /// Already stopped, and not forced.
    AlreadyStopped,
    // Signing in.
    CredentialsRefused,
    TooManyAttempts,
    PasswordTooShort(usize),
}

/// The form a provider's repository takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepositoryForm {
    OwnerName,
    HostGroupName,
    GitUrl,
}

/// Field → problems, in the order the fields were first reported.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FieldErrors(Vec<(String, Vec<Problem>)>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, problem: Problem) {
        match self.0.iter_mut().find(|(name, _)| name == field) {
            Some((_, problems)) => problems.push(problem),
            None => self.0.push((field.to_owned(), vec![problem])),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|(name, _)| name == field)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Problem])> {
        self.0.iter().map(|(f, p)| (f.as_str(), p.as_slice()))
    }

    /// `Ok(())` when nothing was reported, else the whole set as an `Error::Invalid`.
    pub fn into_result(self) -> crate::error::Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(crate::error::Error::Invalid(self))
        }
    }
}

/// How Laravel names a field in a sentence: `retain_deployments` and `connectAs` become
/// "retain deployments" and "connect as".
pub fn attribute_name(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    for ch in field.chars() {
        if ch == '_' || ch == '-' {
            out.push(' ');
        } else if ch.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Request parameters, from a JSON object, form fields or a query string.
#[derive(Debug, Default, Clone)]
pub struct Params(Map<String, Value>);

impl Params {
    pub fn new(map: Map<String, Value>) -> Self {
        Params(map)
    }

    /// Adds the pairs of a query string or form body; `a[]=1&a[]=2` and repeated keys become
    /// arrays. Existing keys are kept (a body wins over the query string).
    pub fn merge_pairs(&mut self, pairs: Vec<(String, String)>) {
        let mut incoming: Map<String, Value> = Map::new();
        for (key, value) in pairs {
            let (key, is_list) = match key.strip_suffix("[]") {
                Some(stripped) => (stripped.to_owned(), true),
                None => (key, false),
            };
            match incoming.get_mut(&key) {
                Some(Value::Array(items)) => items.push(Value::String(value)),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, Value::String(value)]);
                }
                None if is_list => {
                    incoming.insert(key, Value::Array(vec![Value::String(value)]));
                }
                None => {
                    incoming.insert(key, Value::String(value));
                }
            }
        }
        for (key, value) in incoming {
            self.0.entry(key).or_insert(value);
        }
    }

    fn present(&self, field: &str) -> Option<&Value> {
        match self.0.get(field) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    /// Whether the request names the field at all, even as null or blank: on update that
    /// clears an optional value.
    pub fn sent(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// Whether the field was sent as a string of nothing but whitespace.
    pub fn is_blank(&self, field: &str) -> bool {
        matches!(self.0.get(field), Some(Value::String(s)) if s.trim().is_empty())
    }

    pub fn contains(&self, field: &str) -> bool {
        self.present(field).is_some()
    }

    /// The first of `names` that is present, so camelCase and snake_case spellings both work.
    pub fn first_present<'a>(&self, names: &[&'a str]) -> Option<&'a str> {
        names.iter().copied().find(|name| self.contains(name))
    }

    /// A string; numbers are refused as Laravel's `string` rule does. Blank strings count as
    /// absent (Laravel trims them to null).
    pub fn string(&self, field: &str, errors: &mut FieldErrors) -> Option<String> {
        match self.present(field)? {
            Value::String(s) if s.chars().any(char::is_control) => {
                errors.add(field, Problem::ControlCharacters);
                None
            }
            Value::String(s) => {
                let trimmed = s.trim();
                (!trimmed.is_empty()).then(|| trimmed.to_owned())
            }
            _ => {
                errors.add(field, Problem::NotString);
                None
            }
        }
    }

    /// A string that must be there.
    pub fn required_string(&self, field: &str, errors: &mut FieldErrors) -> Option<String> {
        if !self.contains(field) {
            errors.add(field, Problem::Required);
            return None;
        }
        let value = self.string(field, errors);
        if value.is_none() && !errors.has(field) {
            errors.add(field, Problem::Required);
        }
        value
    }

    /// A string kept exactly as sent (no trimming): scripts and file contents.
    pub fn raw_string(&self, field: &str, errors: &mut FieldErrors) -> Option<String> {
        match self.present(field)? {
            // Text files keep their line breaks and tabs; a NUL byte has no place in a script
            // or an .env file (and PostgreSQL cannot store one).
            Value::String(s)
                if s.chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
            {
                errors.add(field, Problem::ControlCharacters);
                None
            }
            Value::String(s) => Some(s.clone()),
            _ => {
                errors.add(field, Problem::NotString);
                None
            }
        }
    }

    pub fn boolean(&self, field: &str, errors: &mut FieldErrors) -> Option<bool> {
        let parsed = match self.present(field)? {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "on" | "yes" => Some(true),
                "0" | "false" | "off" | "no" | "" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            errors.add(field, Problem::NotBoolean);
        }
        parsed
    }

    pub fn integer(&self, field: &str, errors: &mut FieldErrors) -> Option<i64> {
        let parsed = match self.present(field)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            errors.add(field, Problem::NotInteger);
        }
        parsed
    }

    /// A list of integers: a JSON array, repeated form fields, or one comma-separated string.
    pub fn integer_list(&self, field: &str, errors: &mut FieldErrors) -> Option<Vec<i64>> {
        let items: Vec<Value> = match self.present(field)? {
            Value::Array(items) => items.clone(),
            Value::String(s) if s.trim().is_empty() => Vec::new(),
            Value::String(s) => s
                .split(',')
                .map(|part| Value::String(part.trim().to_owned()))
                .collect(),
            Value::Number(n) => vec![Value::Number(n.clone())],
            _ => {
                errors.add(field, Problem::NotArray);
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let parsed = match &item {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match parsed {
                Some(id) => out.push(id),
                None => {
                    errors.add(field, Problem::NotIntegerEntries);
                    return None;
                }
            }
        }
        Some(out)
    }
}

/// Checks a string's length in characters.
pub fn check_max_len(field: &str, value: &str, max: usize, errors: &mut FieldErrors) {
    if value.chars().count() > max {
        errors.add(field, Problem::TooLong(max));
    }
}

/// An absolute http(s) URL with a host.
pub fn is_http_url(value: &str) -> bool {
    match url::Url::parse(value) {
        Ok(url) => matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
        Err(_) => false,
    }
}

/// A plain `local@domain.tld` address, without display names or spaces.
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// A branch or tag name that `git check-ref-format` accepts and that cannot be mistaken for an
/// option. Shell metacharacters are refused outright: names reach remote shells (quoted, but
/// refusing them keeps logs and scripts unsurprising).
pub fn is_git_ref_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 || name.starts_with('-') || name == "@" {
        return false;
    }
    if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        return false;
    }
    if name.contains("..") || name.contains("@{") || name.contains("//") {
        return false;
    }
    if name
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        return false;
    }
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '+'))
}

/// A path relative to a release, inside it: no leading `/`, no `..` or `.` component, no empty
/// component, only characters that are safe in file names.
pub fn is_safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 255
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '@' | '+'))
}

/// An absolute path on a server, normalised (no `..`, `.`, `//`, trailing `/`), with only
/// characters that are safe in file names.
pub fn is_safe_absolute_path(path: &str) -> bool {
    path.len() > 1
        && path.len() <= 255
        && path.starts_with('/')
        && is_safe_relative_path(&path[1..])
}

/// A Unix user name as `useradd` accepts it.
pub fn is_unix_user(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

/// A host name or an IP address (v4, or v6 without brackets).
pub fn is_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names_read_like_laravel() {
        assert_eq!(attribute_name("retain_deployments"), "retain deployments");
        assert_eq!(attribute_name("connectAs"), "connect as");
        assert_eq!(attribute_name("name"), "name");
    }

    #[test]
    fn git_ref_names() {
        for good in ["main", "feature/x-1", "v8.4.1", "release_2026"] {
            assert!(is_git_ref_name(good), "{good}");
        }
        for bad in [
            "main;rm -rf /",
            "-x",
            "a..b",
            "a b",
            "$(id)",
            "x.lock",
            "/a",
            "a/",
            ".hidden",
            "",
            "a@{1}",
            "back`tick`",
        ] {
            assert!(!is_git_ref_name(bad), "{bad}");
        }
    }

    #[test]
    fn relative_paths_stay_inside() {
        assert!(is_safe_relative_path("public/uploads"));
        for bad in [
            "../etc", "a/../b", "/abs", "a//b", "a/./b", "a b", "x;y", "",
        ] {
            assert!(!is_safe_relative_path(bad), "{bad}");
        }
        assert!(is_safe_absolute_path("/home/forge/site.com"));
        assert!(!is_safe_absolute_path("/"));
        assert!(!is_safe_absolute_path("relative/path"));
        assert!(!is_safe_absolute_path("/home/../etc"));
    }

    #[test]
    fn emails_and_hosts() {
        assert!(is_email("taylor@laravel.com"));
        assert!(!is_email("taylor@localhost"));
        assert!(!is_email("not an email@x.com"));
        assert!(is_host("test.laravel.com"));
        assert!(is_host("127.0.0.1"));
        assert!(is_host("::1"));
        assert!(!is_host("bad host"));
        assert!(!is_host("-x.com"));
    }

    #[test]
    fn params_read_typed_values_and_report_wrong_types() {
        let mut params = Params::default();
        params.merge_pairs(vec![
            ("servers[]".into(), "1".into()),
            ("servers[]".into(), "2".into()),
            ("composer".into(), "1".into()),
            ("port".into(), "x".into()),
        ]);
        let mut errors = FieldErrors::default();
        assert_eq!(
            params.integer_list("servers", &mut errors),
            Some(vec![1, 2])
        );
        assert_eq!(params.boolean("composer", &mut errors), Some(true));
        assert_eq!(params.integer("port", &mut errors), None);
        assert!(errors.has("port"));
        assert!(!errors.has("servers"));
    }
}
