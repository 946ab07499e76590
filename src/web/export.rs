//! One table as a download: CSV (UTF-8 with a BOM, so Excel reads the Chinese) or XLSX.
//! Text that Excel could take for a formula never runs: CSV cells go through `csv_cell`,
//! XLSX text is written as strings.

use anyhow::Context;
use axum::{
    http::header,
    response::{IntoResponse, Response},
};

use crate::error::AppResult;

/// One cell of a [`Table`].
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Num(f64),
    Empty,
}

/// A titled table: the title names the XLSX sheet; CSV carries headers and rows only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    /// `"csv"` or `"xlsx"` (as in `?format=`).
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// A CSV text cell Excel would take for a formula gets a leading apostrophe (CSV
/// injection).
pub fn csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// A number with at most 2 decimals, without trailing zeros ("3.5", "3", "0.25").
/// NaN and infinities are written as nothing.
fn number_text(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// The same rounding as the CSV, so both downloads show the same figures.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The table as a download: `file_stem` (ASCII, e.g. "stats-services-20261202") +
/// extension. Response headers: Content-Type, Content-Disposition attachment with the
/// file name, Cache-Control no-store.
pub fn download(table: &Table, format: Format, file_stem: &str) -> AppResult<Response> {
    let body = match format {
        Format::Csv => to_csv(table)?,
        Format::Xlsx => to_xlsx(table)?,
    };
    let name = format!("{}.{}", safe_stem(file_stem), format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// The stem goes into a header between quotes: only [A-Za-z0-9._-].
fn safe_stem(stem: &str) -> String {
    let s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.trim_matches(['.', '-']).is_empty() {
        "export".to_owned()
    } else {
        s
    }
}

/// The table as CSV bytes: BOM, header row, then the rows (short rows padded to the
/// headers). Text goes through [`csv_cell`]; numbers do not (a negative number stays a
/// number).
pub fn to_csv(table: &Table) -> anyhow::Result<Vec<u8>> {
    let mut out = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    out.write_record(table.headers.iter().map(|h| csv_cell(h)))?;
    for row in &table.rows {
        let mut record: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Text(s) => csv_cell(s),
                Cell::Int(i) => i.to_string(),
                Cell::Num(v) => number_text(*v),
                Cell::Empty => String::new(),
            })
            .collect();
        if record.len() < table.headers.len() {
            record.resize(table.headers.len(), String::new());
        }
        out.write_record(&record)?;
    }
    out.into_inner()
        .map_err(|e| anyhow::anyhow!("csv: {}", e.error()))
}

/// Excel's longest cell text.
const XLSX_MAX_TEXT: usize = 32_767;
/// Integers past this lose digits as a float: written as text instead.
const XLSX_EXACT_INT: i64 = 1 << 53;

/// A valid sheet name from a title: none of `[]:*?/\`, at most 31 UTF-16 units, not
/// starting or ending with an apostrophe, not blank, not Excel's reserved "History".
fn sheet_name(title: &str) -> String {
    let mut name = String::new();
    let mut len = 0;
    for c in title
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
    {
        len += c.len_utf16();
        if len > 31 {
            break;
        }
        name.push(c);
    }
    let name = name.trim_matches(|c: char| c == '\'' || c.is_whitespace());
    if name.is_empty() || name.eq_ignore_ascii_case("history") {
        "Sheet1".to_owned()
    } else {
        name.to_owned()
    }
}

/// Display width in Excel's character units, a CJK character counting 2.
fn width_units(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 })
        .sum()
}

/// The table as an XLSX workbook: one sheet named after the title, bold header row
/// (frozen), numbers as numbers, text as text (never a formula), columns roughly fitted.
pub fn to_xlsx(table: &Table) -> anyhow::Result<Vec<u8>> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let sheet = wb.add_worksheet();
    sheet.set_name(sheet_name(&table.title))?;
    let columns = table
        .rows
        .iter()
        .map(Vec::len)
        .chain([table.headers.len()])
        .max()
        .unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for (c, h) in table.headers.iter().enumerate() {
        let col = u16::try_from(c).context("too many columns")?;
        sheet.write_string_with_format(0, col, clip(h), &bold)?;
        widths[c] = width_units(h);
    }
    for (r, row) in table.rows.iter().enumerate() {
        let at = u32::try_from(r + 1).context("too many rows")?;
        for (c, cell) in row.iter().enumerate() {
            let col = u16::try_from(c).context("too many columns")?;
            let shown = match cell {
                Cell::Text(s) => {
                    sheet.write_string(at, col, clip(s))?;
                    width_units(s)
                }
                Cell::Int(i) if i.abs() <= XLSX_EXACT_INT => {
                    sheet.write_number(at, col, *i as f64)?;
                    i.to_string().len()
                }
                Cell::Int(i) => {
                    sheet.write_string(at, col, i.to_string())?;
                    i.to_string().len()
                }
                Cell::Num(v) if v.is_finite() => {
                    sheet.write_number(at, col, round2(*v))?;
                    number_text(*v).len()
                }
                Cell::Num(_) | Cell::Empty => 0,
            };
            widths[c] = widths[c].max(shown);
        }
    }
    for (c, w) in widths.iter().enumerate() {
        let col = u16::try_from(c).context("too many columns")?;
        sheet.set_column_width(col, (*w + 2).clamp(8, 60) as f64)?;
    }
    if !table.headers.is_empty() {
        sheet.set_freeze_panes(1, 0)?;
    }
    Ok(wb.save_to_buffer()?)
}

/// Text cut to Excel's cell limit (rust_xlsxwriter refuses longer).
fn clip(s: &str) -> String {
    match s.char_indices().nth(XLSX_MAX_TEXT) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use calamine::{Data, Reader, Xlsx};

    use super::*;

    fn table() -> Table {
        Table {
            title: "办件量/按服务: [2026]".to_owned(),
            headers: vec!["服务".into(), "办件数".into(), "平均用时（天）".into()],
            rows: vec![
                vec![
                    Cell::Text("学生证补办".into()),
                    Cell::Int(12),
                    Cell::Num(3.456),
                ],
                vec![Cell::Text("=1+1".into()), Cell::Int(-3), Cell::Num(2.0)],
                vec![
                    Cell::Text("@SUM(A1)".into()),
                    Cell::Empty,
                    Cell::Num(f64::NAN),
                ],
                vec![Cell::Text("只有一列".into())],
            ],
        }
    }

    #[test]
    fn csv_has_a_bom_guards_formulas_and_keeps_chinese() {
        let bytes = to_csv(&table()).expect("csv");
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = std::str::from_utf8(&bytes[3..]).expect("utf-8");
        let mut rd = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let rows: Vec<Vec<String>> = rd
            .records()
            .map(|r| r.expect("record").iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(rows[0], ["服务", "办件数", "平均用时（天）"]);
        assert_eq!(rows[1], ["学生证补办", "12", "3.46"]);
        assert_eq!(rows[2], ["'=1+1", "-3", "2"]);
        assert_eq!(rows[3], ["'@SUM(A1)", "", ""]);
        assert_eq!(rows[4], ["只有一列", "", ""]);
    }

    #[test]
    fn csv_cell_guards_what_excel_would_run() {
        for s in ["=A1", "+1", "-1", "@x", "\tx", "\rx"] {
            assert_eq!(csv_cell(s), format!("'{s}"));
        }
        assert_eq!(csv_cell("张三"), "张三");
        assert_eq!(csv_cell("a=b"), "a=b");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn numbers_have_at_most_two_decimals() {
        assert_eq!(number_text(3.456), "3.46");
        assert_eq!(number_text(3.5), "3.5");
        assert_eq!(number_text(3.0), "3");
        assert_eq!(number_text(120.0), "120");
        assert_eq!(number_text(-0.001), "0");
        assert_eq!(number_text(f64::INFINITY), "");
    }

    #[test]
    fn xlsx_reads_back_with_numbers_as_numbers_and_text_as_text() {
        let bytes = to_xlsx(&table()).expect("xlsx");
        let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).expect("open");
        assert_eq!(wb.sheet_names(), ["办件量_按服务_ _2026_"]);
        let range = wb.worksheet_range("办件量_按服务_ _2026_").expect("sheet");
        let rows: Vec<Vec<Data>> = range.rows().map(<[Data]>::to_vec).collect();
        assert_eq!(
            rows[0],
            [
                Data::String("服务".into()),
                Data::String("办件数".into()),
                Data::String("平均用时（天）".into())
            ]
        );
        assert_eq!(
            rows[1],
            [
                Data::String("学生证补办".into()),
                Data::Float(12.0),
                Data::Float(3.46)
            ]
        );
        assert_eq!(
            rows[2],
            [
                Data::String("=1+1".into()),
                Data::Float(-3.0),
                Data::Float(2.0)
            ]
        );
        assert_eq!(rows[3][0], Data::String("@SUM(A1)".into()));
        assert_eq!(rows[3][1], Data::Empty);
        let formulas = wb
            .worksheet_formula("办件量_按服务_ _2026_")
            .expect("formulas");
        assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()));
        // The check above does see a real formula.
        let mut control = rust_xlsxwriter::Workbook::new();
        let sheet = control.add_worksheet();
        sheet.set_name("s").expect("name");
        sheet.write_formula(0, 0, "=1+1").expect("formula");
        let bytes = control.save_to_buffer().expect("save");
        let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).expect("open");
        let formulas = wb.worksheet_formula("s").expect("formulas");
        assert!(formulas.used_cells().any(|(_, _, f)| f == "1+1"));
    }

    #[test]
    fn sheet_names_follow_excels_rules() {
        assert_eq!(sheet_name("a[b]c:d*e?f/g\\h"), "a_b_c_d_e_f_g_h");
        assert_eq!(sheet_name(""), "Sheet1");
        assert_eq!(sheet_name("'x'"), "x");
        assert_eq!(sheet_name("History"), "Sheet1");
        let long = "各服务事项办件量与平均办理用时统计表（按学院与按月份分别统计汇总）";
        let name = sheet_name(long);
        assert!(name.encode_utf16().count() <= 31);
        assert!(long.starts_with(&name));
        // Every such name is one rust_xlsxwriter takes.
        for t in [long, "'", "[]", "  '' ", "a' '", "💡".repeat(20).as_str()] {
            let mut wb = rust_xlsxwriter::Workbook::new();
            assert!(wb.add_worksheet().set_name(sheet_name(t)).is_ok(), "{t}");
        }
    }

    #[test]
    fn download_sets_the_headers() {
        for (format, ty, ext) in [
            (Format::Csv, "text/csv; charset=utf-8", "csv"),
            (
                Format::Xlsx,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx",
            ),
        ] {
            let res = download(&table(), format, "stats-services-20261202").expect("download");
            let h = res.headers();
            assert_eq!(h[header::CONTENT_TYPE], ty);
            assert_eq!(
                h[header::CONTENT_DISPOSITION],
                format!("attachment; filename=\"stats-services-20261202.{ext}\"").as_str()
            );
            assert_eq!(h[header::CACHE_CONTROL], "no-store");
        }
        assert_eq!(Format::parse("csv"), Some(Format::Csv));
        assert_eq!(Format::parse("xlsx"), Some(Format::Xlsx));
        assert_eq!(Format::parse("xls"), None);
        assert_eq!(safe_stem("统计\"\r\n"), "export");
        assert_eq!(safe_stem("统计-2026"), "---2026");
        assert_eq!(safe_stem("a b.c"), "a-b.c");
    }
}
