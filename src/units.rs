//! Human-readable durations for config and flow files (`500ms`, `5s`, `1m`, `2h`, `1.5s`),
//! byte sizes for config (`4MiB`, `512KiB`, `65536`), and the one-problem-per-line listing
//! every validator prints.
//!
//! Kept here rather than pulling a crate: it is a dozen lines and both config and flow
//! validation want the same wording in their errors.

use std::time::Duration;

/// Parse `N[.M](ms|s|m|h)`. Returns `None` for anything else; callers name the file and key.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// Parse a byte size: `N` (bytes), `NB`, `NKiB`, `NMiB` or `NGiB` (powers of 1024; a space
/// before the unit is allowed). Decimal units (`KB`, `MB`) are refused rather than guessed.
/// Returns `None` for anything else or on overflow; callers name the file and key.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(scale)
}

/// The inverse of [`parse_size`] for messages: the largest binary unit that divides it
/// (`4MiB`, `6KiB`, `1000B`).
pub fn format_size(bytes: u64) -> String {
    for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= scale && bytes % scale == 0 {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes}B")
}

/// Write one item per line: how config, flow, prompt and preflight errors list every
/// problem at once.
pub fn write_lines<T: std::fmt::Display>(
    f: &mut std::fmt::Formatter<'_>,
    items: &[T],
) -> std::fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            writeln!(f)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// The inverse of [`parse_duration`] for messages: `5s`, `1500ms`.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_understood() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "s", "5", "5 parsecs", "-1s", "1e9999s", "..s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes_are_understood_in_binary_units() {
        assert_eq!(parse_size("65536"), Some(65_536));
        assert_eq!(parse_size("512B"), Some(512));
        assert_eq!(parse_size("4KiB"), Some(4096));
        assert_eq!(parse_size("4 MiB"), Some(4 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        for bad in [
            "",
            "MiB",
            "4MB",
            "4 mb",
            "1.5MiB",
            "-1",
            "99999999999999999999GiB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert_eq!(format_size(4 << 20), "4MiB");
        assert_eq!(format_size(6 << 10), "6KiB");
        assert_eq!(format_size(1000), "1000B");
    }

    #[test]
    fn formatting_round_trips() {
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
