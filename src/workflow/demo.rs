//! Forms and workflows of the demo services (the manuals' own flows).

use serde_json::{Value, json};

/// (service code, form schema, workflow definition, start roles override)
pub fn flows() -> Vec<(&'static str, Value, Value, Option<Vec<&'static str>>)> {
    vec![
        ("GZZB", weekly_report_form(), weekly_report_flow(), None),
        ("CGCJ", travel_form(), travel_flow(), None),
        (
            "RXSX",
            onboarding_form(),
            onboarding_flow(),
            Some(vec!["hr_officer"]),
        ),
        ("GZSY", seal_form(), seal_flow(), None),
        ("XSQJ", leave_form(), leave_flow(), None),
    ]
}

fn weekly_report_form() -> Value {
    json!({"fields": [
        {"key": "name", "type": "text", "label": "姓名", "autofill": "name", "locked": true},
        {"key": "dept", "type": "text", "label": "部门", "autofill": "department", "locked": true},
        {"key": "week", "type": "date_range", "label": "周报周期", "required": true},
        {"key": "done", "type": "textarea", "label": "本周完成工作", "required": true, "max_len": 500, "help": "字数控制在500字以内"},
        {"key": "plan", "type": "textarea", "label": "下周工作计划", "required": true, "max_len": 500},
        {"key": "issues", "type": "textarea", "label": "需要协调的问题", "max_len": 300}
    ]})
}

fn weekly_report_flow() -> Value {
    json!({"nodes": [
        {"id": "start", "type": "start", "name": "提交周报", "next": "head"},
        {"id": "head", "type": "approval", "name": "部门负责人审阅", "approvers": {"kind": "dept_head"},
         "fallback": {"kind": "service_admins"}, "time_limit_hours": 72, "next": "end"},
        {"id": "end", "type": "end", "name": "办结"}
    ]})
}

fn travel_form() -> Value {
    json!({"fields": [
        {"key": "name", "type": "text", "label": "姓名", "autofill": "name", "locked": true},
        {"key": "gender", "type": "text", "label": "性别", "autofill": "gender", "locked": true},
        {"key": "ethnicity", "type": "text", "label": "民族", "required": true, "max_len": 20},
        {"key": "birth_date", "type": "date", "label": "出生日期", "required": true},
        {"key": "birth_place", "type": "text", "label": "出生地", "required": true, "max_len": 50},
        {"key": "id_card", "type": "id_card", "label": "身份证号", "required": true},
        {"key": "title", "type": "text", "label": "职称职务", "autofill": "title"},
        {"key": "phone", "type": "phone", "label": "手机号", "autofill": "phone", "required": true},
        {"key": "email", "type": "email", "label": "电子邮箱", "autofill": "email", "required": true},
        {"key": "passport", "type": "select", "label": "出国(境)所持证件类型", "required": true,
         "options": ["因公护照", "因私护照", "港澳通行证", "台湾通行证"]},
        {"key": "profile", "type": "textarea", "label": "来源单位(个人)简介", "required": true, "max_len": 150, "help": "字数控制在150字以内"},
        {"key": "task", "type": "textarea", "label": "出国(境)任务", "required": true, "max_len": 50, "help": "字数控制在50字以内"},
        {"key": "funding", "type": "textarea", "label": "出国(境)费用来源", "required": true, "max_len": 50, "help": "字数控制在50字以内"},
        {"key": "itinerary", "type": "table", "label": "出访行程", "required": true, "columns": [
            {"key": "date", "type": "date", "label": "日期", "required": true},
            {"key": "country", "type": "text", "label": "国家/地区", "required": true},
            {"key": "city", "type": "text", "label": "城市"},
            {"key": "purpose", "type": "text", "label": "事项"}
        ]},
        {"key": "days", "type": "number", "label": "在外天数", "required": true, "min": 1, "max": 365},
        {"key": "cost", "type": "money", "label": "预计费用（元）", "required": true, "min": 0},
        {"key": "files", "type": "attachments", "label": "邀请函等附件"}
    ]})
}

fn travel_flow() -> Value {
    json!({"nodes": [
        {"id": "start", "type": "start", "name": "申请人提交", "next": "head"},
        {"id": "head", "type": "approval", "name": "部门负责人审批", "approvers": {"kind": "dept_head"},
         "fallback": {"kind": "service_admins"}, "time_limit_hours": 48, "next": "intl"},
        {"id": "intl", "type": "approval", "name": "国际交流处审核", "approvers": {"kind": "role", "role": "intl_officer"},
         "comment_required": true, "time_limit_hours": 48, "next": "cc_hr"},
        {"id": "cc_hr", "type": "cc", "name": "抄送人事处", "approvers": {"kind": "role", "role": "hr_officer"}, "next": "check"},
        {"id": "check", "type": "condition", "name": "是否需校领导审批", "branches": [
            {"name": "超过30天或费用超过5万元", "when": {"op": "any", "of": [
                {"op": "gt", "field": "days", "value": 30},
                {"op": "gt", "field": "cost", "value": 50000}
            ]}, "next": "leader"}
        ], "default": "end"},
        {"id": "leader", "type": "approval", "name": "校领导审批", "approvers": {"kind": "role", "role": "school_leader"},
         "comment_required": true, "next": "end"},
        {"id": "end", "type": "end", "name": "办结"}
    ]})
}

fn onboarding_form() -> Value {
    let section = |key: &str, label: &str, note: &str, note_label: &str| {
        vec![
            json!({"key": key, "type": "section", "label": label}),
            json!({"key": note, "type": "textarea", "label": note_label, "required": true, "max_len": 200}),
        ]
    };
    let mut fields = vec![
        json!({"key": "ref_no", "type": "text", "label": "人调字号", "required": true, "max_len": 30}),
        json!({"key": "person", "type": "text", "label": "姓名", "required": true, "max_len": 30}),
        json!({"key": "post", "type": "select", "label": "岗位类别", "required": true, "options": ["专任教师", "管理", "教辅", "工勤"]}),
        json!({"key": "reason", "type": "text", "label": "入校原因", "required": true, "max_len": 100}),
        json!({"key": "previous", "type": "text", "label": "原工作单位", "max_len": 100}),
    ];
    fields.extend(section(
        "sec_org",
        "组织处",
        "org_note",
        "机构编制管理科意见",
    ));
    fields.extend(section("sec_fin", "财务处", "fin_note", "工资关系办理情况"));
    fields.extend(section(
        "sec_union",
        "工会",
        "union_note",
        "会员关系办理情况",
    ));
    fields.extend(section(
        "sec_sec",
        "保卫处",
        "sec_note",
        "户籍及门禁办理情况",
    ));
    fields.extend(section("sec_med", "医政处", "med_note", "医疗关系办理情况"));
    fields.push(json!({"key": "sec_nic", "type": "section", "label": "OA账号申请 / 一卡通"}));
    fields.push(json!({"key": "oa_account", "type": "text", "label": "OA账号", "required": true, "max_len": 30}));
    fields.push(json!({"key": "card_no", "type": "text", "label": "一卡通卡号", "required": true, "max_len": 30}));
    json!({ "fields": fields })
}

fn onboarding_flow() -> Value {
    let branch = |id: &str, name: &str, role: &str, section: &str| {
        json!({"id": id, "type": "approval", "name": name, "approvers": {"kind": "role", "role": role},
               "fields": { section: "editable" }, "time_limit_hours": 72, "next": "join"})
    };
    json!({
        "applicant_fields": {"sec_org": "hidden", "sec_fin": "hidden", "sec_union": "hidden",
                             "sec_sec": "hidden", "sec_med": "hidden", "sec_nic": "hidden"},
        "nodes": [
            {"id": "start", "type": "start", "name": "人事处发起", "next": "split"},
            {"id": "split", "type": "parallel", "name": "各部门会签", "branches": ["org", "fin", "union", "sec", "med", "nic"]},
            branch("org", "组织处", "org_officer", "sec_org"),
            branch("fin", "财务处", "finance_officer", "sec_fin"),
            branch("union", "工会", "union_officer", "sec_union"),
            branch("sec", "保卫处", "security_officer", "sec_sec"),
            branch("med", "医政处", "medical_officer", "sec_med"),
            branch("nic", "网络信息中心", "nic_officer", "sec_nic"),
            {"id": "join", "type": "join", "name": "汇总", "next": "end"},
            {"id": "end", "type": "end", "name": "办结"}
        ]
    })
}

fn seal_form() -> Value {
    json!({"fields": [
        {"key": "name", "type": "text", "label": "申请人", "autofill": "name", "locked": true},
        {"key": "dept", "type": "text", "label": "部门", "autofill": "department", "locked": true},
        {"key": "seal", "type": "select", "label": "用印类型", "required": true, "options": ["校章", "党委章", "合同专用章", "校长签名章"]},
        {"key": "document", "type": "text", "label": "用印文件名称", "required": true, "max_len": 100},
        {"key": "copies", "type": "number", "label": "份数", "required": true, "min": 1, "max": 200},
        {"key": "date", "type": "date", "label": "使用日期", "required": true},
        {"key": "reason", "type": "textarea", "label": "用印事由", "required": true, "max_len": 200}
    ]})
}

fn seal_flow() -> Value {
    json!({"nodes": [
        {"id": "start", "type": "start", "name": "申请人提交", "next": "head"},
        {"id": "head", "type": "approval", "name": "部门负责人审批", "approvers": {"kind": "dept_head"}, "next": "seal"},
        {"id": "seal", "type": "approval", "name": "印章管理员用印", "mode": "any",
         "approvers": {"kind": "role", "role": "seal_keeper"}, "time_limit_hours": 24, "next": "end"},
        {"id": "end", "type": "end", "name": "办结"}
    ]})
}

fn leave_form() -> Value {
    json!({"fields": [
        {"key": "name", "type": "text", "label": "姓名", "autofill": "name", "locked": true},
        {"key": "account", "type": "text", "label": "学号", "autofill": "account", "locked": true},
        {"key": "college", "type": "text", "label": "学院", "autofill": "department", "locked": true},
        {"key": "phone", "type": "phone", "label": "手机号", "autofill": "phone", "required": true},
        {"key": "kind", "type": "radio", "label": "请假类型", "required": true, "options": ["事假", "病假", "其他"]},
        {"key": "period", "type": "date_range", "label": "请假起止日期", "required": true},
        {"key": "days", "type": "number", "label": "请假天数", "required": true, "min": 0.5, "max": 60},
        {"key": "reason", "type": "textarea", "label": "请假事由", "required": true, "max_len": 150, "help": "字数控制在150字以内"},
        {"key": "leave_campus", "type": "radio", "label": "是否离校", "required": true, "options": ["是", "否"]},
        {"key": "counselor", "type": "person", "label": "辅导员", "required": true, "role": "counselor",
         "help": "请选择本学院的辅导员"}
    ]})
}

fn leave_flow() -> Value {
    json!({"nodes": [
        {"id": "start", "type": "start", "name": "学生提交", "next": "counselor"},
        {"id": "counselor", "type": "approval", "name": "辅导员审批", "approvers": {"kind": "form_field", "field": "counselor"},
         "fallback": {"kind": "service_admins"}, "time_limit_hours": 24, "escalate": true, "next": "check"},
        {"id": "check", "type": "condition", "name": "是否超过3天", "branches": [
            {"name": "超过3天", "when": {"op": "gt", "field": "days", "value": 3}, "next": "deputy"}
        ], "default": "end"},
        {"id": "deputy", "type": "approval", "name": "学院副书记审批",
         "approvers": {"kind": "role", "role": "deputy_secretary", "scope": "applicant_college"}, "next": "end"},
        {"id": "end", "type": "end", "name": "办结"}
    ]})
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_definitions_are_valid() {
        for (code, form, flow, _) in super::flows() {
            let f: crate::forms::FormSchema =
                serde_json::from_value(form).unwrap_or_else(|e| panic!("{code}: {e}"));
            f.validate().unwrap_or_else(|e| panic!("{code}: {e}"));
            let d: crate::workflow::model::Definition =
                serde_json::from_value(flow).unwrap_or_else(|e| panic!("{code}: {e}"));
            d.validate().unwrap_or_else(|e| panic!("{code}: {e}"));
        }
    }
}
