//! 5-field cron expressions (minute hour day-of-month month day-of-week).

const FIELDS: &[(&str, u32, u32)] = &[
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
];

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Checks a cron expression; the error names the offending field.
pub fn validate(expr: &str) -> Result<(), String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week), this one has {}",
            fields.len()
        ));
    }
    for (field, &(name, min, max)) in fields.iter().zip(FIELDS) {
        for item in field.split(',') {
            validate_item(item, name, min, max)?;
        }
    }
    Ok(())
}

fn value(text: &str, name: &str, min: u32, max: u32) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    let named = match name {
        "month" => MONTHS
            .iter()
            .position(|m| *m == lower)
            .map(|i| i as u32 + 1),
        "day of week" => DAYS.iter().position(|d| *d == lower).map(|i| i as u32),
        _ => None,
    };
    let v = match named {
        Some(v) => v,
        None => text
            .parse::<u32>()
            .map_err(|_| format!("`{text}` is not a valid {name}"))?,
    };
    if v < min || v > max {
        return Err(format!("{name} `{text}` is out of range {min}-{max}"));
    }
    Ok(v)
}

fn validate_item(item: &str, name: &str, min: u32, max: u32) -> Result<(), String> {
    if item.is_empty() {
        return Err(format!("empty item in the {name} field"));
    }
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (item, None),
    };
    if let Some(step) = step {
        let s = step
            .parse::<u32>()
            .map_err(|_| format!("step `{step}` in the {name} field is not a number"))?;
        if s == 0 || s > max {
            return Err(format!(
                "step `{step}` in the {name} field is out of range 1-{max}"
            ));
        }
    }
    if range == "*" {
        return Ok(());
    }
    match range.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (value(a, name, min, max)?, value(b, name, min, max)?);
            if a > b {
                return Err(format!(
                    "range `{range}` in the {name} field goes backwards"
                ));
            }
        }
        None => {
            value(range, name, min, max)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_common_expressions() {
        for e in [
            "* * * * *",
            "*/15 * * * *",
            "0 9 * * 1-5",
            "0 0 1 jan,jul *",
            "30 2 * * sun",
            "0 0 * * 7",
        ] {
            assert!(validate(e).is_ok(), "{e}");
        }
    }

    #[test]
    fn rejects_bad_expressions() {
        assert!(validate("* * * *").unwrap_err().contains("5 fields"));
        assert!(
            validate("60 * * * *")
                .unwrap_err()
                .contains("minute `60` is out of range 0-59")
        );
        assert!(validate("0 24 * * *").unwrap_err().contains("hour"));
        assert!(validate("0 0 0 * *").unwrap_err().contains("day of month"));
        assert!(validate("*/0 * * * *").is_err());
        assert!(validate("5-1 * * * *").unwrap_err().contains("backwards"));
        assert!(validate("a * * * *").is_err());
    }
}
