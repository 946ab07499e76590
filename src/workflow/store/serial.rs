//! 流水号: the serial number a submission gets, from a sequence per service code and year.

use chrono::{DateTime, Datelike, Utc};
use sqlx::PgConnection;

/// The next 流水号, `GZZB-2026-000123`: unique and increasing per service code and year.
/// Drawn from a sequence per (code, year) (`serial_<code>_<year>`), so concurrent
/// submissions of one service share no row: the counter row they used to update was held
/// by each submission from its UPDATE to its commit, one after another. A sequence is not
/// transactional, so a submission that rolls back leaves a gap in the numbers.
pub async fn next_serial(
    conn: &mut PgConnection,
    code: &str,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> sqlx::Result<String> {
    let year = now.with_timezone(&tz).year();
    let seq = serial_sequence(code, year)?;
    let n: Option<i64> = sqlx::query_scalar("SELECT nextval(to_regclass($1))")
        .bind(&seq)
        .fetch_one(&mut *conn)
        .await?;
    let n = match n {
        Some(n) => n,
        None => {
            // The first of the year: made under a lock (a second first waits for it to
            // commit, then finds it), starting after any number given before sequences.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(&seq)
                .execute(&mut *conn)
                .await?;
            let last: i64 = sqlx::query_scalar(
                "SELECT COALESCE(max(last), 0)::int8 FROM serial_counters
                 WHERE service_code = $1 AND year = $2",
            )
            .bind(code)
            .bind(year)
            .fetch_one(&mut *conn)
            .await?;
            // The name is checked ASCII (`serial_sequence`), the start a number.
            sqlx::query(&format!(
                "CREATE SEQUENCE IF NOT EXISTS {seq} AS bigint START WITH {}",
                last + 1
            ))
            .execute(&mut *conn)
            .await?;
            sqlx::query_scalar("SELECT nextval($1::regclass)")
                .bind(&seq)
                .fetch_one(&mut *conn)
                .await?
        }
    };
    Ok(format!("{code}-{year}-{n:06}"))
}

/// The sequence of a service code's 流水号 in a year. Codes are `[A-Z][A-Z0-9]{1,15}` (a
/// CHECK on `services.code`); anything else is refused rather than put into SQL.
pub fn serial_sequence(code: &str, year: i32) -> sqlx::Result<String> {
    let fits = (2..=16).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_uppercase())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !fits || !(1000..=9999).contains(&year) {
        return Err(sqlx::Error::InvalidArgument(format!(
            "no 流水号 sequence for service code {code:?} in {year}"
        )));
    }
    Ok(format!("serial_{}_{year}", code.to_ascii_lowercase()))
}
