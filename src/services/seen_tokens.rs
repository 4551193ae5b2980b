//! Recently seen tokens, by hash, and what each stands for (a caller, a heartbeat), so that a
//! busy client does not cost a database read per request. Entries expire; the map is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct SeenTokens<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
    ttl: Duration,
    max: usize,
}

impl<V: Clone> SeenTokens<V> {
    pub fn new(ttl: Duration, max: usize) -> Self {
        SeenTokens {
            entries: Mutex::new(HashMap::new()),
            ttl,
            max,
        }
    }

    pub fn get(&self, hash: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(value, _)| value.clone())
    }

    pub fn put(&self, hash: String, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max {
            entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
            if entries.len() >= self.max {
                entries.clear();
            }
        }
        entries.insert(hash, (value, Instant::now()));
    }

    /// Forgets the entries whose value `matches` (what they stood for is gone).
    pub fn forget(&self, matches: impl Fn(&V) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (value, _)| !matches(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_are_bounded_and_can_be_forgotten() {
        let seen = SeenTokens::new(Duration::from_secs(60), 2);
        seen.put("a".into(), 1);
        seen.put("b".into(), 2);
        assert_eq!(seen.get("a"), Some(1));
        seen.put("c".into(), 3); // full of live entries: starts over
        assert_eq!(seen.get("a"), None);
        assert_eq!(seen.get("c"), Some(3));
        seen.forget(|v| *v == 3);
        assert_eq!(seen.get("c"), None);
        let expired = SeenTokens::new(Duration::ZERO, 10);
        expired.put("a".into(), 1);
        assert_eq!(expired.get("a"), None);
    }
}
