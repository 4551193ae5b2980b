//! Dashboard sessions: signing in with an e-mail and password or with an API token, and the
//! passwords themselves. A session is a random cookie; only its SHA-256 is stored, and it ends
//! after 12 hours without use.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};

use crate::app::App;
use crate::crypto;
use crate::db;
use crate::domain::ids::{TokenId, UserId};
use crate::domain::scopes::Scopes;
use crate::domain::time::Timestamp;
use crate::domain::validation::Problem;
use crate::error::{Error, Result};
use crate::services::access::Principal;
use crate::services::accounts;

/// A session ends after this long without a request.
pub const IDLE_SECONDS: i64 = 12 * 3600;
/// A session's last use is written at most this often.
const TOUCH_EVERY_SECONDS: i64 = 60;
/// Sign-in attempts per minute for one address (or token) from one client.
const ATTEMPTS_PER_CLIENT: u32 = 10;
/// Sign-in attempts per minute for one address (or token) from all clients: looser, so that
/// nobody locks another person out, but bounding a spread-out guessing.
const ATTEMPTS_PER_NAME: u32 = 60;
/// Password checks (Argon2id, 19 MiB each) running at once.
const CONCURRENT_CHECKS: usize = 2;
const MIN_PASSWORD_CHARS: usize = 8;

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// Sign-in attempts so far, by what they name and where they come from, and the password
/// checks under way.
#[derive(Clone)]
pub struct SignInLimits {
    per_client: Arc<Keyed>,
    per_name: Arc<Keyed>,
    checks: Arc<tokio::sync::Semaphore>,
}

impl Default for SignInLimits {
    fn default() -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).expect("non-zero"));
        SignInLimits {
            per_client: Arc::new(RateLimiter::keyed(quota(ATTEMPTS_PER_CLIENT))),
            per_name: Arc::new(RateLimiter::keyed(quota(ATTEMPTS_PER_NAME))),
            checks: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CHECKS)),
        }
    }
}

impl SignInLimits {
    /// Charges an attempt naming `name` from `client`.
    fn allow(&self, name: &str, client: &str) -> Result<()> {
        let from_client = self.per_client.check_key(&format!("{name}|{client}"));
        let anywhere = self.per_name.check_key(&name.to_owned());
        if from_client.is_err() || anywhere.is_err() {
            return Err(Error::invalid("email", Problem::TooManyAttempts));
        }
        Ok(())
    }

    /// Forgets attempts old enough not to count any more.
    pub fn forget_old(&self) {
        self.per_client.retain_recent();
        self.per_name.retain_recent();
    }
}

/// A client's address as the limits count it: IPv6 clients by their /64, since one holder
/// has them all.
pub fn client_key(address: std::net::IpAddr) -> String {
    match address {
        std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        other => other.to_canonical().to_string(),
    }
}

/// A signed-in person: who, with what scopes, and the session's anti-forgery token.
#[derive(Clone)]
pub struct Viewer {
    pub principal: Principal,
    pub csrf: String,
}

/// Signs in with an e-mail address and password; answers the new session's cookie value.
pub async fn sign_in_with_password(
    app: &App,
    email: &str,
    password: &SecretString,
    client: &str,
) -> Result<SecretString> {
    app.sign_ins
        .allow(&format!("email:{}", email.to_lowercase()), client)?;
    let user = db::users::find_by_email(&mut &app.store, email).await?;
    let hash = match &user {
        Some(user) => db::users::password_hash(&mut &app.store, user.id).await?,
        None => None,
    };
    // A password is checked even for an unknown address, so that timing tells nothing; a few
    // at a time, since each takes 19 MiB.
    let _check = app
        .sign_ins
        .checks
        .acquire()
        .await
        .map_err(anyhow::Error::from)?;
    let matched = {
        let password = password.clone();
        let hash = hash.clone();
        tokio::task::spawn_blocking(move || match hash {
            Some(hash) => crypto::verify_password(&password, &hash),
            None => crypto::verify_password(&password, unknown_user_hash()),
        })
        .await
        .unwrap_or(false)
    };
    match user {
        Some(user) if matched && hash.is_some() => {
            open(app, user.id, None, &Scopes::all().to_stored()).await
        }
        _ => Err(Error::invalid("email", Problem::CredentialsRefused)),
    }
}

/// A hash of a random password, checked for unknown addresses.
fn unknown_user_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let random = SecretString::from(crypto::random_token(32));
        crypto::hash_password(&random).unwrap_or_default()
    })
}

/// Signs in with an API token: the session has the token's scopes and ends with the token.
pub async fn sign_in_with_token(app: &App, token: &str, client: &str) -> Result<SecretString> {
    app.sign_ins
        .allow(&format!("token:{}", crypto::token_hash(token)), client)?;
    let principal = accounts::authenticate(app, token)
        .await
        .map_err(|_| Error::invalid("token", Problem::CredentialsRefused))?;
    open(
        app,
        principal.user,
        Some(principal.token),
        &principal.scopes.to_stored(),
    )
    .await
}

async fn open(
    app: &App,
    user: UserId,
    token: Option<TokenId>,
    scopes: &str,
) -> Result<SecretString> {
    let cookie = SecretString::from(format!("sls_{}", crypto::random_token(48)));
    db::sessions::insert(
        &mut &app.store,
        &crypto::token_hash(cookie.expose_secret()),
        user,
        token,
        scopes,
        Timestamp::now(),
    )
    .await?;
    Ok(cookie)
}

/// The person a session cookie belongs to; `Unauthenticated` when it is unknown or idle too
/// long.
pub async fn resume(app: &App, cookie: &str) -> Result<Viewer> {
    resume_with(app, cookie, true).await
}

/// As [`resume`], for a page's own background requests: they do not keep a session alive.
pub async fn resume_quietly(app: &App, cookie: &str) -> Result<Viewer> {
    resume_with(app, cookie, false).await
}

async fn resume_with(app: &App, cookie: &str, touch: bool) -> Result<Viewer> {
    let hash = crypto::token_hash(cookie);
    let now = Timestamp::now();
    let session = db::sessions::find(&mut &app.store, &hash, now.minus_seconds(IDLE_SECONDS))
        .await?
        .ok_or(Error::Unauthenticated)?;
    if touch && session.last_seen_at < now.minus_seconds(TOUCH_EVERY_SECONDS) {
        db::sessions::touch(&mut &app.store, &hash, now).await?;
    }
    Ok(Viewer {
        principal: Principal {
            user: session.user_id,
            // Sessions signed in with a password stand for the person, not a token.
            token: TokenId(session.token_id.unwrap_or(0)),
            scopes: Scopes::from_stored(&session.scopes),
        },
        csrf: crypto::csrf_token(cookie),
    })
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

pub async fn sign_out(app: &App, cookie: &str) -> Result<()> {
    db::sessions::delete(&mut &app.store, &crypto::token_hash(cookie)).await
}

/// Forgets sessions idle (as of `now`) for longer than a session lasts.
pub async fn forget_idle(app: &App, now: Timestamp) -> Result<u64> {
    db::sessions::delete_idle(&mut &app.store, now.minus_seconds(IDLE_SECONDS)).await
}

/// Sets (or replaces) the password of the user with `email`.
pub async fn set_password(app: &App, email: &str, password: &SecretString) -> Result<()> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            Problem::PasswordTooShort(MIN_PASSWORD_CHARS),
        ));
    }
    let user = db::users::find_by_email(&mut &app.store, email)
        .await?
        .ok_or_else(|| Error::invalid("email", Problem::NoSuchUser))?;
    let password = password.clone();
    let hash = tokio::task::spawn_blocking(move || crypto::hash_password(&password))
        .await
        .map_err(anyhow::Error::from)??;
    db::users::set_password_hash(&mut &app.store, user.id, &hash, Timestamp::now()).await?;
    // Whoever signed in with the old password is signed out.
    db::sessions::delete_for_user(&mut &app.store, user.id).await
}
