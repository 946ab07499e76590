//! What the hall tells a campus system about the person signing in: the same facts for
//! CAS attributes and OIDC claims, each OIDC claim only under the scope that covers it.

use serde_json::{Map, Value, json};
use sqlx::PgPool;

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Person {
    pub id: i64,
    pub account: String,
    pub name: String,
    pub user_type: String,
    pub department: Option<String>,
    pub department_code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub roles: Vec<String>,
}

/// The active person with this id (a disabled or locked one gets nothing).
pub async fn person(db: &PgPool, user_id: i64) -> sqlx::Result<Option<Person>> {
    sqlx::query_as(
        "SELECT u.id, u.account, u.name, u.user_type, d.name AS department,
                d.code AS department_code, u.email, u.phone,
                ARRAY(SELECT DISTINCT r.code FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                       WHERE ur.user_id = u.id ORDER BY r.code) AS roles
           FROM users u LEFT JOIN departments d ON d.id = u.department_id
          WHERE u.id = $1 AND u.status = 'active'",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// CAS attributes, in order; `roles` may repeat.
pub fn cas_attributes(p: &Person) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("account", p.account.clone()),
        ("name", p.name.clone()),
        ("kind", p.user_type.clone()),
    ];
    if let Some(d) = &p.department {
        out.push(("department", d.clone()));
    }
    for r in &p.roles {
        out.push(("roles", r.clone()));
    }
    out
}

/// OIDC claims for `scopes` (the `sub` is always there: the account, stable and unique).
pub fn oidc_claims(p: &Person, scopes: &[String]) -> Map<String, Value> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut m = Map::new();
    m.insert("sub".into(), json!(p.account));
    if has("profile") {
        m.insert("name".into(), json!(p.name));
        m.insert("preferred_username".into(), json!(p.account));
        m.insert("kind".into(), json!(p.user_type));
    }
    if has("email")
        && let Some(e) = &p.email
    {
        // A 安全邮箱 is bound only through a link sent to it.
        m.insert("email".into(), json!(e));
        m.insert("email_verified".into(), json!(true));
    }
    if has("phone")
        && let Some(ph) = &p.phone
    {
        m.insert("phone_number".into(), json!(ph));
        m.insert("phone_number_verified".into(), json!(true));
    }
    if has("campus") {
        m.insert("department".into(), json!(p.department));
        m.insert("department_code".into(), json!(p.department_code));
        m.insert("roles".into(), json!(p.roles));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Person {
        Person {
            id: 1,
            account: "S1".into(),
            name: "张三".into(),
            user_type: "student".into(),
            department: Some("计算机学院".into()),
            department_code: Some("CS".into()),
            email: None,
            phone: Some("13800138000".into()),
            roles: vec!["dept_head".into()],
        }
    }

    #[test]
    fn claims_follow_scopes() {
        let only = oidc_claims(&p(), &["openid".into()]);
        assert_eq!(only.keys().collect::<Vec<_>>(), vec!["sub"]);
        let all = oidc_claims(
            &p(),
            &["openid", "profile", "phone", "email", "campus"].map(String::from),
        );
        assert_eq!(all["name"], "张三");
        assert_eq!(all["phone_number"], "13800138000");
        assert!(!all.contains_key("email"), "no 安全邮箱, no claim");
        assert_eq!(all["roles"], json!(["dept_head"]));
        let attrs = cas_attributes(&p());
        assert!(attrs.contains(&("department", "计算机学院".into())));
    }
}
