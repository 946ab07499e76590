//! Who fills a 填报任务: departments (with everything below them), kinds of people and
//! roles narrow each other; a list of accounts adds people by name. Resolved once, when
//! the task is published.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// The most accounts one list may name.
pub const MAX_ACCOUNTS: usize = 20_000;

#[derive(Serialize, Deserialize, Default, Clone, Debug, PartialEq, Eq)]
pub struct Target {
    #[serde(default)]
    pub departments: Vec<i64>,
    /// `student`, `teacher`, `staff`.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Role codes.
    #[serde(default)]
    pub roles: Vec<String>,
    /// 学号 / 工号.
    #[serde(default)]
    pub accounts: Vec<String>,
}

impl Target {
    pub fn is_empty(&self) -> bool {
        self.departments.is_empty()
            && self.kinds.is_empty()
            && self.roles.is_empty()
            && self.accounts.is_empty()
    }
}

/// Whether `u` (a `users` row) belongs to the group of `$2` departments, `$3` kinds,
/// `$4` roles, `$5` accounts: the first three narrow each other (any left empty does not
/// narrow), and the accounts are added.
pub const MEMBER_SQL: &str = "(
        (cardinality($2::bigint[]) > 0 OR cardinality($3::text[]) > 0 OR cardinality($4::text[]) > 0)
        AND (cardinality($2::bigint[]) = 0
             OR u.department_id IN (SELECT dept_subtree(d) FROM unnest($2::bigint[]) d))
        AND (cardinality($3::text[]) = 0 OR u.user_type = ANY($3::text[]))
        AND (cardinality($4::text[]) = 0 OR EXISTS (
                SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                WHERE ur.user_id = u.id AND r.code = ANY($4::text[])))
    ) OR u.account = ANY($5::text[])";

/// How many people the group holds today (shown before publishing).
pub async fn count(db: &PgPool, t: &Target) -> sqlx::Result<i64> {
    // `$1` is unused here; the numbering matches the publishing statement.
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM users u WHERE $1::bigint IS NULL AND ({MEMBER_SQL})"
    ))
    .bind(None::<i64>)
    .bind(&t.departments)
    .bind(&t.kinds)
    .bind(&t.roles)
    .bind(&t.accounts)
    .fetch_one(db)
    .await
}

/// Accounts in the list that name nobody.
pub async fn unknown_accounts(db: &PgPool, accounts: &[String]) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT a FROM unnest($1::text[]) WITH ORDINALITY AS x(a, n)
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.account = x.a) ORDER BY n",
    )
    .bind(accounts)
    .fetch_all(db)
    .await
}

/// The accounts in a pasted or uploaded list: one per line or separated by commas,
/// semicolons or spaces; in a CSV the first column, a header row (no digit) skipped.
pub fn parse_accounts(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start_matches('\u{feff}');
        let first_col = line.contains(',') && line.split(',').count() > 1 && line.contains('"');
        let parts: Vec<&str> = if first_col {
            vec![line.split(',').next().unwrap_or("")]
        } else {
            line.split([',', ';', ' ', '\t', '，', '；', '、'])
                .collect()
        };
        for p in parts {
            let a = p.trim().trim_matches('"').trim();
            if a.is_empty() || !a.chars().any(|c| c.is_ascii_digit()) {
                continue;
            }
            if !out.iter().any(|x| x == a) {
                out.push(a.to_owned());
            }
        }
    }
    out
}

pub const KINDS: [(&str, &str); 3] = [("student", "学生"), ("teacher", "教师"), ("staff", "职工")];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_read_from_lines_lists_and_csv() {
        assert_eq!(
            parse_accounts("学号\nS2024001\nS2024002, S2024003；T2001\n\nS2024001"),
            ["S2024001", "S2024002", "S2024003", "T2001"]
        );
        assert_eq!(
            parse_accounts("\u{feff}\"账号\",\"姓名\"\n\"S1\",\"张三\"\n\"T2\",\"李四\""),
            ["S1", "T2"]
        );
        assert!(parse_accounts("姓名 张三").is_empty());
    }
}
