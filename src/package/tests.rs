use super::*;

const FULL: &str = r#"
# A comment is allowed anywhere.
format = 1

[service]
code = "CGCJ"
name = "因公出国（境）申请"
category = "INTL"
department = "INTL"
kind = "online"
audiences = ["staff"]
tags = ["出国", "因公"]
summary = "一行摘要"
start_user_types = ["teacher", "staff"]
start_departments = ["CS"]
start_roles = ["dept_head"]
recommend_for = ["staff", "visitor"]
recommend_order = 3

[service.guide]
conditions = "条件"
materials = """
1. 邀请函
2. "行程" \\ 说明"""
faq = '''
问：可以吗？
答：可以。
'''

[[form.fields]]
key = "days"
type = "number"
label = "在外天数"
required = true
min = 1
max = 365.5

[[form.fields]]
key = "itinerary"
type = "table"
label = "出访行程"

[[form.fields.columns]]
key = "date"
type = "date"
label = "日期"

[[form.fields]]
key = "kind"
type = "select"
label = "类型"
options = ["因公护照", "因私护照"]
default = "因公护照"

[workflow]
applicant_fields = { days = "readonly" }

[[workflow.nodes]]
id = "start"
type = "start"
name = "提交"
next = "check"

[[workflow.nodes]]
id = "check"
type = "condition"
default = "head"

[[workflow.nodes.branches]]
name = "超过30天"
when = { op = "any", of = [{ op = "gt", field = "days", value = 30 }, { op = "in", field = "kind", values = ["因私护照"] }] }
next = "head"

[[workflow.nodes]]
id = "head"
type = "approval"
name = "部门负责人审批"
approvers = { kind = "dept_head", levels_up = 1 }
fallback = { kind = "user", account = "admin" }
fields = { days = "editable" }
time_limit_hours = 48
next = "end"

[[workflow.nodes]]
id = "end"
type = "end"
"#;

fn known() -> Known {
    Known {
        departments: ["INTL", "CS"].map(String::from).into(),
        categories: ["INTL"].map(String::from).into(),
        roles: Some(["dept_head"].map(String::from).into()),
    }
}

fn src(text: &str) -> Source<'_> {
    Source {
        file: "demo/services/CGCJ.toml",
        text,
    }
}

fn problems(text: &str) -> String {
    match ServicePackage::load(&src(text), &known()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_package_reads_back_as_written() {
    let p = ServicePackage::load(&src(FULL), &known()).expect("valid");
    assert_eq!(p.service.guide.materials, "1. 邀请函\n2. \"行程\" \\ 说明");
    assert_eq!(p.service.guide.faq, "问：可以吗？\n答：可以。\n");
    assert_eq!(p.form.as_ref().unwrap()["fields"][0]["min"], 1);
    assert!(p.form.as_ref().unwrap()["fields"][0]["min"].is_i64());
    assert!(p.form.as_ref().unwrap()["fields"][0]["max"].is_f64());

    let written = to_toml_string(&p).unwrap();
    let again = ServicePackage::load(&src(&written), &known()).expect(&written);
    assert_eq!(again, p);
    // Writing is stable: the written text is its own fixed point.
    assert_eq!(to_toml_string(&again).unwrap(), written);
    // Key order: identity first, `next` last, short tables inline, lists of tables as blocks.
    assert!(written.starts_with("format = 1\n\n[service]\ncode = \"CGCJ\"\n"));
    assert!(written.contains(
        "[[workflow.nodes]]\nid = \"head\"\ntype = \"approval\"\nname = \"部门负责人审批\"\n\
         approvers = { kind = \"dept_head\", levels_up = 1 }\n"
    ));
    assert!(written.contains("[[form.fields.columns]]\nkey = \"date\""));
    assert!(written.contains("faq = \"\"\"\n问：可以吗？\n答：可以。\n\"\"\""));
    assert!(!written.contains("\n[form]\n"), "{written}");
}

#[test]
fn a_guide_only_package_has_no_form_or_workflow() {
    let text = "format = 1\n[service]\ncode = \"ZZ\"\nname = \"指南\"\ncategory = \"INTL\"\n\
                department = \"INTL\"\nkind = \"guide\"\n";
    let p = ServicePackage::load(&src(text), &known()).expect("valid");
    assert_eq!(p.form, None);
    assert_eq!(
        to_toml_string(&p).unwrap(),
        text.replace("format = 1\n", "format = 1\n\n")
    );
}

#[test]
fn a_syntax_error_names_file_line_and_problem() {
    let text = FULL.replace("name = \"提交\"", "name = \"提交");
    let msg = problems(&text);
    let line = text.lines().position(|l| l == "name = \"提交").unwrap() + 1;
    assert!(
        msg.starts_with(&format!("demo/services/CGCJ.toml:{line}:")),
        "{msg}"
    );
    assert!(msg.contains("string"), "{msg}");
}

#[test]
fn a_wrong_word_names_its_key_path_and_the_allowed_words() {
    let text = FULL.replace("kind = \"online\"", "kind = \"onlin\"");
    let msg = problems(&text);
    let line = text.lines().position(|l| l == "kind = \"onlin\"").unwrap() + 1;
    assert!(
        msg.starts_with(&format!("demo/services/CGCJ.toml:{line}:8: service.kind: ")),
        "{msg}"
    );
    assert!(msg.contains("`online`, `external`, `guide`"), "{msg}");
}

#[test]
fn form_and_workflow_problems_name_the_place() {
    // An unknown field type: the path into the form and the line of the field.
    let text = FULL.replace("type = \"select\"", "type = \"dropdown\"");
    let msg = problems(&text);
    let line = text
        .lines()
        .position(|l| l == "type = \"dropdown\"")
        .unwrap()
        + 1;
    assert!(
        msg.starts_with(&format!(
            "demo/services/CGCJ.toml:{line}:1: form.fields[2].type: unknown variant `dropdown`"
        )),
        "{msg}"
    );

    // A misspelt key is not dropped silently.
    let text = FULL.replace("required = true", "requird = true");
    let msg = problems(&text);
    let line = text.lines().position(|l| l == "requird = true").unwrap() + 1;
    assert_eq!(
        msg,
        format!("demo/services/CGCJ.toml:{line}:1: form.fields[0].requird: unknown key `requird`")
    );

    // Inside an inline table.
    let text = FULL.replace("levels_up = 1", "level_up = 1");
    let msg = problems(&text);
    assert!(
        msg.contains(": workflow.nodes[2].approvers.level_up: unknown key `level_up`"),
        "{msg}"
    );

    // The definition's own rules: the section, and the rule's message.
    let text = FULL.replace("next = \"end\"", "next = \"nowhere\"");
    let msg = problems(&text);
    let line = text.lines().position(|l| l == "[workflow]").unwrap() + 1;
    assert!(
        msg.starts_with(&format!("demo/services/CGCJ.toml:{line}:2: workflow: ")),
        "{msg}"
    );
    assert!(msg.contains("nowhere"), "{msg}");

    // A TOML date where the definitions hold text.
    let text = FULL.replace("default = \"因公护照\"", "default = 2026-09-01");
    let msg = problems(&text);
    assert!(
        msg.contains("form.fields[2].default: write dates as text"),
        "{msg}"
    );
}

#[test]
fn references_and_versions_are_checked() {
    let text = FULL
        .replace("department = \"INTL\"", "department = \"XX\"")
        .replace("start_roles = [\"dept_head\"]", "start_roles = [\"dean\"]");
    let msg = problems(&text);
    let line = text
        .lines()
        .position(|l| l == "department = \"XX\"")
        .unwrap()
        + 1;
    assert!(
        msg.contains(&format!(
            "demo/services/CGCJ.toml:{line}:1: service.department: no department with code `XX`"
        )),
        "{msg}"
    );
    assert!(
        msg.contains("service.start_roles[0]: no role with code `dean`"),
        "{msg}"
    );
    let text = FULL.replace(
        "kind = \"dept_head\", levels_up = 1",
        "kind = \"role\", role = \"dean\"",
    );
    let msg = problems(&text);
    let line = text.lines().position(|l| l.contains("\"dean\"")).unwrap() + 1;
    assert_eq!(
        msg,
        format!(
            "demo/services/CGCJ.toml:{line}:30: workflow.nodes[2].approvers.role: no role with code `dean`"
        )
    );

    let msg = problems(&FULL.replace("format = 1", "format = 2"));
    assert_eq!(
        msg,
        "demo/services/CGCJ.toml:3:1: format: format 2 is not supported: this portal reads format 1"
    );
    let msg = problems(&FULL.replace("format = 1", ""));
    assert_eq!(
        msg,
        "demo/services/CGCJ.toml: missing `format = 1` at the top"
    );
    let msg = problems(&FULL.replace("[workflow]", "[workflow]\nsurprise = 1\n"));
    assert!(msg.contains("workflow.surprise: unknown key"), "{msg}");
    let msg = problems(&FULL.replace("tags =", "labels ="));
    assert!(msg.contains("unknown field `labels`"), "{msg}");
}

#[test]
fn any_text_survives_writing() {
    let mut p = ServicePackage::load(&src(FULL), &known()).unwrap();
    let texts = [
        "three \"\"\" quotes\nand a line",
        "three ''' apostrophes\nand a line",
        "a tab\there\nand a backslash \\ at the end\\",
        "windows\r\nline ends\r\n",
        "ends with a quote\n\"",
        "\nstarts with a line break",
        "控制字符 \u{7} 和 \u{1b}",
    ];
    for t in texts {
        p.service.guide.faq = t.to_owned();
        p.service.summary = t.to_owned();
        p.form.as_mut().unwrap()["fields"][0]["help"] = t.into();
        let written = to_toml_string(&p).unwrap();
        let again = ServicePackage::load(&src(&written), &known()).expect(&written);
        assert_eq!(again, p, "{written}");
    }
}
