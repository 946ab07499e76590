//! Bulk data for benchmarks and query plans (`service-hall generate`): tens of thousands
//! of people, a million applications with their tasks and 流转记录, skewed the way a real
//! hall is — a handful of approvers (a dean's office, the seal keepers) hold thousands of
//! open tasks while most people have a few.
//!
//! Everything is generated inside PostgreSQL with `generate_series`, in chunks of
//! applications so progress shows and no single statement grows huge. The generated
//! applications are for reading (lists, counts, searches, plans): their workflow state is
//! not simulated, so acting on one is refused as stale.

use std::time::Instant;

use anyhow::{Context, bail};
use sqlx::PgPool;

/// Generated accounts start with this letter; real 学号/工号 are digits or `S`/`T`.
pub const ACCOUNT_PREFIX: &str = "G";
/// Approvers that receive a large share of all approval tasks.
pub const HEAVY_APPROVERS: i64 = 8;
const CHUNK: i64 = 50_000;

#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub users: i64,
    pub applications: i64,
    /// Average tasks per application is derived from this (rounded to whole numbers).
    pub tasks: i64,
    pub flow_records: i64,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes {
            users: 30_000,
            applications: 1_000_000,
            tasks: 5_000_000,
            flow_records: 10_000_000,
        }
    }
}

#[derive(Debug)]
pub struct Report {
    pub users: i64,
    pub applications: i64,
    pub tasks: i64,
    pub flow_records: i64,
    /// (account, pending) of the busiest approvers, busiest first.
    pub heaviest: Vec<(String, i64)>,
    pub seconds: f64,
}

/// Fills the database (after migrations and the demo seed, whose services and workflow
/// definitions it uses). Refuses to run twice on one database.
pub async fn generate(db: &PgPool, sizes: Sizes, seed: f64) -> anyhow::Result<Report> {
    let started = Instant::now();
    let done: Option<String> =
        sqlx::query_scalar("SELECT value FROM app_meta WHERE key = 'generated'")
            .fetch_optional(db)
            .await?;
    if let Some(v) = done {
        bail!("this database already holds generated data ({v}); use a fresh database");
    }
    let services: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM services s
         WHERE EXISTS (SELECT 1 FROM workflow_definitions w WHERE w.service_id = s.id)
           AND EXISTS (SELECT 1 FROM form_definitions f WHERE f.service_id = s.id)",
    )
    .fetch_one(db)
    .await?;
    if services == 0 {
        bail!("no service with a form and a workflow: run `service-hall seed-demo` first");
    }
    // Tasks and flow records per application: 1 + (id % span) on average ≈ the ratio.
    let task_span = (2 * sizes.tasks / sizes.applications.max(1) - 1).max(1);
    let flow_span = (2 * sizes.flow_records / sizes.applications.max(1) - 1).max(1);
    let hash = crate::identity::password::hash("Demo@2026".to_owned()).await?;

    let mut conn = db.acquire().await?;
    sqlx::query("SELECT setseed($1)")
        .bind(seed)
        .execute(&mut *conn)
        .await?;
    tracing::info!(users = sizes.users, "generating people");
    // One in five is a teacher or member of staff (the approvers), the rest students.
    sqlx::query(
        "INSERT INTO users (account, name, user_type, department_id, gender, status, password_hash,
                            password_changed_at, created_at, updated_at, activated_at, phone)
         SELECT $1 || lpad(i::text, 6, '0'),
                (ARRAY['王','李','张','刘','陈','杨','黄','赵','吴','周','徐','孙','马','朱','胡','郭','何','高','林','罗'])[1 + i % 20]
                || (ARRAY['伟','芳','娜','敏','静','丽','强','磊','军','洋','勇','艳','杰','娟','涛','明','超','秀英','华','鹏','玲','桂英','丹','萍','鑫','宇','浩','凯','婷','雪'])[1 + (i / 20) % 30],
                CASE WHEN i % 5 = 0 THEN (CASE WHEN i % 3 = 0 THEN 'staff' ELSE 'teacher' END) ELSE 'student' END,
                (SELECT array_agg(id ORDER BY id) FROM departments)[1 + i % (SELECT count(*) FROM departments)::int],
                CASE WHEN i % 2 = 0 THEN '男' ELSE '女' END, 'active', $2, now(), now(), now(), now(),
                -- 安全手机 in a block no demo account uses.
                '166' || lpad(i::text, 8, '0')
         FROM generate_series(1, $3::int8) i",
    )
    .bind(ACCOUNT_PREFIX)
    .bind(&hash)
    .bind(sizes.users)
    .execute(&mut *conn)
    .await
    .context("generate users")?;
    // Numbered pools to draw applicants and approvers from.
    sqlx::query(
        "CREATE TEMP TABLE gen_approvers AS
         SELECT (row_number() OVER (ORDER BY id) - 1)::int AS k, id FROM users
         WHERE account LIKE $1 || '%' AND user_type <> 'student'",
    )
    .bind(ACCOUNT_PREFIX)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "CREATE TEMP TABLE gen_people AS
         SELECT (row_number() OVER (ORDER BY id) - 1)::int AS k, id, name FROM users
         WHERE account LIKE $1 || '%'",
    )
    .bind(ACCOUNT_PREFIX)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "CREATE TEMP TABLE gen_services AS
         SELECT (row_number() OVER (ORDER BY s.id) - 1)::int AS k, s.id, s.code, s.name,
                (SELECT max(f.id) FROM form_definitions f WHERE f.service_id = s.id) AS form_id,
                (SELECT max(w.id) FROM workflow_definitions w WHERE w.service_id = s.id) AS wf_id
         FROM services s
         WHERE EXISTS (SELECT 1 FROM workflow_definitions w WHERE w.service_id = s.id)
           AND EXISTS (SELECT 1 FROM form_definitions f WHERE f.service_id = s.id)",
    )
    .execute(&mut *conn)
    .await?;
    for t in ["gen_approvers", "gen_people", "gen_services"] {
        sqlx::query(&format!("CREATE UNIQUE INDEX ON {t} (k)"))
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!("ANALYZE {t}"))
            .execute(&mut *conn)
            .await?;
    }
    let approvers: i64 = sqlx::query_scalar("SELECT count(*) FROM gen_approvers")
        .fetch_one(&mut *conn)
        .await?;
    if approvers <= HEAVY_APPROVERS {
        bail!("too few people to generate approvers from");
    }
    let first_app: i64 = sqlx::query_scalar("SELECT COALESCE(max(id), 0) + 1 FROM applications")
        .fetch_one(&mut *conn)
        .await?;
    // The counts are rebuilt in one pass at the end: per-row trigger work for millions of
    // rows would dominate the run. The fill trigger is replaced by explicit columns.
    sqlx::query(
        "ALTER TABLE tasks DISABLE TRIGGER tasks_count, DISABLE TRIGGER tasks_fill_application",
    )
    .execute(&mut *conn)
    .await?;
    let result = chunks(&mut conn, sizes, services, approvers, task_span, flow_span).await;
    sqlx::query(
        "ALTER TABLE tasks ENABLE TRIGGER tasks_count, ENABLE TRIGGER tasks_fill_application",
    )
    .execute(&mut *conn)
    .await?;
    result?;
    tracing::info!("rebuilding task counts");
    sqlx::query("DELETE FROM task_counts")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO task_counts (assignee_id, service_id, total, open, pending, cc_unread, latest_at)
         SELECT assignee_id, service_id,
                count(*) FILTER (WHERE kind = 'approve'),
                count(*) FILTER (WHERE kind = 'approve' AND app_open),
                count(*) FILTER (WHERE kind = 'approve' AND status = 'pending'),
                count(*) FILTER (WHERE kind = 'cc'),
                max(created_at) FILTER (WHERE kind = 'approve')
         FROM tasks
         WHERE (kind = 'approve' AND status IN ('pending', 'done')) OR (kind = 'cc' AND status = 'unread')
         GROUP BY assignee_id, service_id",
    )
    .execute(&mut *conn)
    .await?;
    // 效能数据's read model is computed again, by the background job or the benchmark.
    crate::stats::refresh::start_rebuild(&mut conn).await?;
    // 流水号 counters move past the generated numbers so new submissions stay unique.
    sqlx::query(
        "INSERT INTO serial_counters (service_code, year, last)
         SELECT split_part(serial_no, '-', 1), split_part(serial_no, '-', 2)::int,
                max(split_part(serial_no, '-', 3)::int)
         FROM applications WHERE id >= $1 GROUP BY 1, 2
         ON CONFLICT (service_code, year) DO UPDATE
            SET last = GREATEST(serial_counters.last, EXCLUDED.last)",
    )
    .bind(first_app)
    .execute(&mut *conn)
    .await?;
    // Sequences already made (a service that had submissions) move past them too; the
    // others start after the counters when first used.
    let tops: Vec<(String, i32, i64)> =
        sqlx::query_as("SELECT service_code, year, last::int8 FROM serial_counters")
            .fetch_all(&mut *conn)
            .await?;
    for (code, year, last) in tops {
        let Ok(seq) = crate::workflow::store::transition::serial_sequence(&code, year) else {
            continue;
        };
        let made: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(&seq)
            .fetch_one(&mut *conn)
            .await?;
        if made {
            sqlx::query(&format!(
                "SELECT setval($1::regclass, GREATEST($2, (SELECT last_value FROM {seq})))"
            ))
            .bind(&seq)
            .bind(last)
            .execute(&mut *conn)
            .await?;
        }
    }
    tracing::info!("analyzing");
    sqlx::query("ANALYZE").execute(&mut *conn).await?;
    let label = format!(
        "{} users, {} applications, {} tasks, {} flow records",
        sizes.users, sizes.applications, sizes.tasks, sizes.flow_records
    );
    sqlx::query("INSERT INTO app_meta (key, value) VALUES ('generated', $1)")
        .bind(&label)
        .execute(&mut *conn)
        .await?;
    let (users, applications, tasks, flow_records): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM applications),
                (SELECT count(*) FROM tasks), (SELECT count(*) FROM flow_records)",
    )
    .fetch_one(&mut *conn)
    .await?;
    let heaviest = heaviest(db, 10).await?;
    Ok(Report {
        users,
        applications,
        tasks,
        flow_records,
        heaviest,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The people with the most pending approval tasks: (account, pending).
pub async fn heaviest(db: &PgPool, n: i64) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT u.account, sum(c.pending)::int8 FROM task_counts c JOIN users u ON u.id = c.assignee_id
         GROUP BY u.account ORDER BY 2 DESC, 1 LIMIT $1",
    )
    .bind(n)
    .fetch_all(db)
    .await
}

async fn chunks(
    conn: &mut sqlx::PgConnection,
    sizes: Sizes,
    services: i64,
    approvers: i64,
    task_span: i64,
    flow_span: i64,
) -> anyhow::Result<()> {
    let people: i64 = sqlx::query_scalar("SELECT count(*) FROM gen_people")
        .fetch_one(&mut *conn)
        .await?;
    // Generated numbers start after every number already given.
    let serial_base: i64 =
        sqlx::query_scalar("SELECT COALESCE(max(last), 0)::int8 FROM serial_counters")
            .fetch_one(&mut *conn)
            .await?;
    let mut from = 1;
    while from <= sizes.applications {
        let to = (from + CHUNK - 1).min(sizes.applications);
        // Applications: most finished long ago; those still open are recent.
        let ids: Vec<i64> = sqlx::query_scalar(
            "WITH g AS (
                 SELECT i, (i % $3)::int AS sk, floor(random() * $4)::int AS pk, random() AS r,
                        random() AS r2
                 FROM generate_series($1::int8, $2::int8) i OFFSET 0
             ), st AS (
                 SELECT g.*, CASE WHEN r < 0.80 THEN 'completed' WHEN r < 0.92 THEN 'running'
                                  WHEN r < 0.95 THEN 'returned' WHEN r < 0.98 THEN 'terminated'
                                  ELSE 'withdrawn' END AS status
                 FROM g
             ), t AS (
                 SELECT st.*, CASE WHEN status IN ('running', 'returned')
                                   THEN now() - r2 * interval '20 days'
                                   ELSE now() - interval '20 days' - r2 * interval '700 days' END AS at
                 FROM st
             )
             INSERT INTO applications (service_id, applicant_id, form_def_id, workflow_def_id, serial_no,
                                       title, status, data, version, created_at, updated_at,
                                       submitted_at, finished_at)
             SELECT s.id, p.id, s.form_id, s.wf_id,
                    s.code || '-' || extract(year FROM t.at)::int || '-' || lpad((t.i + $5)::text, greatest(6, length((t.i + $5)::text)), '0'),
                    s.name || '（' || p.name || '）', t.status, '{}'::jsonb, 3, t.at,
                    t.at + interval '2 hours', t.at,
                    CASE WHEN t.status IN ('running', 'returned') THEN NULL ELSE t.at + interval '2 days' END
             FROM t JOIN gen_services s ON s.k = t.sk JOIN gen_people p ON p.k = t.pk
             ORDER BY t.i
             RETURNING id",
        )
        .bind(from)
        .bind(to)
        .bind(services)
        .bind(people)
        .bind(serial_base)
        .fetch_all(&mut *conn)
        .await
        .context("generate applications")?;
        let (lo, hi) = (
            *ids.iter().min().unwrap_or(&0),
            *ids.iter().max().unwrap_or(&-1),
        );
        // Tasks: 1 + id % span per application. 30 % of approval tasks go to the few heavy
        // approvers, the rest spread with a mild skew (random()²) over everyone else.
        sqlx::query(
            "WITH g AS (
                 SELECT a.id AS app_id, a.service_id, a.status AS app_status, a.submitted_at, j,
                        1 + (a.id % $3) AS n,
                        CASE WHEN random() < 0.30 THEN floor(random() * $5)::int
                             ELSE $5 + floor(power(random(), 2) * ($4 - $5))::int END AS ak
                 FROM applications a, generate_series(1, 1 + (a.id % $3)) j
                 WHERE a.id BETWEEN $1 AND $2 OFFSET 0
             )
             INSERT INTO tasks (application_id, node_id, node_name, assignee_id, kind, status, action,
                                created_at, acted_at, due_at, service_id, app_open, opened_at)
             SELECT g.app_id, 'n' || g.j, '审批环节' || g.j, ap.id,
                    CASE WHEN g.j % 4 = 0 AND g.j < g.n THEN 'cc' ELSE 'approve' END,
                    CASE WHEN g.j % 4 = 0 AND g.j < g.n THEN (CASE WHEN g.j % 8 = 0 THEN 'unread' ELSE 'read' END)
                         WHEN g.j = g.n AND g.app_status = 'running' THEN 'pending'
                         ELSE 'done' END,
                    CASE WHEN g.j % 4 = 0 AND g.j < g.n THEN NULL
                         WHEN g.j = g.n AND g.app_status = 'running' THEN NULL
                         WHEN g.j = g.n AND g.app_status = 'terminated' THEN 'terminate'
                         WHEN g.j = g.n AND g.app_status = 'returned' THEN 'return'
                         ELSE 'approve' END,
                    g.submitted_at + g.j * interval '1 hour',
                    CASE WHEN g.j = g.n AND g.app_status = 'running' THEN NULL
                         ELSE g.submitted_at + g.j * interval '1 hour' + interval '30 minutes' END,
                    CASE WHEN g.j = g.n AND g.app_status = 'running'
                         THEN g.submitted_at + g.j * interval '1 hour' + interval '72 hours' END,
                    g.service_id, g.app_status IN ('running', 'returned'),
                    -- Opened between 2 seconds and 25 minutes before the decision (秒批 in 效能数据).
                    CASE WHEN g.j % 4 = 0 AND g.j < g.n THEN NULL
                         WHEN g.j = g.n AND g.app_status = 'running' THEN NULL
                         ELSE g.submitted_at + g.j * interval '1 hour' + interval '28 minutes'
                              - power(random(), 3) * interval '25 minutes' END
             FROM g JOIN gen_approvers ap ON ap.k = g.ak
             ORDER BY g.app_id, g.j",
        )
        .bind(lo)
        .bind(hi)
        .bind(task_span)
        .bind(approvers)
        .bind(HEAVY_APPROVERS)
        .execute(&mut *conn)
        .await
        .context("generate tasks")?;
        // 流转记录: the submission, then the steps.
        sqlx::query(
            "INSERT INTO flow_records (application_id, node_id, node_name, actor_id, action, comment, details, at)
             SELECT a.id, CASE WHEN j = 1 THEN 'start' ELSE 'n' || (j - 1) END,
                    CASE WHEN j = 1 THEN '申请人提交' ELSE '审批环节' || (j - 1) END,
                    CASE WHEN j = 1 THEN a.applicant_id ELSE ap.id END,
                    CASE WHEN j = 1 THEN 'submit' ELSE 'approve' END,
                    CASE WHEN j % 3 = 0 THEN '同意' ELSE '' END, '{}'::jsonb,
                    a.submitted_at + j * interval '30 minutes'
             FROM applications a
             CROSS JOIN LATERAL generate_series(1, 1 + (a.id % $3)) j
             JOIN gen_approvers ap ON ap.k = ((a.id * 7 + j) % $4)::int
             WHERE a.id BETWEEN $1 AND $2
             ORDER BY a.id, j",
        )
        .bind(lo)
        .bind(hi)
        .bind(flow_span)
        .bind(approvers)
        .execute(&mut *conn)
        .await
        .context("generate flow records")?;
        tracing::info!(
            done = to,
            of = sizes.applications,
            "generating applications"
        );
        from = to + 1;
    }
    Ok(())
}
