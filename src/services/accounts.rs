//! Users and API tokens.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::app::App;
use crate::crypto;
use crate::db;
use crate::domain::ids::UserId;
use crate::domain::scopes::Scopes;
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldErrors, Problem, check_max_len, is_email};
use crate::error::{Error, Result};
use crate::services::access::Principal;
use crate::services::seen_tokens::SeenTokens;

/// API tokens seen lately. Tokens are never changed in place, so the only staleness is a
/// deleted token working a few seconds longer.
pub type TokenCache = SeenTokens<Principal>;

pub fn token_cache() -> TokenCache {
    SeenTokens::new(Duration::from_secs(10), 10_000)
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
pub async fn ensure_user(
    app: &App,
    email: &str,
    name: Option<&str>,
) -> Result<crate::services::records::User> {
    let mut errors = FieldErrors::default();
    if !is_email(email) {
        errors.add("email", Problem::Email);
    }
    if let Some(name) = name {
        check_max_len("name", name, 255, &mut errors);
    }
    errors.into_result()?;
    if let Some(user) = db::users::find_by_email(&mut &app.store, email).await? {
        return Ok(user.into());
    }
    let name = name
        .map(str::to_owned)
        .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_owned());
    Ok(
        db::users::insert(&mut &app.store, &name, email, Timestamp::now())
            .await?
            .into(),
    )
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
