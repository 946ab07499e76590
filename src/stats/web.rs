//! The pages of 效能数据分享: `/center/stats` (my figures and the public tables),
//! `/stats/services/{id}` and `/stats/departments/{id}` (for the people who run them).

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{
    Period, PeriodErrors, PeriodQuery, duration, figures,
    figures::Scope,
    percent,
    view::{self, Grid, Kind, Val},
};
use crate::{
    error::{AppError, AppResult},
    web::{
        AppState,
        export::{Format, download},
        page::Page,
        user::CurrentUser,
    },
};

/// The period form as shown again, with its messages.
pub struct PeriodForm {
    pub kind: &'static str,
    pub from: String,
    pub to: String,
    pub errors: PeriodErrors,
    pub label: String,
    pub range: String,
    /// The query string of this period, for links (exports).
    pub query: String,
}

fn period_form(q: &PeriodQuery, p: &Period, errors: PeriodErrors) -> PeriodForm {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    ser.append_pair("period", p.kind);
    if p.kind == "custom" {
        ser.append_pair("from", &p.from.to_string());
        ser.append_pair("to", &p.to.to_string());
    }
    let typed = |v: &Option<String>| v.clone().unwrap_or_default();
    PeriodForm {
        // What was asked stays chosen, also when it fell back to this month.
        kind: match q.period.as_deref() {
            Some("week") => "week",
            Some("term") => "term",
            Some("custom") => "custom",
            _ => "month",
        },
        from: typed(&q.from),
        to: typed(&q.to),
        errors,
        label: p.label.clone(),
        range: format!("{} 至 {}", p.from, p.to),
        query: ser.finish(),
    }
}

pub struct Card {
    pub label: &'static str,
    pub value: String,
    pub note: String,
}

fn card(label: &'static str, value: impl ToString, note: impl ToString) -> Card {
    Card {
        label,
        value: value.to_string(),
        note: note.to_string(),
    }
}

/// A chart and the table of its numbers beneath.
pub struct Figure {
    pub svg: String,
    pub grid: Grid,
}

fn freshness(state: &AppState, at: Option<DateTime<Utc>>, rebuilding: bool) -> String {
    let tz = state.settings.time_zone;
    let at = at
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "尚未计算".into());
    if rebuilding {
        format!("数据更新于 {at}，正在按校历重新计算，部分数字可能暂未更新")
    } else {
        format!("数据更新于 {at}")
    }
}

/// The grid named by `table` as a download, when `export` asks for one.
fn exported(q: &PeriodQuery, grids: &[&Grid], stem: &str) -> Option<AppResult<Response>> {
    let format = q.export.as_deref()?;
    let Some(format) = Format::parse(format) else {
        return Some(Err(AppError::BadRequest("导出格式只能是 csv 或 xlsx。")));
    };
    let key = q.table.as_deref().unwrap_or_default();
    Some(match grids.iter().find(|g| g.key == key) {
        Some(g) => download(&g.table(), format, &format!("{stem}-{key}")),
        None => Err(AppError::NotFound),
    })
}

/// Who may open the detailed pages: `None` = every service / department.
pub struct Reach {
    pub services: Option<Vec<i64>>,
    pub departments: Option<Vec<i64>>,
}

impl Reach {
    pub async fn of(db: &PgPool, user: &CurrentUser) -> sqlx::Result<Reach> {
        let global: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                            WHERE ur.user_id = $1 AND r.code = 'service_admin'
                              AND ur.department_id IS NULL)",
        )
        .bind(user.id)
        .fetch_one(db)
        .await?;
        if user.is_admin || global {
            return Ok(Reach {
                services: None,
                departments: None,
            });
        }
        // 部门负责人 and 服务管理员 of a department: everything below it.
        let departments: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT sub FROM user_roles ur JOIN roles r ON r.id = ur.role_id,
                    dept_subtree(ur.department_id) sub
             WHERE ur.user_id = $1 AND r.code IN ('dept_head', 'service_admin')
               AND ur.department_id IS NOT NULL",
        )
        .bind(user.id)
        .fetch_all(db)
        .await?;
        let services: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM services WHERE department_id = ANY($1)
             UNION SELECT service_id FROM service_admins WHERE user_id = $2",
        )
        .bind(&departments)
        .bind(user.id)
        .fetch_all(db)
        .await?;
        Ok(Reach {
            services: Some(services),
            departments: Some(departments),
        })
    }

    fn service(&self, id: i64) -> bool {
        self.services.as_ref().is_none_or(|s| s.contains(&id))
    }

    fn department(&self, id: i64) -> bool {
        self.departments.as_ref().is_none_or(|d| d.contains(&id))
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "stats/center.html")]
pub struct CenterPage {
    pub page: Page,
    pub tabs: Vec<crate::center::lists::Tab>,
    pub form: PeriodForm,
    pub fresh: String,
    pub quick_secs: i64,
    /// My figures, when I decided anything in the period or have tasks open.
    pub mine: Vec<Card>,
    pub compared: Grid,
    pub my_spread: Option<Figure>,
    pub departments: Grid,
    pub services: Grid,
    /// Departments whose page I may open (id, name), for a shortcut list.
    pub my_departments: Vec<(i64, String)>,
}

pub(super) async fn center(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Query(q): Query<PeriodQuery>,
) -> AppResult<Response> {
    let cal = state.calendar.get().await;
    let (p, errors) = q.period(state.today(), &cal);
    let (lo, hi) = p.bounds(&cal);
    let db = &state.db;
    let quick = state.settings.quick_approval_secs;
    let now = state.now();

    let (at, rebuilding, version) = figures::freshness(db).await?;
    let me = Scope::Person(user.id);
    // My own figures, kept like the others: a reload, or going back to a period, is free.
    let key = format!("stats:mine:{}:{lo}:{hi}", user.id);
    let my = state
        .memo
        .get_or_try(key, version, || async {
            let t = figures::tasks(db, me, lo, hi, quick).await?;
            let open = figures::open_now(db, me, now).await?;
            let rating = if t.decided > 0 || open.0 > 0 {
                figures::ratings_of(db, user.id, lo, hi).await?
            } else {
                (None, 0)
            };
            Ok::<_, sqlx::Error>((t, open, rating))
        })
        .await?;
    let (t, (open, overdue_now), (rating, rated)) = (my.0.clone(), my.1, my.2);
    let mut mine = vec![];
    let mut my_spread = None;
    let mut compared = Grid::new(
        "compared",
        "与同环节相比",
        vec![
            ("服务", Kind::Text),
            ("环节", Kind::Text),
            ("我办理", Kind::Count),
            ("我的用时中位数", Kind::Secs),
            ("该环节办理", Kind::Count),
            ("该环节用时中位数", Kind::Secs),
            ("对比", Kind::Text),
        ],
    );
    if t.decided > 0 || open > 0 {
        mine = vec![
            card(
                "办理",
                format!("{} 件", t.decided),
                format!("通过 {} 件", t.approvals),
            ),
            card(
                "用时中位数",
                duration(t.median),
                format!("P90 {}", duration(t.p90)),
            ),
            card("超时办理", format!("{} 件", t.overdue), "超过环节办理时限"),
            card(
                "退回率",
                percent(t.returns, t.decided),
                format!("退回 {} 件", t.returns),
            ),
            card("收到催办", format!("{} 次", t.urges), ""),
            card(
                "秒批",
                format!("{} 件", t.quick),
                format!("占可统计通过的 {}", percent(t.quick, t.quick_known)),
            ),
            card(
                "评价",
                rating
                    .map(|r| format!("{r:.1} 分"))
                    .unwrap_or_else(|| "—".into()),
                format!("{rated} 条评价"),
            ),
            card(
                "当前待办",
                format!("{open} 件"),
                format!("其中已超时 {overdue_now} 件"),
            ),
        ];
        let key = format!("stats:compared:{}:{lo}:{hi}", user.id);
        let rows = state
            .memo
            .get_or_try(key, version, || figures::compared(db, user.id, lo, hi))
            .await?;
        for c in rows.iter().cloned() {
            let verdict = match (c.my_median, c.all_median) {
                (Some(m), Some(a)) if a > 0.0 && m < a * 0.9 => {
                    format!("快 {:.0}%", (1.0 - m / a) * 100.0)
                }
                (Some(m), Some(a)) if a > 0.0 && m > a * 1.1 => {
                    format!("慢 {:.0}%", (m / a - 1.0) * 100.0)
                }
                (Some(_), Some(_)) => "持平".into(),
                _ => "—".into(),
            };
            compared.push(
                None,
                vec![
                    Val::Text(c.service),
                    Val::Text(c.node_name),
                    Val::Int(c.mine),
                    Val::Secs(c.my_median),
                    Val::Int(c.all),
                    Val::Secs(c.all_median),
                    Val::Text(verdict),
                ],
            );
        }
        let (grid, svg) = view::spread(&t, "my-spread", "我的办理用时分布");
        my_spread = Some(Figure { svg, grid });
    }

    let reach = Reach::of(db, &user).await?;
    let mut departments = view::group_grid("departments", "各部门效能", "部门", false);
    // The school-wide tables are the same for everyone: computed once per version.
    let by_department = state
        .memo
        .get_or_try(format!("stats:departments:{lo}:{hi}"), version, || {
            figures::groups(db, true, None, lo, hi, now)
        })
        .await?;
    for r in by_department.iter() {
        let link = reach
            .department(r.id)
            .then(|| format!("/stats/departments/{}?{}", r.id, period_query(&p)));
        departments.push(link, view::group_row(r, false));
    }
    let mut services = view::group_grid("services", "各服务效能", "服务", true);
    let by_service = state
        .memo
        .get_or_try(format!("stats:services:{lo}:{hi}"), version, || {
            figures::groups(db, false, None, lo, hi, now)
        })
        .await?;
    for r in by_service.iter() {
        let link = reach
            .service(r.id)
            .then(|| format!("/stats/services/{}?{}", r.id, period_query(&p)));
        services.push(link, view::group_row(r, true));
    }
    let mut grids = vec![&compared, &departments, &services];
    if let Some(f) = &my_spread {
        grids.push(&f.grid);
    }
    if let Some(r) = exported(&q, &grids, "efficiency") {
        return r;
    }
    let my_departments = match &reach.departments {
        Some(ids) if !ids.is_empty() => top_departments(db, ids).await?,
        _ => vec![],
    };
    Ok(CenterPage {
        tabs: crate::center::lists::tabs_at(&state, &user, "/center/stats").await?,
        page,
        form: period_form(&q, &p, errors),
        fresh: freshness(&state, at, rebuilding),
        quick_secs: quick,
        mine,
        compared,
        my_spread,
        departments,
        services,
        my_departments,
    }
    .into_response())
}

fn period_query(p: &Period) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    ser.append_pair("period", p.kind);
    if p.kind == "custom" {
        ser.append_pair("from", &p.from.to_string());
        ser.append_pair("to", &p.to.to_string());
    }
    ser.finish()
}

/// Of the departments `ids`, those whose parent is not among them (the roots of a reach).
async fn top_departments(db: &PgPool, ids: &[i64]) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "SELECT id, name FROM departments
         WHERE id = ANY($1) AND (parent_id IS NULL OR NOT parent_id = ANY($1))
         ORDER BY name",
    )
    .bind(ids)
    .fetch_all(db)
    .await
}

#[derive(Template, WebTemplate)]
#[template(path = "stats/detail.html")]
pub struct DetailPage {
    pub page: Page,
    pub heading: String,
    pub subheading: String,
    /// The page's own path, for the period form and exports.
    pub path: String,
    pub form: PeriodForm,
    pub fresh: String,
    pub cards: Vec<Card>,
    pub weeks: Figure,
    pub nodes_svg: String,
    pub nodes: Grid,
    pub spread: Figure,
    pub services: Option<Grid>,
}

pub(super) async fn service(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Path(id): Path<i64>,
    Query(q): Query<PeriodQuery>,
) -> AppResult<Response> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT s.name, d.name FROM services s JOIN departments d ON d.id = s.department_id
         WHERE s.id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    let Some((name, dept)) = row else {
        return Err(AppError::NotFound);
    };
    // Someone else's figures are as absent as an unknown id.
    if !Reach::of(&state.db, &user).await?.service(id) {
        return Err(AppError::NotFound);
    }
    detail(
        &state,
        page,
        &q,
        format!("{name} · 效能数据"),
        format!("服务部门：{dept}"),
        format!("/stats/services/{id}"),
        &[id],
        false,
    )
    .await
}

pub(super) async fn department(
    State(state): State<AppState>,
    user: CurrentUser,
    page: Page,
    Path(id): Path<i64>,
    Query(q): Query<PeriodQuery>,
) -> AppResult<Response> {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM departments WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db)
        .await?;
    let Some(name) = name else {
        return Err(AppError::NotFound);
    };
    if !Reach::of(&state.db, &user).await?.department(id) {
        return Err(AppError::NotFound);
    }
    let services: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM services WHERE department_id IN (SELECT dept_subtree($1))",
    )
    .bind(id)
    .fetch_all(&state.db)
    .await?;
    detail(
        &state,
        page,
        &q,
        format!("{name} · 效能数据"),
        format!("含下属部门的 {} 项服务", services.len()),
        format!("/stats/departments/{id}"),
        &services,
        true,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
/// What a service's or a department's page shows, computed once per read-model version.
struct DetailFigures {
    a: figures::Apps,
    t: figures::Tasks,
    overdue_now: i64,
    node_rows: Vec<figures::NodeRow>,
    counts: Vec<(chrono::NaiveDate, i64)>,
    groups: Vec<figures::GroupRow>,
}

#[allow(clippy::too_many_arguments)]
async fn detail(
    state: &AppState,
    page: Page,
    q: &PeriodQuery,
    heading: String,
    subheading: String,
    path: String,
    services: &[i64],
    many: bool,
) -> AppResult<Response> {
    let cal = state.calendar.get().await;
    let (p, errors) = q.period(state.today(), &cal);
    let (lo, hi) = p.bounds(&cal);
    let db = &state.db;
    let quick = state.settings.quick_approval_secs;
    let now = state.now();
    let (at, rebuilding, version) = figures::freshness(db).await?;
    let key = format!("stats:{path}:{lo}:{hi}");
    let tz = state.settings.time_zone;
    let f = state
        .memo
        .get_or_try(key, version, || async {
            let scope = Scope::Services(services);
            Ok::<_, sqlx::Error>(DetailFigures {
                a: figures::apps(db, services, lo, hi).await?,
                t: figures::tasks(db, scope, lo, hi, quick).await?,
                overdue_now: figures::open_now(db, scope, now).await?.1,
                node_rows: figures::nodes(db, services, lo, hi, quick).await?,
                counts: figures::weekly_finished(db, services, lo, hi, tz).await?,
                groups: if many {
                    figures::groups(db, false, Some(services), lo, hi, now).await?
                } else {
                    vec![]
                },
            })
        })
        .await?;
    let (a, t, overdue_now, node_rows) = (&f.a, &f.t, f.overdue_now, &f.node_rows);
    let slowest = node_rows.first().filter(|n| n.median.is_some());
    let cards = vec![
        card("发起", format!("{} 件", a.started), ""),
        card("办结", format!("{} 件", a.finished), ""),
        card(
            "退回",
            format!("{} 件", t.returned_apps),
            format!("共退回 {} 次", t.returns),
        ),
        card(
            "中止",
            format!("{} 件", a.stopped),
            format!("撤回 {} 件", a.withdrawn),
        ),
        card(
            "办结用时中位数",
            duration(a.median),
            format!("P90 {}", duration(a.p90)),
        ),
        card(
            "最慢环节",
            slowest
                .map(|n| n.node_name.clone())
                .unwrap_or_else(|| "—".into()),
            slowest
                .map(|n| format!("中位 {}", duration(n.median)))
                .unwrap_or_default(),
        ),
        card("当前超时待办", format!("{overdue_now} 件"), ""),
        card(
            "评价",
            a.rating
                .map(|r| format!("{r:.1} 分"))
                .unwrap_or_else(|| "—".into()),
            format!("{} 条评价", a.rated),
        ),
        card(
            "秒批",
            format!("{} 件", t.quick),
            format!(
                "打开后 {quick} 秒内通过，占 {}",
                percent(t.quick, t.quick_known)
            ),
        ),
    ];
    let (wg, wsvg) = view::weeks(&p.mondays(), &f.counts);
    let nodes_svg = view::node_chart(node_rows, many);
    let nodes = view::nodes_grid(node_rows, many, quick);
    let (sg, ssvg) = view::spread(t, "spread", "办理用时分布");
    let per_service = if many {
        let mut g = view::group_grid("services", "各服务效能", "服务", false);
        for r in &f.groups {
            let link = format!("/stats/services/{}?{}", r.id, period_query(&p));
            g.push(Some(link), view::group_row(r, false));
        }
        Some(g)
    } else {
        None
    };
    let mut grids = vec![&wg, &nodes, &sg];
    if let Some(g) = &per_service {
        grids.push(g);
    }
    let stem = path.trim_start_matches('/').replace('/', "-");
    if let Some(r) = exported(q, &grids, &stem) {
        return r;
    }
    Ok(DetailPage {
        page,
        heading,
        subheading,
        path,
        form: period_form(q, &p, errors),
        fresh: freshness(state, at, rebuilding),
        cards,
        weeks: Figure {
            svg: wsvg,
            grid: wg,
        },
        nodes_svg,
        nodes,
        spread: Figure {
            svg: ssvg,
            grid: sg,
        },
        services: per_service,
    }
    .into_response())
}
