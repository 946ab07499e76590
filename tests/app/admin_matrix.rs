//! Who may do what in 管理后台, for every route and action: 系统管理员; 服务管理员 of 教务处
//! on 教务处's and on 计算机学院's services (and the reverse); a teacher; a student;
//! signed out. Every request of the others is refused before anything is read or written.

use reqwest::{Client, StatusCode};

use crate::{forms::service, helpers::*};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Admin,
    /// 服务管理员 whose scope holds the service of the route.
    Scoped,
    /// 服务管理员 of another department.
    Other,
    Teacher,
    Student,
    Visitor,
}

/// Every admin route, with `{id}`, `{key}` and `{col}` to fill, and whether it is about one
/// service (else about the admin area as a whole).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin/services/{id}"),
    ("POST", "/admin/services/{id}"),
    ("POST", "/admin/services/{id}/status"),
    ("POST", "/admin/services/{id}/delete"),
    ("GET", "/admin/services/{id}/preview?as=student"),
    ("GET", "/admin/services/{id}/export"),
    ("GET", "/admin/services/{id}/versions"),
    ("POST", "/admin/services/{id}/publish"),
    ("POST", "/admin/services/{id}/rollback"),
    ("POST", "/admin/services/{id}/draft/discard"),
    ("GET", "/admin/services/{id}/form"),
    ("POST", "/admin/services/{id}/form/fields"),
    ("POST", "/admin/services/{id}/form/order"),
    ("GET", "/admin/services/{id}/form/fields/{key}"),
    ("POST", "/admin/services/{id}/form/fields/{key}"),
    ("POST", "/admin/services/{id}/form/fields/{key}/preview"),
    ("POST", "/admin/services/{id}/form/fields/{key}/move"),
    ("POST", "/admin/services/{id}/form/fields/{key}/delete"),
    ("POST", "/admin/services/{id}/form/fields/{key}/columns"),
    (
        "POST",
        "/admin/services/{id}/form/fields/{key}/column-order",
    ),
    (
        "GET",
        "/admin/services/{id}/form/fields/{key}/columns/{col}",
    ),
    (
        "POST",
        "/admin/services/{id}/form/fields/{key}/columns/{col}",
    ),
    (
        "POST",
        "/admin/services/{id}/form/fields/{key}/columns/{col}/preview",
    ),
    (
        "POST",
        "/admin/services/{id}/form/fields/{key}/columns/{col}/move",
    ),
    (
        "POST",
        "/admin/services/{id}/form/fields/{key}/columns/{col}/delete",
    ),
    ("GET", "/admin/services/{id}/workflow"),
    ("POST", "/admin/services/{id}/workflow"),
    ("GET", "/admin/services/{id}/workflow/trial"),
    ("POST", "/admin/services/{id}/workflow/trial"),
    ("GET", "/admin/services/{id}/document"),
    ("POST", "/admin/services/{id}/document"),
    ("POST", "/admin/services/{id}/document/seal"),
];

/// Routes of the admin area itself: (method, path, who besides 系统管理员 may).
const AREA: &[(&str, &str, bool)] = &[
    ("GET", "/admin", true),
    ("GET", "/admin/sso", false),
    ("GET", "/admin/sso/new", false),
    ("POST", "/admin/sso", false),
    ("GET", "/admin/services", true),
    ("GET", "/admin/services/new", true),
    ("POST", "/admin/services", true),
    ("POST", "/admin/services/preview", true),
    ("GET", "/admin/services/import", true),
    ("POST", "/admin/services/import/confirm", true),
    ("GET", "/admin/users", false),
    ("POST", "/admin/users/1/unlock", false),
    ("GET", "/admin/audit", false),
    ("GET", "/admin/outbox", false),
];

struct Person {
    client: Client,
    csrf: String,
}

async fn person(app: &TestApp, account: Option<&str>) -> Person {
    let client = match account {
        Some(a) => signed_in(app, a).await,
        None => new_client(),
    };
    let page = if account.is_some() {
        "/center"
    } else {
        "/login"
    };
    let html = app.get_with(&client, page).await.text().await.unwrap();
    Person {
        csrf: csrf_from(&html),
        client,
    }
}

async fn send(app: &TestApp, p: &Person, method: &str, path: &str) -> StatusCode {
    let r = if method == "GET" {
        p.client.get(app.url(path)).send().await.unwrap()
    } else {
        // A valid token: what refuses must be the permission check, not CSRF.
        p.client
            .post(app.url(path))
            .form(&[("_csrf", p.csrf.as_str())])
            .send()
            .await
            .unwrap()
    };
    r.status()
}

/// What `who` must get.
fn check(who: Who, method: &str, path: &str, status: StatusCode) {
    let refused = status == StatusCode::FORBIDDEN;
    match who {
        // Pages open; actions get past the permission check (posted without their fields,
        // they fail their own checks — or find what an earlier action removed).
        Who::Admin | Who::Scoped if method == "GET" => {
            assert_eq!(status, StatusCode::OK, "{who:?} {method} {path}")
        }
        Who::Admin | Who::Scoped => assert!(
            !refused && !status.is_server_error(),
            "{who:?} {method} {path}: {status}"
        ),
        Who::Other | Who::Teacher | Who::Student => {
            assert_eq!(status, StatusCode::FORBIDDEN, "{who:?} {method} {path}")
        }
        Who::Visitor => {
            if method == "GET" {
                assert_eq!(status, StatusCode::SEE_OTHER, "{who:?} {method} {path}")
            } else {
                assert!(
                    status == StatusCode::FORBIDDEN || status == StatusCode::SEE_OTHER,
                    "{who:?} {method} {path}: {status}"
                )
            }
        }
    }
}

/// Fingerprint of everything an admin action could change.
async fn state(app: &TestApp) -> String {
    sqlx::query_scalar(
        "SELECT md5(concat_ws('|',
            (SELECT string_agg(to_jsonb(s)::text, ',' ORDER BY id) FROM services s),
            (SELECT string_agg(to_jsonb(d)::text, ',' ORDER BY service_id) FROM service_drafts d),
            (SELECT string_agg(to_jsonb(v)::text, ',' ORDER BY id) FROM service_versions v),
            (SELECT count(*) FROM form_definitions), (SELECT count(*) FROM workflow_definitions),
            (SELECT string_agg(subject, ',' ORDER BY subject) FROM lockouts)))",
    )
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_admin_route_and_action_is_refused_to_those_it_is_not_for() {
    let app = spawn_app().await;
    // 缓考申请 (教务处) and 实验室开放 (计算机学院), both with a sub-table.
    let aca = (service(&app, "HKSQ").await, "courses", "course");
    let cs = (service(&app, "SJKF").await, "members", "name");
    let people = [
        (Some("admin"), "admin"),
        (Some("T4401"), "aca"),
        (Some("T4402"), "cs"),
        (Some("T2002"), "teacher"),
        (Some("S2024001"), "student"),
        (None, "visitor"),
    ];
    let mut clients = Vec::new();
    for (account, role) in people {
        clients.push((role, person(&app, account).await));
    }
    // The refused first, so that nothing they send could have changed what the allowed see;
    // the state must not move at all while they try.
    let before = state(&app).await;
    for (role, p) in clients.iter().filter(|(r, _)| *r != "admin") {
        for &(sid, key, col) in [aca, cs].iter() {
            let who = match (*role, sid == aca.0) {
                ("aca", true) | ("cs", false) => continue,
                ("aca", false) | ("cs", true) => Who::Other,
                ("teacher", _) => Who::Teacher,
                ("student", _) => Who::Student,
                _ => Who::Visitor,
            };
            for (method, path) in ROUTES {
                let path = path
                    .replace("{id}", &sid.to_string())
                    .replace("{key}", key)
                    .replace("{col}", col);
                check(who, method, &path, send(&app, p, method, &path).await);
            }
        }
        for &(method, path, services_admins_may) in AREA {
            let who = match *role {
                "aca" | "cs" if services_admins_may => continue,
                "aca" | "cs" => Who::Other,
                "teacher" => Who::Teacher,
                "student" => Who::Student,
                _ => Who::Visitor,
            };
            check(who, method, path, send(&app, p, method, path).await);
        }
    }
    assert_eq!(
        state(&app).await,
        before,
        "a refused request changed something"
    );
    // Unknown ids: 404 for the 系统管理员, 403 for a 服务管理员 (who learns nothing).
    let admin = &clients[0].1;
    let scoped = &clients[1].1;
    for (method, path) in [
        ("GET", "/admin/services/999999"),
        ("GET", "/admin/services/999999/form"),
        ("GET", "/admin/services/999999/workflow"),
        ("GET", "/admin/services/999999/versions"),
    ] {
        assert_eq!(send(&app, admin, method, path).await, 404, "{path}");
        assert_eq!(send(&app, scoped, method, path).await, 403, "{path}");
    }
    // The allowed: the 系统管理员 everywhere, each 服务管理员 on their own service.
    for (role, p) in &clients {
        let mine: Vec<_> = match *role {
            // Its own service: the 服务管理员 have changed theirs by now.
            "admin" => vec![(service(&app, "CCSP").await, "itinerary", "date")],
            "aca" => vec![aca],
            "cs" => vec![cs],
            _ => continue,
        };
        let who = if *role == "admin" {
            Who::Admin
        } else {
            Who::Scoped
        };
        for (sid, key, col) in mine {
            // Pages first: the actions after them may change what there is to see.
            let mut routes = ROUTES.to_vec();
            routes.sort_by_key(|(m, _)| *m != "GET");
            for (method, path) in routes {
                let path = path
                    .replace("{id}", &sid.to_string())
                    .replace("{key}", key)
                    .replace("{col}", col);
                check(who, method, &path, send(&app, p, method, &path).await);
            }
        }
        for &(method, path, services_admins_may) in AREA {
            if *role == "admin" || services_admins_may {
                check(who, method, path, send(&app, p, method, path).await);
            }
        }
    }
}
