//! The workflow's use cases driven directly, without HTTP: what the handlers call.

use service_hall::{
    clock::Clock,
    web::user::CurrentUser,
    workflow::usecase::{
        ActCtx,
        act::{self, Outcome, Request},
        read,
    },
};

use crate::{forms::*, helpers::*};

/// The person as the session layer would hand them to a handler.
async fn person(app: &TestApp, account: &str) -> CurrentUser {
    let (id, name, user_type): (i64, String, String) =
        sqlx::query_as("SELECT id, name, user_type FROM users WHERE account = $1")
            .bind(account)
            .fetch_one(&app.db)
            .await
            .unwrap();
    CurrentUser {
        id,
        account: account.to_owned(),
        name,
        user_type,
        department: None,
        is_admin: false,
        manages_services: false,
        must_change_password: false,
        pending: 0,
        unread_messages: 0,
        cc_unread: 0,
        drafts: 0,
        has_phone: true,
    }
}

fn ctx(app: &TestApp, actor: i64) -> ActCtx {
    let s = test_settings();
    ActCtx {
        now: app.clock.now(),
        actor,
        actor_name: "测试".into(),
        ip: None,
        tz: s.time_zone,
        fanout: Default::default(),
        upload_max_file: s.upload_max_file,
        upload_max_total: s.upload_max_total,
        secret: std::sync::Arc::new(service_hall::secret::SecretKey::from_secret("test")),
        calendar: std::sync::Arc::new(service_hall::calendar::Calendar::plain(
            s.time_zone,
            s.work_week,
        )),
    }
}

fn request(op: &str, node: &str, version: i32, comment: &str) -> Request {
    Request::parse(vec![
        ("op".into(), op.into()),
        ("node".into(), node.into()),
        ("version".into(), version.to_string()),
        ("comment".into(), comment.into()),
    ])
    .unwrap()
}

async fn version(app: &TestApp, id: i64) -> i32 {
    sqlx::query_scalar("SELECT version FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn approving_through_the_use_case_without_http() {
    let app = spawn_app().await;
    let student = signed_in(&app, "S2024001").await;
    let id = apply_leave(&app, &student, "1").await;
    let counselor = person(&app, "T2101").await;
    let c = ctx(&app, counselor.id);
    // A 退回 without 审批意见 is refused and changes nothing.
    let v = version(&app, id).await;
    let out = act::act(
        &app.db,
        &c,
        &counselor,
        id,
        request("return", "counselor", v, ""),
    )
    .await
    .unwrap();
    assert!(matches!(out, Outcome::Refused("退回时须填写审批意见。")));
    assert_eq!(version(&app, id).await, v);
    // 通过 at the version seen completes the short leave.
    let out = act::act(
        &app.db,
        &c,
        &counselor,
        id,
        request("approve", "counselor", v, "同意"),
    )
    .await
    .unwrap();
    assert!(matches!(out, Outcome::Done("已通过。")));
    let status: String = sqlx::query_scalar("SELECT status FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "completed");
    // The same request again is stale: 该事项已被处理, nothing applied twice.
    let again = act::act(
        &app.db,
        &c,
        &counselor,
        id,
        request("approve", "counselor", v, "同意"),
    )
    .await;
    assert!(again.is_err());
    // The applicant reads it as done; a stranger gets nothing.
    let me = person(&app, "S2024001").await;
    let tz = test_settings().time_zone;
    match read::application(&app.db, &me, tz, id, None).await.unwrap() {
        read::Page::View(v) => {
            assert_eq!(v.status, "已办结");
            assert!(v.can_rate);
        }
        read::Page::Draft => panic!("not a draft"),
    }
    let stranger = person(&app, "S2025001").await;
    assert!(
        read::application(&app.db, &stranger, tz, id, None)
            .await
            .is_err()
    );
}
