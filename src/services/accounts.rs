//! Users and API tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use crate::app::App;
use crate::crypto;
use crate::db;
use crate::domain::ids::UserId;
use crate::domain::scopes::Scopes;
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, check_max_len, is_email};
use crate::error::{Error, Result};
use crate::services::access::Principal;

/// Recently seen tokens, by hash, so that a busy client does not cost a database read per
/// request. Entries live a few seconds: tokens are never changed in place, so the only
/// staleness is a deleted token working that much longer.
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Principal, Instant)>>,
}

const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);
const TOKEN_CACHE_MAX: usize = 10_000;

impl TokenCache {
    pub fn new() -> TokenCache {
        TokenCache {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, hash: &str) -> Option<Principal> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(principal, _)| principal.clone())
    }

    fn put(&self, hash: String, principal: Principal) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= TOKEN_CACHE_MAX {
            entries.retain(|_, (_, at)| at.elapsed() < TOKEN_CACHE_TTL);
            if entries.len() >= TOKEN_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(hash, (principal, Instant::now()));
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new()
    }
}

/// The user holding `token`, with the token's scopes; `Unauthenticated` when it is unknown.
pub async fn authenticate(app: &App, token: &str) -> Result<Principal> {
    let hash = crypto::token_hash(token);
    if let Some(principal) = app.tokens.get(&hash) {
        return Ok(principal);
    }
    let grant = db::users::find_token(&mut &app.store, &hash)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let principal = Principal {
        user: grant.user_id,
        token: grant.token_id,
        scopes: Scopes::from_stored(&grant.scopes),
    };
    app.tokens.put(hash, principal.clone());
    Ok(principal)
}

/// Finds the user with `email`, creating it (named `name`, or after the address) when missing.
pub async fn ensure_user(app: &App, email: &str, name: Option<&str>) -> Result<db::users::User> {
    let mut errors = FieldErrors::default();
    if !is_email(email) {
        errors.add("email", "The email field must be a valid email address.");
    }
    if let Some(name) = name {
        check_max_len("name", name, 255, &mut errors);
    }
    errors.into_result()?;
    if let Some(user) = db::users::find_by_email(&mut &app.store, email).await? {
        return Ok(user);
    }
    let name = name
        .map(str::to_owned)
        .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_owned());
    db::users::insert(&mut &app.store, &name, email, Timestamp::now()).await
}

/// Issues a new token for `user`; the plain token exists only in the returned value.
pub async fn create_token(
    app: &App,
    user: UserId,
    name: &str,
    scopes: &Scopes,
) -> Result<SecretString> {
    let token = crypto::new_api_token();
    db::users::insert_token(
        &mut &app.store,
        user,
        name,
        &crypto::token_hash(token.expose_secret()),
        &scopes.to_stored(),
        Timestamp::now(),
    )
    .await?;
    Ok(token)
}

/// On the first start against an empty database: an admin user with an all-scopes token.
pub async fn bootstrap_admin(app: &App) -> Result<Option<(String, SecretString)>> {
    if db::users::count(&mut &app.store).await? > 0 {
        return Ok(None);
    }
    let email = "admin@slipway.local";
    let user = ensure_user(app, email, Some("Admin")).await?;
    let token = create_token(app, user.id, "bootstrap", &Scopes::all()).await?;
    Ok(Some((email.to_owned(), token)))
}
