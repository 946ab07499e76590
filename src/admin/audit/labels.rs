//! Words for the log's codes: actions, outcomes, detail keys, targets.

use std::collections::HashMap;

/// What an action code means, for the known ones.
pub fn action_label(action: &str) -> Option<&'static str> {
    Some(match action {
        "login" => "登录",
        "logout" => "退出登录",
        "login.throttled" => "登录过于频繁",
        "account.lockout" => "账号锁定",
        "account.unlock" => "解除锁定",
        "account.activate" => "激活账号",
        "account.activation_code" => "签发激活码",
        "admin.create" => "创建管理员",
        "code.sent" => "发送验证码",
        "code.failed" => "验证码错误",
        "email.link_sent" => "发送邮箱验证链接",
        "email.link_used" => "使用邮箱验证链接",
        "password.change" => "修改密码",
        "password.recover" => "找回密码",
        "phone.bind" => "绑定手机",
        "session.end_others" => "下线其他设备",
        "qr.approve" => "扫码登录确认",
        "qr.deny" => "扫码登录拒绝",
        "service.create" => "新建服务",
        "service.update" => "修改服务",
        "service.delete" => "删除服务",
        "service.status" => "服务上线/下线",
        "service.export" => "导出服务包",
        "service.import" => "导入服务包",
        "service.publish" => "发布版本",
        "service.rollback" => "回滚版本",
        "service.draft.save" => "保存设计草稿",
        "service.draft.discard" => "放弃设计草稿",
        "application.submit" => "提交申请",
        "application.resubmit" => "重新提交申请",
        "application.draft" => "保存申请草稿",
        "application.urge" => "催办",
        "application.rate" => "评价",
        "audit.export" => "导出审计日志",
        "outbox.retry" => "重试消息投递",
        "bundle.create" => "新建一事联办",
        "bundle.update" => "修改一事联办",
        "bundle.publish" => "发布一事联办",
        "bundle.unpublish" => "停用一事联办",
        _ => return None,
    })
}

pub fn outcome_label(o: &str) -> &'static str {
    match o {
        "success" => "成功",
        "failure" => "失败",
        "denied" => "拒绝",
        _ => "其他",
    }
}

/// A label for a detail's key, where one helps.
fn detail_label(k: &str) -> Option<&'static str> {
    Some(match k {
        "via" | "method" => "方式",
        "ua" => "浏览器",
        "until" => "至",
        "failures" => "失败次数",
        "from" => "原值",
        "to" => "新值",
        "reason" => "原因",
        "purpose" => "用途",
        "phone" => "手机",
        "email" => "邮箱",
        "step" => "环节",
        "ended" => "结束会话数",
        "channel" => "渠道",
        "count" => "条数",
        "rows" => "行数",
        "filters" => "筛选条件",
        "version" => "版本",
        "code" => "编码",
        "name" => "名称",
        "error" => "原因",
        "last_error" => "上次失败原因",
        "idempotency_key" => "幂等键",
        _ => return None,
    })
}

fn detail_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".into(),
        serde_json::Value::Bool(b) => if *b { "是" } else { "否" }.into(),
        other => other.to_string(),
    }
}

/// Details as (label, value) pairs: known keys labelled, the others by their key.
pub fn details_pairs(d: &serde_json::Value) -> Vec<(String, String)> {
    match d {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                (
                    detail_label(k)
                        .map(str::to_owned)
                        .unwrap_or_else(|| k.clone()),
                    detail_value(v),
                )
            })
            .collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![("内容".into(), other.to_string())],
    }
}

/// The label and link of a target: the application, the person's account in 用户管理,
/// the service's admin page.
pub fn target_view(
    target: &str,
    users: &HashMap<i64, (String, String)>,
    services: &HashMap<i64, String>,
) -> (String, Option<String>) {
    let (kind, id) = match target.split_once(':') {
        Some((k, i)) => (k, i.parse::<i64>().ok()),
        None => return (target.to_owned(), None),
    };
    match (kind, id) {
        ("application", Some(id)) => (format!("申请 #{id}"), Some(format!("/applications/{id}"))),
        ("user", Some(id)) => match users.get(&id) {
            Some((account, name)) => (
                format!("{name}（{account}）"),
                Some(format!(
                    "/admin/users?q={}",
                    crate::web::user::urlencode(account)
                )),
            ),
            None => (target.to_owned(), None),
        },
        ("service", Some(id)) => (
            services
                .get(&id)
                .map(|n| format!("服务：{n}"))
                .unwrap_or_else(|| format!("服务 #{id}")),
            Some(format!("/admin/services/{id}")),
        ),
        _ => (target.to_owned(), None),
    }
}

pub fn actor_label(account: Option<String>, name: Option<String>) -> String {
    match (account, name) {
        (Some(a), Some(n)) => format!("{n}（{a}）"),
        _ => "—".into(),
    }
}
