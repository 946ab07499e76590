//! People written in bulk (管理后台's 批量导入): profiles and role grants keyed by account,
//! 1,000 rows a statement. A person created here has no password: `inactive`, to be
//! activated through 激活账号 like every account without credentials.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::identity::accounts;

/// One checked row of an import file: what the person should look like after it. An
/// empty optional cell (`None`) keeps what is there.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Person {
    /// Row number in the file (the header is row 1).
    pub row: u32,
    pub account: String,
    pub name: String,
    pub user_type: String,
    pub department_id: i64,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The ID number's keyed hash (hex) and masked form; never the number.
    pub id_hash: Option<String>,
    pub id_masked: Option<String>,
    /// The number sealed (`idcard::seal`, hex), for forms to fill in.
    #[serde(default)]
    pub id_sealed: Option<String>,
    /// (role id, department scope) to grant; grants held already are kept, none revoked.
    pub roles: Vec<(i64, Option<i64>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    New,
    Changed,
    Unchanged,
    /// Valid on its own but not against the people already there.
    Refused(String),
}

#[derive(sqlx::FromRow)]
struct Existing {
    id: i64,
    account: String,
    name: String,
    user_type: String,
    department_id: Option<i64>,
    phone: Option<String>,
    email: Option<String>,
    id_card_hash: Option<Vec<u8>>,
}

fn id_bytes(p: &Person) -> Option<Vec<u8>> {
    p.id_hash.as_deref().and_then(|h| hex::decode(h).ok())
}

/// What writing `people` would do, against the database as `conn` sees it (in the job,
/// inside the batch's transaction with the rows locked). Four queries per call.
pub async fn judge(
    conn: &mut PgConnection,
    people: &[Person],
    lock: bool,
) -> sqlx::Result<Vec<Verdict>> {
    let accounts: Vec<&str> = people.iter().map(|p| p.account.as_str()).collect();
    let sql = if lock {
        "SELECT id, account, name, user_type, department_id, phone, email, id_card_hash
         FROM users WHERE account = ANY($1) FOR UPDATE"
    } else {
        "SELECT id, account, name, user_type, department_id, phone, email, id_card_hash
         FROM users WHERE account = ANY($1)"
    };
    let existing: Vec<Existing> = sqlx::query_as(sql)
        .bind(&accounts)
        .fetch_all(&mut *conn)
        .await?;
    let existing: HashMap<&str, &Existing> =
        existing.iter().map(|e| (e.account.as_str(), e)).collect();

    // Phones and ID numbers are unique: who holds the ones in the file.
    let phones: Vec<&str> = people.iter().filter_map(|p| p.phone.as_deref()).collect();
    let phone_owner: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
        // A join, not `= ANY`: scanning 50,000 people against
        // 1,000 numbers each was the slow part of a large import.
        "SELECT u.phone, u.account FROM UNNEST($1::text[]) AS v(phone)
         JOIN users u ON u.phone = v.phone AND u.phone IS NOT NULL",
    )
    .bind(&phones)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let ids: Vec<Vec<u8>> = people.iter().filter_map(id_bytes).collect();
    let id_owner: HashMap<Vec<u8>, String> = sqlx::query_as::<_, (Vec<u8>, String)>(
        "SELECT u.id_card_hash, u.account FROM UNNEST($1::bytea[]) AS v(h)
         JOIN users u ON u.id_card_hash = v.h AND u.id_card_hash IS NOT NULL",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let user_ids: Vec<i64> = existing.values().map(|e| e.id).collect();
    let held: HashSet<(i64, i64, i64)> = sqlx::query_as::<_, (i64, i64, i64)>(
        "SELECT user_id, role_id, COALESCE(department_id, 0) FROM user_roles WHERE user_id = ANY($1)",
    )
    .bind(&user_ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();

    // A phone held by someone else is free only when its holder is in this batch, is
    // not refused, and moves to another phone (a swap within one file). Refusing a row
    // keeps its holder's phone, which may refuse another row: repeat until nothing moves.
    let in_batch: HashMap<&str, usize> = people
        .iter()
        .enumerate()
        .map(|(i, p)| (p.account.as_str(), i))
        .collect();
    let mut refused: Vec<Option<String>> = people
        .iter()
        .map(|p| {
            let h = id_bytes(p)?;
            let owner = id_owner.get(&h)?;
            (owner != &p.account).then(|| format!("证件号已被账号 {owner} 使用"))
        })
        .collect();
    loop {
        let mut moved = false;
        for (i, p) in people.iter().enumerate() {
            if refused[i].is_some() {
                continue;
            }
            let Some(phone) = &p.phone else { continue };
            let Some(owner) = phone_owner.get(phone) else {
                continue;
            };
            if owner == &p.account {
                continue;
            }
            let leaves = in_batch.get(owner.as_str()).is_some_and(|&j| {
                refused[j].is_none() && people[j].phone.as_ref().is_some_and(|x| x != phone)
            });
            if !leaves {
                refused[i] = Some(format!("手机号已被账号 {owner} 使用"));
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }

    Ok(people
        .iter()
        .zip(refused)
        .map(|(p, refused)| {
            if let Some(r) = refused {
                return Verdict::Refused(r);
            }
            let hash = id_bytes(p);
            let Some(e) = existing.get(p.account.as_str()) else {
                return Verdict::New;
            };
            let same = e.name == p.name
                && e.user_type == p.user_type
                && e.department_id == Some(p.department_id)
                && p.phone.as_ref().is_none_or(|x| e.phone.as_ref() == Some(x))
                && p.email.as_ref().is_none_or(|x| e.email.as_ref() == Some(x))
                && hash
                    .as_ref()
                    .is_none_or(|x| e.id_card_hash.as_ref() == Some(x))
                && p.roles
                    .iter()
                    .all(|(r, d)| held.contains(&(e.id, *r, d.unwrap_or(0))));
            if same {
                Verdict::Unchanged
            } else {
                Verdict::Changed
            }
        })
        .collect())
}

/// Writes the new and changed people of one batch (verdicts from `judge` in the same
/// transaction): one INSERT, one UPDATE and one INSERT of grants. Returns the accounts
/// created.
pub async fn write(
    conn: &mut PgConnection,
    people: &[Person],
    verdicts: &[Verdict],
) -> sqlx::Result<Vec<String>> {
    let pick = |want: &Verdict| -> Vec<&Person> {
        people
            .iter()
            .zip(verdicts)
            .filter(|(_, v)| *v == want)
            .map(|(p, _)| p)
            .collect()
    };
    let new = pick(&Verdict::New);
    let changed = pick(&Verdict::Changed);
    let cols = |ps: &[&Person]| {
        (
            ps.iter().map(|p| p.account.clone()).collect::<Vec<_>>(),
            ps.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
            ps.iter().map(|p| p.user_type.clone()).collect::<Vec<_>>(),
            ps.iter().map(|p| p.department_id).collect::<Vec<_>>(),
            ps.iter().map(|p| p.email.clone()).collect::<Vec<_>>(),
        )
    };
    // Profiles here; status, phone and ID number are identity's (`write_imported`).
    let mut created = Vec::new();
    if !changed.is_empty() {
        let (a, n, t, d, em) = cols(&changed);
        sqlx::query(
            "UPDATE users u SET name = v.n, user_type = v.t, department_id = v.d,
                    email = COALESCE(v.em, u.email), updated_at = now()
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[])
                  AS v(a, n, t, d, em)
             WHERE u.account = v.a",
        )
        .bind(a)
        .bind(n)
        .bind(t)
        .bind(d)
        .bind(em)
        .execute(&mut *conn)
        .await?;
    }
    if !new.is_empty() {
        let (a, n, t, d, em) = cols(&new);
        created = sqlx::query_scalar(
            "INSERT INTO users (account, name, user_type, department_id, email)
             SELECT a, n, t, d, em
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[])
                  AS v(a, n, t, d, em)
             ON CONFLICT (account) DO NOTHING RETURNING account",
        )
        .bind(a)
        .bind(n)
        .bind(t)
        .bind(d)
        .bind(em)
        .fetch_all(&mut *conn)
        .await?;
    }
    let credentials: Vec<accounts::Imported> = new
        .iter()
        .chain(&changed)
        .map(|p| accounts::Imported {
            account: &p.account,
            phone: p.phone.as_deref(),
            id_card_hash: id_bytes(p),
            id_card_masked: p.id_masked.as_deref(),
            id_card_sealed: p.id_sealed.as_deref().and_then(|h| hex::decode(h).ok()),
        })
        .collect();
    accounts::write_imported(conn, &credentials, &created).await?;
    let (mut ga, mut gr, mut gd) = (Vec::new(), Vec::new(), Vec::new());
    for p in new.iter().chain(&changed) {
        for (r, d) in &p.roles {
            ga.push(p.account.clone());
            gr.push(*r);
            gd.push(*d);
        }
    }
    if !ga.is_empty() {
        sqlx::query(
            "INSERT INTO user_roles (user_id, role_id, department_id)
             SELECT u.id, v.r, v.d FROM UNNEST($1::text[], $2::int8[], $3::int8[]) AS v(a, r, d)
             JOIN users u ON u.account = v.a
             ON CONFLICT DO NOTHING",
        )
        .bind(ga)
        .bind(gr)
        .bind(gd)
        .execute(&mut *conn)
        .await?;
    }
    Ok(created)
}

/// Department ids by code and by name, and role ids by code and by name, for reading
/// a file's 部门 and 角色 columns.
pub async fn lookups(
    db: &sqlx::PgPool,
) -> sqlx::Result<(HashMap<String, i64>, HashMap<String, i64>)> {
    let mut depts = HashMap::new();
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, code, name FROM departments ORDER BY id DESC")
            .fetch_all(db)
            .await?;
    for (id, code, name) in rows {
        depts.insert(name, id);
        depts.insert(code, id);
    }
    let mut roles = HashMap::new();
    let rows: Vec<(i64, String, String)> = sqlx::query_as("SELECT id, code, name FROM roles")
        .fetch_all(db)
        .await?;
    for (id, code, name) in rows {
        roles.insert(name, id);
        roles.insert(code, id);
    }
    Ok((depts, roles))
}
