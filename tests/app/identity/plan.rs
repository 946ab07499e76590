//! The query every signed-in request runs (the session, its person and the header's
//! badges) must compute the badges of one person, even when the statistics predate a bulk
//! insert of people: issue 16 found it computing every active person's badges (7.5 ms of
//! PostgreSQL per request at 168 people) because the planner chose `users (status,
//! account)` and joined on the id afterwards.

use serde_json::Value;
use service_hall::identity::{session::USER_SQL, store::LOAD_SQL};

use crate::helpers::*;

/// The largest number of rows any scan of `users` produced in this plan (EXPLAIN ANALYZE).
fn users_rows(plan: &Value) -> f64 {
    let own = match plan["Relation Name"].as_str() {
        Some("users") => {
            plan["Actual Rows"].as_f64().unwrap_or(0.0)
                * plan["Actual Loops"].as_f64().unwrap_or(1.0)
        }
        _ => 0.0,
    };
    plan["Plans"]
        .as_array()
        .into_iter()
        .flatten()
        .map(users_rows)
        .fold(own, f64::max)
}

#[tokio::test]
async fn the_session_query_reads_one_person_whatever_the_statistics() {
    let app = spawn_app().await;
    // 300 people imported at once into a table nothing has analysed yet (as after an
    // install or a restore): the planner has no column statistics for `users`.
    sqlx::query("DELETE FROM pg_statistic WHERE starelid = 'users'::regclass")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (account, name, user_type, status, password_hash)
         SELECT 'P' || i, '人' || i, 'staff', 'active', 'x' FROM generate_series(1, 300) i",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let uid: i64 = sqlx::query_scalar("SELECT id FROM users WHERE account = 'P150'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO tower_sessions.session (id, data, expiry_date, user_id)
         VALUES ('plan-test', '\\x80'::bytea, now() + interval '1 hour', $1)",
    )
    .bind(uid)
    .execute(&app.db)
    .await
    .unwrap();

    let mut conn = app.db.acquire().await.unwrap();
    // As the pool runs them: prepared, so a generic plan is in play after five runs.
    for _ in 0..7 {
        let n: Option<i64> = sqlx::query_scalar(&format!("SELECT id FROM ({USER_SQL}) x"))
            .bind(uid)
            .fetch_optional(&mut *conn)
            .await
            .unwrap();
        assert_eq!(n, Some(uid), "the person is found");
    }
    for (what, sql, session) in [("USER_SQL", USER_SQL, false), ("LOAD_SQL", LOAD_SQL, true)] {
        let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}");
        let q = sqlx::query_scalar::<_, Value>(&explain);
        let q = if session {
            q.bind("plan-test").bind(chrono::Utc::now())
        } else {
            q.bind(uid)
        };
        let plan = q.fetch_one(&mut *conn).await.unwrap();
        let rows = users_rows(&plan[0]["Plan"]);
        assert!(
            rows <= 1.0,
            "{what} read {rows} rows of users to find one person: {plan:#}"
        );
    }
}
