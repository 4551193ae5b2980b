//! Outbound HTTP: chat web hooks and monitor checks. Every address a request would connect to,
//! whether named by the URL, found by DNS or reached through a redirect, must pass the
//! address policy, so a URL cannot be pointed at the network Slipway runs in.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::network::AddressPolicy;

/// How long a save-time check waits for DNS before leaving the decision to send time.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_REDIRECTS: usize = 5;

pub struct Outbound {
    policy: Arc<AddressPolicy>,
    webhooks: reqwest::Client,
    monitors: reqwest::Client,
}

/// The result of one monitor check.
#[derive(Debug, Clone)]
pub struct Probe {
    pub healthy: bool,
    pub http_status: Option<u16>,
    pub response_ms: i64,
    pub error: Option<String>,
}

impl Outbound {
    pub fn new(policy: AddressPolicy, monitor_timeout: Duration) -> anyhow::Result<Self> {
        let policy = Arc::new(policy);
        let resolver = Arc::new(GuardedResolver(policy.clone()));
        let webhooks = reqwest::Client::builder()
            .dns_resolver(resolver.clone())
            // A proxy would resolve names itself, out of the resolver's reach.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(WEBHOOK_TIMEOUT)
            .user_agent("Slipway")
            .build()?;
        let redirect_policy = policy.clone();
        let monitors = reqwest::Client::builder()
            .dns_resolver(resolver)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    attempt.error("too many redirects")
                } else if literal_ip_refused(&redirect_policy, attempt.url()) {
                    attempt.error("redirected to an address that is not allowed")
                } else {
                    attempt.follow()
                }
            }))
            .timeout(monitor_timeout)
            .user_agent("Slipway health check")
            .build()?;
        Ok(Outbound {
            policy,
            webhooks,
            monitors,
        })
    }

    /// Whether `url` may be saved as a web hook or monitor: refused when it names, or its
    /// host currently resolves to, an address the policy does not permit. A host that does
    /// not resolve now is accepted; sending checks again.
    pub async fn check_url(&self, url: &str) -> Result<(), String> {
        let refused = || "The URL points to a loopback or private address.".to_owned();
        let parsed = url::Url::parse(url).map_err(|_| "The URL is not valid.".to_owned())?;
        let Some(host) = parsed.host() else {
            return Err("The URL has no host.".to_owned());
        };
        let port = parsed.port_or_known_default().unwrap_or(80);
        let addresses: Vec<IpAddr> = match host {
            url::Host::Ipv4(ip) => vec![ip.into()],
            url::Host::Ipv6(ip) => vec![ip.into()],
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    vec![IpAddr::from([127, 0, 0, 1])]
                } else {
                    match tokio::time::timeout(
                        LOOKUP_TIMEOUT,
                        tokio::net::lookup_host((name.as_str(), port)),
                    )
                    .await
                    {
                        Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                        _ => Vec::new(),
                    }
                }
            }
        };
        if addresses.iter().all(|ip| self.policy.permits(*ip)) {
            Ok(())
        } else {
            Err(refused())
        }
    }

    /// POSTs a JSON body to a web hook; the error never contains the URL, which is a
    /// credential for most chat services.
    pub async fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<(), String> {
        let url = self.allowed_url(url)?;
        let response = self
            .webhooks
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(describe)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let excerpt = body_excerpt(response).await;
        Err(format!(
            "the web hook answered {status}: {}",
            excerpt.trim()
        ))
    }

    /// GETs a monitor URL: healthy on a 2xx answer within the configured timeout.
    pub async fn probe(&self, url: &str) -> Probe {
        let started = Instant::now();
        let outcome = match self.allowed_url(url) {
            Ok(url) => self.monitors.get(url).send().await.map_err(describe),
            Err(err) => Err(err),
        };
        let response_ms = started.elapsed().as_millis() as i64;
        match outcome {
            Ok(response) => {
                let status = response.status();
                Probe {
                    healthy: status.is_success(),
                    http_status: Some(status.as_u16()),
                    response_ms,
                    error: (!status.is_success()).then(|| format!("answered {status}")),
                }
            }
            Err(err) => Probe {
                healthy: false,
                http_status: None,
                response_ms,
                error: Some(err),
            },
        }
    }

    fn allowed_url(&self, url: &str) -> Result<reqwest::Url, String> {
        let parsed = reqwest::Url::parse(url).map_err(|_| "the URL is not valid".to_owned())?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("only http and https URLs are used".to_owned());
        }
        if literal_ip_refused(&self.policy, &parsed) {
            return Err("the URL points to an address that is not allowed".to_owned());
        }
        Ok(parsed)
    }
}

/// The start of an answer's body, read no further than needed: a hostile endpoint could send
/// an endless one.
async fn body_excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < 1024 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes).chars().take(200).collect()
}

/// URLs that name an IP address skip DNS, so the resolver cannot vet them.
fn literal_ip_refused(policy: &AddressPolicy, url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => !policy.permits(ip.into()),
        Some(url::Host::Ipv6(ip)) => !policy.permits(ip.into()),
        _ => false,
    }
}

/// A reqwest error in words, without the URL.
fn describe(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_redirect() {
        "redirect refused"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let err = err.without_url();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// Resolves names as usual, then keeps only the addresses the policy permits.
struct GuardedResolver(Arc<AddressPolicy>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|address| policy.permits(address.ip()))
                .collect();
            if allowed.is_empty() {
                return Err("the host resolves only to addresses that are not allowed".into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}

/// A monitor URL as messages show it: any user name and password in it left out.
pub fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            let _ = parsed.set_username("");
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shown_urls_leave_out_credentials() {
        assert_eq!(
            super::without_credentials("https://bot:s3cret@example.com/health?x=1"),
            "https://example.com/health?x=1"
        );
        assert_eq!(
            super::without_credentials("https://example.com/up"),
            "https://example.com/up"
        );
    }
}
