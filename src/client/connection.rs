//! Which server the client speaks to, with which token: `SLIPWAY_URL` and `SLIPWAY_TOKEN`
//! when set (a CI job needs no file), else what `slipway login` stored in
//! `$XDG_CONFIG_HOME/slipway/config.toml`.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::api::{Api, ClientError, Result};

/// The file's contents.
#[derive(Serialize, Deserialize)]
struct Stored {
    url: String,
    token: String,
}

/// Where `slipway login` keeps the URL and the token.
pub fn config_path() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => {
                return Err(ClientError::Usage(
                    "neither XDG_CONFIG_HOME nor HOME is set, so there is no place for the \
                     configuration; set SLIPWAY_URL and SLIPWAY_TOKEN instead"
                        .to_owned(),
                ));
            }
        },
    };
    Ok(base.join("slipway").join("config.toml"))
}

/// A server URL as given on the command line or in `SLIPWAY_URL`: http or https, no query.
pub fn parse_url(text: &str) -> Result<Url> {
    // A URL with a user part may carry a secret: it is never echoed.
    let shown = if text.contains('@') {
        "the URL".to_owned()
    } else {
        format!("{text:?}")
    };
    let invalid = |why: &str| ClientError::Usage(format!("{shown} is not a server URL: {why}"));
    let mut url = Url::parse(text.trim()).map_err(|err| invalid(&err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("it must start with http:// or https://"));
    }
    if url.host_str().is_none() {
        return Err(invalid("it names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("the token goes in --token, not in the URL"));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// The API client for the configured server. URL and token go together: the stored token is
/// only ever sent to the stored URL.
pub fn connect() -> Result<Api> {
    let variable = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (url, token) = match (variable("SLIPWAY_URL"), variable("SLIPWAY_TOKEN")) {
        (Some(url), Some(token)) => (parse_url(&url)?, token),
        (url, token) => {
            let stored = read_stored()?.ok_or_else(not_logged_in)?;
            let stored_url = parse_url(&stored.url)?;
            match (url, token) {
                (Some(url), None) => {
                    let url = parse_url(&url)?;
                    if url != stored_url {
                        return Err(ClientError::Usage(format!(
                            "SLIPWAY_URL names {url}, but the stored token is for {stored_url}; \
                             set SLIPWAY_TOKEN too"
                        )));
                    }
                    (url, stored.token)
                }
                (_, token) => (stored_url, token.unwrap_or(stored.token)),
            }
        }
    };
    Api::new(url, SecretString::from(token))
}

/// Whether a token sent to `url` crosses the network unencrypted.
pub fn is_plain_http_elsewhere(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.scheme() == "http" && !loopback
}

fn not_logged_in() -> ClientError {
    ClientError::Usage(
        "no server to speak to: run slipway login --url URL, or set SLIPWAY_URL and SLIPWAY_TOKEN"
            .to_owned(),
    )
}

fn read_stored() -> Result<Option<Stored>> {
    let path = config_path()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(ClientError::Usage(format!(
                "cannot read {}: {err}",
                path.display()
            )));
        }
    };
    // toml's error quotes the offending line, which may be the token: say where, not what.
    toml::from_str(&text).map(Some).map_err(|_| {
        ClientError::Usage(format!(
            "{} is not a configuration this client understands; run slipway login again",
            path.display()
        ))
    })
}

/// Stores URL and token, readable by the user alone; answers the file's path.
pub fn save(url: &Url, token: &SecretString) -> Result<PathBuf> {
    let path = config_path()?;
    let failed =
        |err: std::io::Error| ClientError::Usage(format!("cannot write {}: {err}", path.display()));
    let dir = path
        .parent()
        .expect("the configuration file is in a directory");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed)?;
    let stored = Stored {
        url: url.to_string(),
        token: token.expose_secret().to_owned(),
    };
    let text = toml::to_string(&stored).expect("two strings always serialize");
    // Written beside the old file and renamed over it: a reader sees the old or the new one,
    // and the token is never in a file others may read, not even for a moment.
    let temporary = dir.join(".config.toml.new");
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    std::fs::rename(&temporary, &path).map_err(failed)?;
    Ok(path)
}

/// Forgets URL and token; answers the URL that was stored, if any.
pub fn forget() -> Result<Option<String>> {
    let path = config_path()?;
    let stored = read_stored().ok().flatten();
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(Some(stored.map(|s| s.url).unwrap_or_default())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(ClientError::Usage(format!(
            "cannot remove {}: {err}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn plain_http_is_only_fine_on_this_machine() {
        use super::is_plain_http_elsewhere as plain;
        assert!(!plain(&parse_url("http://127.0.0.1:8080").unwrap()));
        assert!(!plain(&parse_url("http://localhost").unwrap()));
        assert!(!plain(&parse_url("https://deploy.example.com").unwrap()));
        assert!(plain(&parse_url("http://deploy.example.com").unwrap()));
    }

    #[test]
    fn server_urls_are_http_and_lose_their_trailing_slash() {
        assert_eq!(
            parse_url("https://deploy.example.com/").unwrap().as_str(),
            "https://deploy.example.com/"
        );
        assert_eq!(
            parse_url("http://127.0.0.1:8080/slipway/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/slipway"
        );
        assert!(parse_url("ftp://example.com").is_err());
        assert!(parse_url("example.com").is_err());
        for secret_url in [
            "https://me:slp_secret@example.com",
            "ftp://slp_secret@example.com",
        ] {
            let err = parse_url(secret_url).unwrap_err().to_string();
            assert!(!err.contains("slp_secret"), "{err}");
        }
    }
}
