//! The SQL query API: read-only SQL over the views, now or at an instant, with results as JSON
//! values.

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use serde_json::Value;

use crate::{Error, SqliteStore, now_text, schema};

/// A column of a query result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColumnInfo {
    /// Its name.
    pub name: String,
    /// Its declared type, when it comes straight from a table column.
    pub decl_type: Option<String>,
    /// The type of its values (`integer`, `real`, `text`, `json`), from the first row that has
    /// one: view columns are expressions, which SQLite does not type.
    pub value_type: Option<&'static str>,
}

/// The rows of a query.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QueryResult {
    /// The columns.
    pub columns: Vec<ColumnInfo>,
    /// The rows, one JSON value a column: numbers, text, `null`, and JSON objects and arrays
    /// (from JSON columns) as themselves.
    pub rows: Vec<Vec<Value>>,
}

fn to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            let trimmed = text.trim_start();
            if (trimmed.starts_with('{') || trimmed.starts_with('['))
                && let Ok(value) = serde_json::from_str::<Value>(&text)
            {
                return value;
            }
            Value::String(text.into_owned())
        }
        ValueRef::Blob(bytes) => Value::String(format!("<{} bytes>", bytes.len())),
    }
}

impl SqliteStore {
    /// Runs one read-only SQL statement over the views: as they are now, or as they were at
    /// `as_of`. A statement that would write is refused.
    pub fn query(&self, sql: &str, as_of: Option<DateTime<Utc>>) -> Result<QueryResult, Error> {
        let db = self.reader()?;
        if let Some(at) = as_of {
            db.execute_batch(&schema::kind_views(&schema::as_of_source(&now_text(at)), true))?;
        }
        db.pragma_update(None, "query_only", "ON")?;
        let mut statement = db.prepare(sql)?;
        if !statement.readonly() {
            return Err(Error::ReadOnly(format!(
                "{:?} would change the database",
                sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            )));
        }
        let mut columns: Vec<ColumnInfo> = statement
            .columns()
            .map(|c| ColumnInfo {
                name: c.name().to_owned(),
                decl_type: c.decl_type().map(str::to_owned),
                value_type: None,
            })
            .collect();
        let count = columns.len();
        let mut rows = Vec::new();
        let mut cursor = statement.query([])?;
        while let Some(row) = cursor.next()? {
            let mut values = Vec::with_capacity(count);
            for index in 0..count {
                values.push(to_json(row.get_ref(index)?));
            }
            rows.push(values);
        }
        for (index, column) in columns.iter_mut().enumerate() {
            column.value_type = rows.iter().map(|row| &row[index]).find(|v| !v.is_null()).map(
                |value| match value {
                    Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                    Value::Number(_) => "real",
                    Value::String(_) => "text",
                    _ => "json",
                },
            );
        }
        Ok(QueryResult { columns, rows })
    }
}
