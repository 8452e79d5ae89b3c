//! UTC calendar dates of block times, with integer arithmetic only (proleptic Gregorian; Howard
//! Hinnant's `civil_from_days`). Contracts use it for calendar months (a guardian's monthly
//! statement); clients use it to print block times.

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;

/// The UTC date `(year, month 1..=12, day 1..=31)` of day `days` since 1970-01-01.
pub fn civil_from_days(days: u64) -> (u64, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m as u32, d as u32)
}

/// The UTC `(year, month)` of a block time in milliseconds.
pub fn year_month(time_ms: u64) -> (u64, u32) {
    let (y, m, _) = civil_from_days(time_ms / DAY_MS);
    (y, m)
}

/// `YYYY-MM-DD hh:mm:ss.mmm UTC`.
pub fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(secs / 86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_the_calendar() {
        let cases = [
            (0, (1970, 1, 1)),
            (951_782_400_000, (2000, 2, 29)),
            (951_868_800_000, (2000, 3, 1)),
            (1_700_000_000_000, (2023, 11, 14)),
            (1_704_067_199_999, (2023, 12, 31)),
            (1_704_067_200_000, (2024, 1, 1)),
            (4_107_542_400_000, (2100, 3, 1)),
        ];
        for (ms, want) in cases {
            assert_eq!(civil_from_days(ms / DAY_MS), want, "{ms}");
        }
        assert_eq!(year_month(1_700_000_000_000), (2023, 11));
        assert_eq!(format_utc(1_700_000_000_123), "2023-11-14 22:13:20.123 UTC");
    }
}
