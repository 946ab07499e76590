//! Demo data (idempotent) and the `create-admin` command.

use anyhow::{Context, bail};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use crate::{
    audit::Entry,
    identity::{idcard, password},
    secret::SecretKey,
};

pub const DEMO_PASSWORD: &str = "Demo@2026";

/// (code, parent code, name, kind)
const DEPARTMENTS: &[(&str, Option<&str>, &str, &str)] = &[
    ("SCHOOL", None, "示范大学", "school"),
    ("CS", Some("SCHOOL"), "计算机学院", "college"),
    ("ME", Some("SCHOOL"), "机械工程学院", "college"),
    ("EM", Some("SCHOOL"), "经济管理学院", "college"),
    ("FL", Some("SCHOOL"), "外国语学院", "college"),
    ("MS", Some("SCHOOL"), "材料科学与工程学院", "college"),
    ("ORG", Some("SCHOOL"), "党委组织部", "office"),
    ("HR", Some("SCHOOL"), "人事处", "office"),
    ("FIN", Some("SCHOOL"), "财务处", "office"),
    ("ACA", Some("SCHOOL"), "教务处", "office"),
    ("SA", Some("SCHOOL"), "学生工作处", "office"),
    ("SEC", Some("SCHOOL"), "保卫处", "office"),
    ("NIC", Some("SCHOOL"), "网络与信息中心", "office"),
    ("UNION", Some("SCHOOL"), "校工会", "office"),
    ("HOSP", Some("SCHOOL"), "校医院", "office"),
    ("OFFICE", Some("SCHOOL"), "党政办公室", "office"),
    ("LOG", Some("SCHOOL"), "后勤管理处", "office"),
    ("LIB", Some("SCHOOL"), "图书馆", "office"),
    ("INTL", Some("SCHOOL"), "国际合作与交流处", "office"),
    ("CS-OFFICE", Some("CS"), "计算机学院办公室", "section"),
    ("CS-SE", Some("CS"), "软件工程系", "section"),
    ("HR-STAFF", Some("HR"), "人事科", "section"),
    ("HR-FACULTY", Some("HR"), "师资科", "section"),
    ("FIN-ACC", Some("FIN"), "会计核算科", "section"),
    ("ACA-EXAM", Some("ACA"), "考务科", "section"),
    ("NIC-NET", Some("NIC"), "网络运维科", "section"),
];

pub struct DemoUser {
    pub account: &'static str,
    pub name: &'static str,
    pub user_type: &'static str,
    pub dept: &'static str,
    pub gender: &'static str,
    pub title: Option<&'static str>,
    pub phone: Option<&'static str>,
    pub email: Option<&'static str>,
    pub id_card: Option<&'static str>,
    /// `false`: imported without a password (initial password = last six of the ID card).
    pub has_password: bool,
    /// `false`: never activated (a new student or teacher): no password, must 激活账号.
    pub active: bool,
    pub roles: &'static [(&'static str, Option<&'static str>)],
}

pub const DEMO_USERS: &[DemoUser] = &[
    DemoUser {
        account: "admin",
        name: "系统管理员",
        user_type: "staff",
        dept: "NIC",
        gender: "男",
        title: Some("工程师"),
        phone: Some("13800000000"),
        email: Some("admin@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("system_admin", None)],
    },
    DemoUser {
        account: "T2001",
        name: "王建华",
        user_type: "teacher",
        dept: "CS",
        gender: "男",
        title: Some("教授 / 院长"),
        phone: Some("13900001001"),
        email: Some("wangjh@demo.edu.cn"),
        id_card: Some("370102199003071238"),
        has_password: true,
        active: true,
        roles: &[("dept_head", Some("CS"))],
    },
    DemoUser {
        account: "T2002",
        name: "李晓梅",
        user_type: "teacher",
        dept: "CS",
        gender: "女",
        title: Some("讲师"),
        phone: Some("13900001002"),
        email: Some("lixm@demo.edu.cn"),
        id_card: Some("44030619980512341X"),
        has_password: true,
        active: true,
        roles: &[],
    },
    DemoUser {
        account: "S2024001",
        name: "张三",
        user_type: "student",
        dept: "CS",
        gender: "男",
        title: None,
        phone: Some("13800138000"),
        email: Some("zhangsan@stu.demo.edu.cn"),
        id_card: Some("110108200609012342"),
        has_password: true,
        active: true,
        roles: &[],
    },
    DemoUser {
        account: "T2101",
        name: "陈静",
        user_type: "staff",
        dept: "CS",
        gender: "女",
        title: Some("辅导员"),
        phone: Some("13900002101"),
        email: Some("chenjing@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("counselor", Some("CS"))],
    },
    DemoUser {
        account: "T2102",
        name: "周明",
        user_type: "staff",
        dept: "CS",
        gender: "男",
        title: Some("学院副书记"),
        phone: Some("13900002102"),
        email: Some("zhouming@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("deputy_secretary", Some("CS"))],
    },
    DemoUser {
        account: "T3001",
        name: "吴国强",
        user_type: "staff",
        dept: "INTL",
        gender: "男",
        title: Some("科长"),
        phone: Some("13900003001"),
        email: Some("wugq@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("intl_officer", None)],
    },
    DemoUser {
        account: "T3002",
        name: "郑建国",
        user_type: "staff",
        dept: "OFFICE",
        gender: "男",
        title: Some("副校长"),
        phone: Some("13900003002"),
        email: Some("zhengjg@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("school_leader", None)],
    },
    DemoUser {
        account: "T3003",
        name: "孙丽",
        user_type: "staff",
        dept: "HR-STAFF",
        gender: "女",
        title: Some("人事科科员"),
        phone: Some("13900003003"),
        email: Some("sunli@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("hr_officer", None)],
    },
    DemoUser {
        account: "T3004",
        name: "钱印",
        user_type: "staff",
        dept: "OFFICE",
        gender: "男",
        title: Some("机要秘书"),
        phone: Some("13900003004"),
        email: Some("qianyin@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("seal_keeper", None)],
    },
    DemoUser {
        account: "T3005",
        name: "冯敏",
        user_type: "staff",
        dept: "OFFICE",
        gender: "女",
        title: Some("机要秘书"),
        phone: Some("13900003005"),
        email: Some("fengmin@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("seal_keeper", None)],
    },
    DemoUser {
        account: "T3006",
        name: "赵志远",
        user_type: "staff",
        dept: "ORG",
        gender: "男",
        title: Some("机构编制管理科科长"),
        phone: Some("13900003006"),
        email: Some("zhaozy@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("org_officer", None)],
    },
    DemoUser {
        account: "T3007",
        name: "何晓燕",
        user_type: "staff",
        dept: "FIN",
        gender: "女",
        title: Some("会计"),
        phone: Some("13900003007"),
        email: Some("hexy@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("finance_officer", None)],
    },
    DemoUser {
        account: "T3008",
        name: "许文",
        user_type: "staff",
        dept: "UNION",
        gender: "男",
        title: Some("工会干事"),
        phone: Some("13900003008"),
        email: Some("xuwen@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("union_officer", None)],
    },
    DemoUser {
        account: "T3009",
        name: "马卫东",
        user_type: "staff",
        dept: "SEC",
        gender: "男",
        title: Some("户籍科科长"),
        phone: Some("13900003009"),
        email: Some("mawd@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("security_officer", None)],
    },
    DemoUser {
        account: "T3010",
        name: "林华",
        user_type: "staff",
        dept: "HOSP",
        gender: "女",
        title: Some("医政科科长"),
        phone: Some("13900003010"),
        email: Some("linhua@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("medical_officer", None)],
    },
    DemoUser {
        account: "T3011",
        name: "郭涛",
        user_type: "staff",
        dept: "NIC",
        gender: "男",
        title: Some("网络运维工程师"),
        phone: Some("13900003011"),
        email: Some("guotao@demo.edu.cn"),
        id_card: None,
        has_password: true,
        active: true,
        roles: &[("nic_officer", None)],
    },
    DemoUser {
        account: "T2003",
        name: "赵敏",
        user_type: "teacher",
        dept: "FL",
        gender: "女",
        title: Some("副教授"),
        phone: None,
        email: None,
        id_card: Some("620102198503151004"),
        has_password: false,
        active: true,
        roles: &[],
    },
    DemoUser {
        account: "S2025001",
        name: "李四",
        user_type: "student",
        dept: "CS",
        gender: "男",
        title: None,
        phone: None,
        email: None,
        id_card: Some("110108200703150514"),
        has_password: false,
        active: false,
        roles: &[],
    },
];

async fn dept_id(conn: &mut PgConnection, code: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT id FROM departments WHERE code = $1")
        .bind(code)
        .fetch_one(conn)
        .await
        .with_context(|| format!("department {code}"))
}

async fn grant(
    conn: &mut PgConnection,
    user_id: i64,
    role: &str,
    dept: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO user_roles (user_id, role_id, department_id)
         SELECT $1, r.id, $3 FROM roles r WHERE r.code = $2
         ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(role)
    .bind(dept)
    .execute(conn)
    .await?;
    Ok(())
}

/// Insert the demo departments and accounts that are missing; never changes existing rows.
pub async fn seed_demo(db: &PgPool, key: &SecretKey) -> anyhow::Result<()> {
    // Hash outside the transaction (slow, CPU-bound).
    let mut hashes = Vec::new();
    for u in DEMO_USERS {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE account = $1)")
                .bind(u.account)
                .fetch_one(db)
                .await?;
        let pw = if u.has_password {
            DEMO_PASSWORD.to_owned()
        } else {
            idcard::initial_password(u.id_card.expect("imported accounts have an ID card"))
        };
        // Outer None: exists already; inner None: no password (not activated).
        hashes.push(if exists {
            None
        } else if !u.active {
            Some(None)
        } else {
            Some(Some(password::hash(pw).await?))
        });
    }

    let mut tx = db.begin().await?;
    // One seeder at a time (several instances may start together).
    sqlx::query("SELECT pg_advisory_xact_lock(7201)")
        .execute(&mut *tx)
        .await?;
    for (code, parent, name, kind) in DEPARTMENTS {
        let parent_id = match parent {
            Some(p) => Some(dept_id(&mut tx, p).await?),
            None => None,
        };
        sqlx::query(
            "INSERT INTO departments (code, parent_id, name, kind, sort_order)
             VALUES ($1, $2, $3, $4, (SELECT count(*) FROM departments))
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(code)
        .bind(parent_id)
        .bind(name)
        .bind(kind)
        .execute(&mut *tx)
        .await?;
    }
    for (u, hash) in DEMO_USERS.iter().zip(hashes) {
        let Some(hash) = hash else { continue };
        let dept = dept_id(&mut tx, u.dept).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (account, name, user_type, department_id, gender, title, phone, email,
                                id_card_hash, id_card_masked, status, password_hash, must_change_password,
                                activated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                     CASE WHEN $11::text IS NULL THEN 'inactive' ELSE 'active' END, $11,
                     $12 AND $11::text IS NOT NULL,
                     CASE WHEN $11::text IS NULL THEN NULL ELSE now() END)
             ON CONFLICT (account) DO NOTHING RETURNING id",
        )
        .bind(u.account)
        .bind(u.name)
        .bind(u.user_type)
        .bind(dept)
        .bind(u.gender)
        .bind(u.title)
        .bind(u.phone)
        .bind(u.email)
        .bind(u.id_card.map(|c| idcard::hash(key, c)))
        .bind(u.id_card.map(idcard::mask))
        .bind(&hash)
        .bind(!u.has_password)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { continue };
        for (role, scope) in u.roles {
            let scope_id = match scope {
                Some(c) => Some(dept_id(&mut tx, c).await?),
                None => None,
            };
            grant(&mut tx, id, role, scope_id).await?;
        }
    }
    seed_catalog(&mut tx).await?;
    seed_flows(&mut tx).await?;
    sqlx::query(
        "INSERT INTO app_meta (key, value) VALUES ('demo_data', 'present')
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn category_id(conn: &mut PgConnection, code: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT id FROM service_categories WHERE code = $1")
        .bind(code)
        .fetch_one(conn)
        .await
        .with_context(|| format!("category {code}"))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Demo categories, services, systems, links and notices that are missing.
async fn seed_catalog(tx: &mut PgConnection) -> anyhow::Result<()> {
    use crate::catalog::{demo, store};
    let now = chrono::Utc::now();
    for (i, c) in demo::CATEGORIES.iter().enumerate() {
        sqlx::query(
            "INSERT INTO service_categories (code, name, icon, sort_order) VALUES ($1, $2, $3, $4)
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(c.code)
        .bind(c.name)
        .bind(c.icon)
        .bind(i as i32)
        .execute(&mut *tx)
        .await?;
    }
    for s in demo::SERVICES {
        let mut start_department_ids = Vec::new();
        for d in s.start_depts {
            start_department_ids.push(dept_id(tx, d).await?);
        }
        let new = store::NewService {
            code: s.code.into(),
            name: s.name.into(),
            department_id: dept_id(tx, s.dept).await?,
            category_id: category_id(tx, s.category).await?,
            audiences: strings(s.audiences),
            tags: strings(s.tags),
            summary: s.summary.into(),
            conditions: s.conditions.into(),
            materials: s.materials.into(),
            process: s.process.into(),
            time_limit: s.time_limit.into(),
            location: s.location.into(),
            phone: s.phone.into(),
            faq: s.faq.into(),
            kind: s.kind.into(),
            external_url: s.external_url.map(Into::into),
            start_user_types: strings(s.start_user_types),
            start_department_ids,
            start_roles: strings(s.start_roles),
            status: "published".into(),
            recommend_for: strings(s.recommend_for),
            recommend_order: s.recommend_order,
        };
        store::insert_service(tx, &new, now).await?;
    }
    for (i, sys) in demo::SYSTEMS.iter().enumerate() {
        sqlx::query(
            "INSERT INTO campus_systems (name, url, icon, description, audiences, sort_order)
             SELECT $1, $2, $3, $4, $5, $6
             WHERE NOT EXISTS (SELECT 1 FROM campus_systems WHERE name = $1)",
        )
        .bind(sys.name)
        .bind(sys.url)
        .bind(sys.icon)
        .bind(sys.description)
        .bind(strings(sys.audiences))
        .bind(i as i32)
        .execute(&mut *tx)
        .await?;
    }
    for (i, l) in demo::LINKS.iter().enumerate() {
        sqlx::query(
            "INSERT INTO convenience_links (name, url, sort_order) SELECT $1, $2, $3
             WHERE NOT EXISTS (SELECT 1 FROM convenience_links WHERE name = $1)",
        )
        .bind(l.name)
        .bind(l.url)
        .bind(i as i32)
        .execute(&mut *tx)
        .await?;
    }
    for n in demo::NOTICES {
        let dept = match n.dept {
            Some(d) => Some(dept_id(tx, d).await?),
            None => None,
        };
        sqlx::query(
            "INSERT INTO announcements (title, body_markdown, department_id, published_at, pinned)
             SELECT $1, $2, $3, $4, $5
             WHERE NOT EXISTS (SELECT 1 FROM announcements WHERE title = $1)",
        )
        .bind(n.title)
        .bind(n.body_markdown)
        .bind(dept)
        .bind(now - chrono::Duration::days(n.days_ago) - chrono::Duration::hours(2))
        .bind(n.pinned)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Forms and workflows of the demo services, version 1, where a service has none yet.
async fn seed_flows(tx: &mut PgConnection) -> anyhow::Result<()> {
    for (code, form, flow, start_roles) in crate::workflow::demo::flows() {
        let Some(service_id) =
            sqlx::query_scalar::<_, i64>("SELECT id FROM services WHERE code = $1")
                .bind(code)
                .fetch_optional(&mut *tx)
                .await?
        else {
            continue;
        };
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM form_definitions WHERE service_id = $1)",
        )
        .bind(service_id)
        .fetch_one(&mut *tx)
        .await?;
        if exists {
            continue;
        }
        sqlx::query(
            "INSERT INTO form_definitions (service_id, version, schema) VALUES ($1, 1, $2)",
        )
        .bind(service_id)
        .bind(&form)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO workflow_definitions (service_id, version, definition) VALUES ($1, 1, $2)",
        )
        .bind(service_id)
        .bind(&flow)
        .execute(&mut *tx)
        .await?;
        if let Some(roles) = start_roles {
            sqlx::query(
                "UPDATE services SET start_roles = $2, start_user_types = '{}' WHERE id = $1",
            )
            .bind(service_id)
            .bind(strings(&roles))
            .execute(&mut *tx)
            .await?;
        }
        // The 系统管理员 administers the demo services (fallback approver).
        sqlx::query(
            "INSERT INTO service_admins (service_id, user_id) SELECT $1, id FROM users WHERE account = 'admin'
             ON CONFLICT DO NOTHING",
        )
        .bind(service_id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// True when the database has no people yet (a fresh install).
pub async fn is_empty(db: &PgPool) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM users)")
        .fetch_one(db)
        .await
}

/// Create a 系统管理员, or make an existing account one and set its password.
pub async fn create_admin(db: &PgPool, account: &str, name: &str, pw: &str) -> anyhow::Result<()> {
    let account = account.trim();
    if account.is_empty() || name.trim().is_empty() {
        bail!("account and name must not be empty");
    }
    let problems = password::policy_violations(pw, account);
    if !problems.is_empty() {
        bail!("password rejected: {}", problems.join("; "));
    }
    let hash = password::hash(pw.to_owned()).await?;
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (account, name, user_type, status, password_hash)
         VALUES ($1, $2, 'staff', 'active', $3)
         ON CONFLICT (account) DO UPDATE SET password_hash = EXCLUDED.password_hash,
             status = 'active', must_change_password = false, updated_at = now(),
             auth_epoch = users.auth_epoch + 1
         RETURNING id",
    )
    .bind(account)
    .bind(name.trim())
    .bind(hash)
    .fetch_one(&mut *tx)
    .await?;
    grant(&mut tx, id, "system_admin", None).await?;
    Entry::user(id, "admin.create")
        .by(None)
        .detail(json!({ "via": "cli" }))
        .record(&mut *tx, chrono::Utc::now())
        .await?;
    tx.commit().await?;
    Ok(())
}
