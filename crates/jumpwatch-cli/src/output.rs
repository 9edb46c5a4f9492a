//! Rows printed as a table, JSON, JSON lines or CSV.

use std::io::Write;

use serde_json::{Map, Value};

/// How rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns, for people.
    Table,
    /// One JSON array of objects.
    Json,
    /// One JSON object a line.
    Jsonl,
    /// Comma-separated values with a header.
    Csv,
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Prints rows under their column names.
pub(crate) fn print(
    out: &mut dyn Write,
    format: Format,
    columns: &[String],
    rows: &[Vec<Value>],
) -> std::io::Result<()> {
    let objects = || {
        rows.iter().map(|row| {
            columns.iter().cloned().zip(row.iter().cloned()).collect::<Map<String, Value>>()
        })
    };
    match format {
        Format::Json => {
            let all: Vec<Value> = objects().map(Value::Object).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&all).unwrap_or_default())
        }
        Format::Jsonl => {
            for object in objects() {
                writeln!(out, "{}", Value::Object(object))?;
            }
            Ok(())
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(columns)?;
            for row in rows {
                writer.write_record(row.iter().map(cell))?;
            }
            writer.flush()
        }
        Format::Table => {
            const MAX: usize = 60;
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|v| {
                            let text = cell(v).replace('\n', " ");
                            if text.chars().count() > MAX {
                                format!("{}…", text.chars().take(MAX - 1).collect::<String>())
                            } else {
                                text
                            }
                        })
                        .collect()
                })
                .collect();
            let widths: Vec<usize> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    cells
                        .iter()
                        .map(|r| r[i].chars().count())
                        .chain([c.chars().count()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |values: &[String]| {
                values
                    .iter()
                    .zip(&widths)
                    .map(|(v, w)| format!("{v:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            writeln!(out, "{}", line(columns))?;
            writeln!(
                out,
                "{}",
                widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  ")
            )?;
            for row in &cells {
                writeln!(out, "{}", line(row))?;
            }
            writeln!(out, "({} row{})", rows.len(), if rows.len() == 1 { "" } else { "s" })
        }
    }
}
