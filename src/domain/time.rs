//! Timestamps: stored as microseconds since the Unix epoch, shown in each dialect's format.

use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// See [`shift_clock`].
static CLOCK_OFFSET_MICROS: AtomicI64 = AtomicI64::new(0);

/// Shifts what [`Timestamp::now`] answers in this process, to test nodes whose clocks disagree
/// (`--clock-offset-seconds`, hidden). Leases and schedules never depend on it: they follow the
/// database's clock.
pub fn shift_clock(seconds: i64) {
    CLOCK_OFFSET_MICROS.store(seconds.saturating_mul(1_000_000), Ordering::Relaxed);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
pub struct Timestamp(pub i64);

impl From<i64> for Timestamp {
    fn from(micros: i64) -> Self {
        Timestamp(micros)
    }
}

impl Timestamp {
    pub fn now() -> Timestamp {
        let now = OffsetDateTime::now_utc();
        Timestamp(
            (now.unix_timestamp_nanos() / 1_000) as i64
                + CLOCK_OFFSET_MICROS.load(Ordering::Relaxed),
        )
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn minus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0 - seconds * 1_000_000)
    }

    fn datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Laravel's JSON form: `2020-10-09T10:54:38.000000Z`.
    pub fn envoyer(self) -> String {
        let dt = self.datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            dt.year(),
            dt.month() as u8,
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.microsecond()
        )
    }

    /// GitLab's JSON form: `2019-05-25T18:55:13.252Z`.
    pub fn gitlab(self) -> String {
        let full = self.envoyer();
        // 2020-10-09T10:54:38.000123Z -> 2020-10-09T10:54:38.000Z
        format!("{}Z", &full[..23])
    }

    /// A short "4 days ago" phrase, as Envoyer shows the last deployment.
    pub fn ago(self, now: Timestamp) -> String {
        let seconds = (now.0 - self.0).max(0) / 1_000_000;
        let (count, unit) = match seconds {
            s if s < 60 => (s, "second"),
            s if s < 3_600 => (s / 60, "minute"),
            s if s < 86_400 => (s / 3_600, "hour"),
            s if s < 7 * 86_400 => (s / 86_400, "day"),
            s if s < 30 * 86_400 => (s / (7 * 86_400), "week"),
            s if s < 365 * 86_400 => (s / (30 * 86_400), "month"),
            s => (s / (365 * 86_400), "year"),
        };
        let plural = if count == 1 { "" } else { "s" };
        format!("{count} {unit}{plural} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_laravel() {
        // 2020-10-09T10:54:38.000123Z
        let ts = Timestamp(1_602_240_878_000_123);
        assert_eq!(ts.envoyer(), "2020-10-09T10:54:38.000123Z");
        assert_eq!(ts.unix_seconds(), 1_602_240_878);
    }

    #[test]
    fn says_how_long_ago() {
        let then = Timestamp(0);
        assert_eq!(then.ago(Timestamp(4 * 86_400 * 1_000_000)), "4 days ago");
        assert_eq!(then.ago(Timestamp(60 * 1_000_000)), "1 minute ago");
    }
}
