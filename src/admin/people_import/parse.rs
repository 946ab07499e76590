//! An uploaded table of people as text cells: XLSX (the first sheet) or CSV in UTF-8
//! (with or without BOM) or GBK/GB18030, as Excel in China saves it.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

/// The header and the data rows, each with its row number in the file (header = 1).
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<(u32, Vec<String>)>,
}

/// The most rows one file may hold.
pub const MAX_ROWS: usize = 100_000;

pub fn read(bytes: &[u8]) -> Result<Table, String> {
    let cells = if bytes.starts_with(b"PK\x03\x04") {
        xlsx(bytes)?
    } else {
        csv_rows(&decode(bytes))?
    };
    let mut it = cells
        .into_iter()
        .enumerate()
        .map(|(i, r)| (i as u32 + 1, r))
        .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()));
    let Some((_, header)) = it.next() else {
        return Err("文件中没有数据".into());
    };
    let header = header.iter().map(|h| h.trim().to_owned()).collect();
    let rows: Vec<_> = it.take(MAX_ROWS + 1).collect();
    if rows.len() > MAX_ROWS {
        return Err(format!("一次最多导入 {MAX_ROWS} 行，请分成几个文件"));
    }
    Ok(Table { header, rows })
}

/// UTF-8 (a BOM dropped) when the bytes are UTF-8, else GB18030 (a superset of GBK).
fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => encoding_rs::GB18030
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

fn csv_rows(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| format!("CSV 格式有误：{e}"))?;
        out.push(rec.iter().map(str::to_owned).collect());
        if out.len() > MAX_ROWS + 2 {
            break;
        }
    }
    Ok(out)
}

fn xlsx(bytes: &[u8]) -> Result<Vec<Vec<String>>, String> {
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|_| "无法读取 XLSX 文件（文件损坏或不是 Excel 工作簿）".to_owned())?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or_else(|| "工作簿中没有工作表".to_owned())?
        .map_err(|_| "无法读取第一个工作表".to_owned())?;
    // Rows are numbered as in Excel: the range may start below row 1.
    let first = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    let mut out = vec![Vec::new(); first];
    for row in range.rows().take(MAX_ROWS + 2) {
        out.push(row.iter().map(cell).collect());
    }
    Ok(out)
}

fn cell(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        // Numbers typed into cells (学号, 手机): no ".0".
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_in_utf8_bom_and_gbk() {
        let text = "学号/工号,姓名\nS1,张三\n\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        for bytes in [
            text.as_bytes().to_vec(),
            [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
            gbk.into_owned(),
        ] {
            let t = read(&bytes).unwrap();
            assert_eq!(t.header, ["学号/工号", "姓名"]);
            assert_eq!(t.rows, vec![(2, vec!["S1".to_owned(), "张三".to_owned()])]);
        }
    }
}
