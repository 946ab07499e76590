use service_hall::generate::{self, HEAVY_APPROVERS, Sizes};

use crate::helpers::*;

#[tokio::test]
async fn generated_data_is_skewed_consistent_and_usable() {
    let app = spawn_app().await;
    let sizes = Sizes {
        users: 600,
        applications: 4_000,
        tasks: 20_000,
        flow_records: 40_000,
    };
    let before: (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM applications)")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let r = generate::generate(&app.db, sizes, 0.1).await.unwrap();
    assert_eq!(r.users - before.0, 600);
    assert_eq!(r.applications - before.1, 4_000);
    // The ratios hold on average (1 + id % span per application).
    assert!((18_000..22_000).contains(&r.tasks), "{}", r.tasks);
    assert!(
        (36_000..44_000).contains(&r.flow_records),
        "{}",
        r.flow_records
    );
    // Skewed: the heavy approvers hold far more open tasks than the median person.
    let heavy = &r.heaviest[..HEAVY_APPROVERS as usize];
    let median: i64 = sqlx::query_scalar(
        "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY p)::int8 FROM
           (SELECT sum(pending) AS p FROM task_counts GROUP BY assignee_id) x",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(
        heavy.iter().all(|(_, p)| *p > 5 * median.max(1)),
        "{heavy:?} vs median {median}"
    );
    // The counts the triggers would have kept are rebuilt exactly.
    assert_task_counts(&app).await;
    // 流水号 stay unique and in the product's format; new ones continue after them.
    let bad: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM applications WHERE serial_no !~ '^[A-Z]+-[0-9]{4}-[0-9]{6,}$'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(bad, 0);
    // A second run on the same database is refused, not doubled.
    let again = generate::generate(&app.db, sizes, 0.1).await;
    assert!(again.is_err());
    // The busiest approver signs in with the demo password and sees the list.
    let (account, pending) = r.heaviest[0].clone();
    let c = signed_in(&app, &account).await;
    let home = app.get_with(&c, "/").await.text().await.unwrap();
    assert_eq!(
        texts_of_class(&home, "nav-badge"),
        vec![pending.to_string()]
    );
    let flat = app
        .get_with(&c, "/center/todo?view=flat")
        .await
        .text()
        .await
        .unwrap();
    assert!(flat.contains("审批环节"), "{flat}");
}
