//! The generated SQL views are valid SQLite and read the catalog's example documents.

use jumpwatch_model::ResourceKind;
use jumpwatch_model::catalog::SqlType;
use rusqlite::Connection;

use crate::support::{examples, resource};

#[test]
fn every_view_reads_the_examples() {
    let db = Connection::open_in_memory().unwrap();
    db.execute_batch(
        "CREATE TABLE resources (tenant TEXT, kind TEXT, id TEXT, parent_id TEXT, name TEXT, doc TEXT);",
    )
    .unwrap();
    for (kind, _, doc) in examples() {
        let r = resource(kind, doc).unwrap();
        db.execute(
            "INSERT INTO resources VALUES ('acme', ?1, ?2, ?3, ?4, ?5)",
            (
                kind.name(),
                r.id.as_str(),
                r.parent.as_ref().map(jumpwatch_model::ResourceId::as_str),
                r.name,
                r.doc.to_string(),
            ),
        )
        .unwrap();
    }
    for kind in ResourceKind::ALL {
        let view = kind.meta().view;
        let sql = format!("CREATE VIEW {} AS {}", view.name, view.select_from("resources"));
        db.execute_batch(&sql).unwrap_or_else(|e| panic!("{kind}: {e}\n{sql}"));
        let mut statement = db.prepare(&format!("SELECT * FROM {}", view.name)).unwrap();
        let names: Vec<String> = statement.column_names().map(str::to_owned).collect();
        let expected = 2 + usize::from(kind.meta().parent.is_some()) + view.columns.len();
        assert_eq!(names.len(), expected, "{kind}: {names:?}");
        let rows = statement
            .query_map([], |row| {
                let mut values = Vec::new();
                for (index, column) in view.columns.iter().enumerate() {
                    let at = names.len() - view.columns.len() + index;
                    let value: rusqlite::types::Value = row.get(at)?;
                    values.push((column, value));
                }
                Ok(values)
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(rows.len(), kind.meta().examples.len(), "{kind}");
        // Typed columns hold what their type says (or NULL where a document lacks the field).
        for row in rows {
            for (column, value) in row {
                use rusqlite::types::Value as V;
                let fits = matches!(
                    (column.sql_type, &value),
                    (_, V::Null)
                        | (SqlType::Text | SqlType::Timestamp | SqlType::Json, V::Text(_))
                        | (SqlType::Integer | SqlType::Boolean | SqlType::Json, V::Integer(_))
                        | (SqlType::Real | SqlType::Json, V::Real(_) | V::Integer(_))
                );
                // Awkward examples send numbers as strings on purpose.
                let lenient = matches!(
                    (column.sql_type, &value),
                    (SqlType::Integer | SqlType::Real | SqlType::Boolean, V::Text(_))
                );
                assert!(
                    fits || lenient,
                    "{kind}.{}: {value:?} in a {:?} column",
                    column.name,
                    column.sql_type
                );
            }
        }
    }
    let count: i64 =
        db.query_row("SELECT count(*) FROM users WHERE sudo = 1", [], |r| r.get(0)).unwrap();
    assert!(count >= 1);
}
