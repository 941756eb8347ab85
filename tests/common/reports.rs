//! Reading a run's CSV reports back, by column name.

use std::collections::BTreeMap;
use std::path::Path;

/// One CSV row as column name → value.
pub type Row = BTreeMap<String, String>;

/// Reads a CSV file with its header; every row as a map.
pub fn read_csv(path: &Path) -> Vec<Row> {
    let mut r = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// The header line of a CSV file.
pub fn csv_header(path: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.headers().unwrap().iter().map(str::to_string).collect()
}

pub fn findings_csv(report_dir: &Path) -> Vec<Row> {
    read_csv(&report_dir.join("findings.csv"))
}

pub fn actions_csv(report_dir: &Path) -> Vec<Row> {
    read_csv(&report_dir.join("actions.csv"))
}

/// The rows whose `column` equals `value`.
pub fn rows_where<'a>(rows: &'a [Row], column: &str, value: &str) -> Vec<&'a Row> {
    rows.iter()
        .filter(|r| r.get(column).map(String::as_str) == Some(value))
        .collect()
}

/// The only row whose `column` equals `value`.
pub fn one_row<'a>(rows: &'a [Row], column: &str, value: &str) -> &'a Row {
    let found = rows_where(rows, column, value);
    assert_eq!(
        found.len(),
        1,
        "expected one row with {column}={value}, got {rows:#?}"
    );
    found[0]
}

/// Every file under `dir`, recursively, with its bytes.
pub fn all_files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}
