//! Generated services for benchmarks: realistic names, departments and audiences.

use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use sqlx::PgPool;

use super::store::{NewService, insert_service};

const SUBJECTS: &[&str] = &[
    "学生",
    "教职工",
    "研究生",
    "本科生",
    "校友",
    "实验室",
    "图书馆",
    "财务",
    "科研",
    "后勤",
    "宿舍",
    "网络",
    "档案",
    "学籍",
    "成绩",
    "奖学金",
    "会议室",
    "出差",
    "车辆",
    "访客",
    "公章",
    "在读",
    "设备",
    "资产",
    "合同",
    "项目",
    "论文",
    "课程",
    "考试",
    "招生",
    "体检",
    "党员",
    "工会",
    "社团",
    "场馆",
];
const ACTIONS: &[&str] = &[
    "请假", "报销", "申请", "预约", "借用", "登记", "变更", "审批", "备案", "补办", "查询", "注销",
    "转接", "维修", "开具", "证明", "核销", "续借", "认定", "评审",
];
const SUFFIXES: &[&str] = &["", "", "表", "单", "服务", "流程", "（试行）", "管理"];
const AUDIENCES: &[&str] = &["student", "staff", "alumni", "visitor"];

/// Insert `n` published services with codes `G1`…`Gn` (skipping codes that exist).
pub async fn generate_services(db: &PgPool, n: usize, seed: u64) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let depts: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM departments WHERE parent_id IS NOT NULL")
            .fetch_all(db)
            .await?;
    let cats: Vec<i64> = sqlx::query_scalar("SELECT id FROM service_categories")
        .fetch_all(db)
        .await?;
    anyhow::ensure!(
        !depts.is_empty() && !cats.is_empty(),
        "seed departments and categories first"
    );
    let mut tx = db.begin().await?;
    let now = chrono::Utc::now();
    for i in 1..=n {
        let subject = SUBJECTS.choose(&mut rng).copied().unwrap_or("学生");
        let action = ACTIONS.choose(&mut rng).copied().unwrap_or("申请");
        let suffix = SUFFIXES.choose(&mut rng).copied().unwrap_or("");
        let mut audiences: Vec<String> = AUDIENCES
            .iter()
            .filter(|_| rng.gen_bool(0.4))
            .map(|a| (*a).to_owned())
            .collect();
        if audiences.is_empty() {
            audiences.push("staff".into());
        }
        let s = NewService {
            code: format!("G{i}"),
            name: format!("{subject}{action}{suffix}"),
            department_id: *depts.choose(&mut rng).unwrap_or(&depts[0]),
            category_id: *cats.choose(&mut rng).unwrap_or(&cats[0]),
            audiences,
            tags: vec![
                (*SUBJECTS.choose(&mut rng).unwrap_or(&"学生")).to_owned(),
                (*ACTIONS.choose(&mut rng).unwrap_or(&"申请")).to_owned(),
            ],
            summary: format!("为{subject}提供{action}的一站式在线办理，进度可查，结果通知。"),
            process: "1. 在线填写并提交\n2. 部门审核\n3. 办结通知".into(),
            time_limit: format!("{} 个工作日", rng.gen_range(1..10)),
            kind: ["online", "external", "guide"][rng.gen_range(0..3)].into(),
            external_url: Some("https://sys.demo.edu.cn/".into()),
            status: "published".into(),
            recommend_order: rng.gen_range(0..100),
            ..Default::default()
        };
        insert_service(&mut tx, &s, now).await?;
    }
    tx.commit().await?;
    sqlx::query("ANALYZE services").execute(db).await?;
    Ok(())
}
