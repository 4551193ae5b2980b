//! GitLab's environment rules: slugs, tiers and names.

use sha2::{Digest, Sha256};

/// GitLab's environment slug: lower-case, `[a-z0-9-]` only, starting with a letter, no
/// repeated dashes, at most 24 characters. A name that had to change (or is too long) gets a
/// suffix from its hash, so that different names never share a slug.
pub fn slug(name: &str) -> String {
    let mut slug: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !slug.starts_with(|c: char| c.is_ascii_lowercase()) {
        slug.insert_str(0, "env-");
    }
    let mut squeezed = String::with_capacity(slug.len());
    for c in slug.chars() {
        if !(c == '-' && squeezed.ends_with('-')) {
            squeezed.push(c);
        }
    }
    if squeezed.chars().count() > 24 || squeezed != name {
        let mut short: String = squeezed.chars().take(17).collect();
        if !short.ends_with('-') {
            short.push('-');
        }
        short.push_str(&suffix(name));
        short
    } else {
        squeezed.trim_end_matches('-').to_owned()
    }
}

/// The last six base-36 digits of the SHA-256 of `name`, read as one big number.
fn suffix(name: &str) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    const MODULUS: u64 = 36u64.pow(6);
    let digest = Sha256::digest(name.as_bytes());
    let mut rest = digest
        .iter()
        .fold(0u64, |acc, byte| (acc * 256 + u64::from(*byte)) % MODULUS);
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(rest % 36) as usize];
        rest /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub const TIERS: &[&str] = &["production", "staging", "testing", "development", "other"];

/// An environment's states: stopping while its `on_stop` script runs.
pub const STATES: &[&str] = &["available", "stopping", "stopped"];

/// A list's page size when none is asked for, and the largest one given.
pub const DEFAULT_PER_PAGE: i64 = 20;
pub const MAX_PER_PAGE: i64 = 100;

/// A search shorter than this (after trimming) is refused.
pub const MIN_SEARCH: usize = 3;

/// A review-app clean-up picks apps stopped before this long ago unless told otherwise.
pub const REVIEW_APPS_DEFAULT_AGE_DAYS: i64 = 30;
/// How many review apps one clean-up picks unless told otherwise, and at most.
pub const REVIEW_APPS_DEFAULT_LIMIT: i64 = 100;
pub const REVIEW_APPS_MAX_LIMIT: i64 = 1000;

/// `stop_stale`'s `before` must lie between 10 years and a week ago.
pub const STALE_OLDEST_DAYS: i64 = 10 * 365;
pub const STALE_NEWEST_DAYS: i64 = 7;

/// The longest external URL, description and `on_stop` script (bytes).
pub const MAX_EXTERNAL_URL: usize = 255;
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_ON_STOP: usize = 64 * 1024;

/// When `auto_stop_at` stops an environment: always, or only when it has an `on_stop` action.
pub const AUTO_STOP_SETTINGS: &[&str] = &["always", "with_action"];

/// The tier GitLab guesses from an environment's name, with GitLab's patterns in GitLab's
/// order (development first, production last).
pub fn guess_tier(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if any(&["dev", "review", "trunk"]) {
        "development"
    } else if any(&[
        "test", "tst", "int", "accept", "acpt", "qa", "qc", "control", "quality",
    ]) {
        "testing"
    } else if any(&["stag", "stg", "model", "modl", "pre", "demo", "non"]) {
        "staging"
    } else if any(&["prod", "prd", "live"]) {
        "production"
    } else {
        "other"
    }
}

/// Letters, digits, `-_/${}. ` and space; not starting or ending with `/`; at most 255.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 255
        && !name.starts_with('/')
        && !name.ends_with('/')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_/${}. ".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_match_gitlab() {
        for (name, expected) in [
            ("production", "production"),
            ("PRODUCTION", "production-vl4voz"),
            ("review/fix-foo", "review-fix-foo-v25cyx"),
            ("1-foo", "env-1-foo-1k46wz"),
            ("foo--bar", "foo-bar-q006cp"),
        ] {
            assert_eq!(slug(name), expected, "{name}");
        }
    }

    #[test]
    fn slug_edge_cases() {
        let long = slug("staging-12345678901234567");
        assert!(
            long.starts_with("staging-123456789-") && long.len() == 24,
            "{long}"
        );
        assert!(slug("1/foo").starts_with("env-1-foo-"));
        assert!(slug("*-foo").starts_with("env-foo-"));
        assert_eq!(slug("foo-"), "foo");
        assert_eq!(slug("a").len(), 1);
    }

    #[test]
    fn tiers_and_names() {
        assert_eq!(guess_tier("production"), "production");
        assert_eq!(guess_tier("review/x"), "development");
        assert_eq!(guess_tier("staging"), "staging");
        assert_eq!(guess_tier("qa"), "testing");
        assert_eq!(guess_tier("canary"), "other");
        assert_eq!(guess_tier("preview"), "development");
        assert_eq!(guess_tier("review/prod-x"), "development");
        assert_eq!(guess_tier("stg"), "staging");
        assert_eq!(guess_tier("prd"), "production");
        assert_eq!(guess_tier("integration"), "testing");
        assert!(!is_valid_name("prodüction"));
        assert!(is_valid_name("review/fix-foo ${x}"));
        assert!(!is_valid_name("/review"));
        assert!(!is_valid_name("review/"));
        assert!(!is_valid_name("bad;name"));
    }
}
