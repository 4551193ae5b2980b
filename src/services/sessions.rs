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
use crate::error::{Error, Result};
use crate::services::access::Principal;
use crate::services::accounts;

/// A session ends after this long without a request.
pub const IDLE_SECONDS: i64 = 12 * 3600;
/// A session's last use is written at most this often.
const TOUCH_EVERY_SECONDS: i64 = 60;
/// Sign-in attempts per e-mail address (or token) and per client address, each, per minute.
const ATTEMPTS_PER_MINUTE: u32 = 10;
const MIN_PASSWORD_CHARS: usize = 8;
const REFUSED: &str = "These credentials do not match our records.";

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// Sign-in attempts so far, by what they name and where they come from.
#[derive(Clone)]
pub struct SignInLimits(Arc<Keyed>);

impl Default for SignInLimits {
    fn default() -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(ATTEMPTS_PER_MINUTE).expect("non-zero"));
        SignInLimits(Arc::new(RateLimiter::keyed(quota)))
    }
}

impl SignInLimits {
    fn allow(&self, keys: &[String]) -> Result<()> {
        // Every key is charged, so that neither a guessed address nor a busy client gets past.
        let refusals: Vec<bool> = keys
            .iter()
            .map(|key| self.0.check_key(key).is_err())
            .collect();
        let refused = refusals.contains(&true);
        if refused {
            Err(Error::invalid(
                "email",
                "Too many sign-in attempts. Please wait a minute and try again.",
            ))
        } else {
            Ok(())
        }
    }
}

/// A signed-in person: who, with what scopes, and the session's anti-forgery token.
#[derive(Debug, Clone)]
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
    app.sign_ins.allow(&[
        format!("email:{}", email.to_lowercase()),
        format!("client:{client}"),
    ])?;
    let user = db::users::find_by_email(&mut &app.store, email).await?;
    let hash = match &user {
        Some(user) => db::users::password_hash(&mut &app.store, user.id).await?,
        None => None,
    };
    // A password is checked even for an unknown address, so that timing tells nothing.
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
        _ => Err(Error::invalid("email", REFUSED)),
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
    app.sign_ins.allow(&[
        format!("token:{}", crypto::token_hash(token)),
        format!("client:{client}"),
    ])?;
    let principal = accounts::authenticate(app, token)
        .await
        .map_err(|_| Error::invalid("token", REFUSED))?;
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
    let hash = crypto::token_hash(cookie);
    let now = Timestamp::now();
    let session = db::sessions::find(&mut &app.store, &hash, now.minus_seconds(IDLE_SECONDS))
        .await?
        .ok_or(Error::Unauthenticated)?;
    if session.last_seen_at < now.minus_seconds(TOUCH_EVERY_SECONDS) {
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

pub async fn sign_out(app: &App, cookie: &str) -> Result<()> {
    db::sessions::delete(&mut &app.store, &crypto::token_hash(cookie)).await
}

/// Forgets sessions idle for longer than a session lasts.
pub async fn forget_idle(app: &App) -> Result<u64> {
    db::sessions::delete_idle(
        &mut &app.store,
        Timestamp::now().minus_seconds(IDLE_SECONDS),
    )
    .await
}

/// Sets (or replaces) the password of the user with `email`.
pub async fn set_password(app: &App, email: &str, password: &SecretString) -> Result<()> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("The password must be at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    let user = db::users::find_by_email(&mut &app.store, email)
        .await?
        .ok_or_else(|| Error::invalid("email", "No user has this e-mail address."))?;
    let password = password.clone();
    let hash = tokio::task::spawn_blocking(move || crypto::hash_password(&password))
        .await
        .map_err(anyhow::Error::from)??;
    db::users::set_password_hash(&mut &app.store, user.id, &hash, Timestamp::now()).await
}
