//! JSON documents as CEL values, built once a subject and borrowing the document's strings.
//!
//! `null` is the same as missing: a key whose value is `null` is left out of the map, so
//! `has(r.mfa)` is false for `"mfa": null`.

use std::collections::HashMap;
use std::sync::Arc;

use cel::Value as Cel;
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use serde_json::Value;

/// A CEL value over a JSON document.
pub(crate) fn cel_val(value: &Value) -> Box<dyn Val + '_> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            (None, None) => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(items) => {
            Box::new(CelList::from(items.iter().map(cel_val).collect::<Vec<_>>()))
        }
        Value::Object(object) => Box::new(cel_map(
            object.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.as_str(), cel_val(v))),
        )),
    }
}

/// A CEL map from entries.
pub(crate) fn cel_map<'v>(
    entries: impl IntoIterator<Item = (&'v str, Box<dyn Val + 'v>)>,
) -> CelMap<'v> {
    let map: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> =
        entries.into_iter().map(|(k, v)| (CelMapKey::from(k), v)).collect();
    CelMap::from(map)
}

/// A CEL list of JSON documents.
pub(crate) fn cel_list<'v>(docs: impl IntoIterator<Item = &'v Value>) -> Box<dyn Val + 'v> {
    Box::new(CelList::from(docs.into_iter().map(cel_val).collect::<Vec<_>>()))
}

/// A CEL map of a JSON object's entries and some more (`extra` wins over the document's own).
pub(crate) fn cel_merged<'v>(
    doc: &'v Value,
    extra: Vec<(&'v str, Box<dyn Val + 'v>)>,
) -> Box<dyn Val + 'v> {
    let taken: Vec<&str> = extra.iter().map(|(k, _)| *k).collect();
    let own = doc
        .as_object()
        .into_iter()
        .flatten()
        .filter(move |(k, v)| !v.is_null() && !taken.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), cel_val(v)));
    Box::new(cel_map(own.chain(extra)))
}

/// A JSON value as an owned CEL value, for the arguments functions compare with (`became`); the
/// same rules as [`cel_val`].
pub(crate) fn to_cel(value: &Value) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cel::Int(i),
            None => {
                n.as_u64().map_or_else(|| Cel::Float(n.as_f64().unwrap_or(f64::NAN)), Cel::UInt)
            }
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => Cel::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(object) => {
            let map: HashMap<cel::objects::Key, Cel> = object
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (cel::objects::Key::from(k.clone()), to_cel(v)))
                .collect();
            Cel::Map(map.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use cel::{Context, Env};
    use serde_json::json;

    use super::*;

    fn eval(expr: &str, doc: &Value) -> Result<Cel, String> {
        let env = Arc::new(Env::stdlib());
        let program = env.compile(expr).map_err(|e| e.to_string())?;
        let mut context = Context::with_env(env);
        context.add_variable_as_val("r", cel_val(doc));
        program.execute(&context).map_err(|e| e.to_string())
    }

    #[test]
    fn documents_read_as_cel() {
        let doc = json!({
            "name": "ada", "n": 3, "big": u64::MAX, "f": 1.5, "ok": true, "gone": null,
            "tags": ["a", "b"], "mfa": {"configured": true}
        });
        let cases = [
            ("r.name == 'ada'", Cel::Bool(true)),
            ("r.n + 1", Cel::Int(4)),
            ("r.big", Cel::UInt(u64::MAX)),
            ("r.f * 2.0", Cel::Float(3.0)),
            ("r.ok && r.mfa.configured", Cel::Bool(true)),
            ("has(r.gone)", Cel::Bool(false)),
            ("has(r.name)", Cel::Bool(true)),
            ("size(r.tags)", Cel::Int(2)),
            ("'b' in r.tags", Cel::Bool(true)),
            ("r.tags.exists(t, t == 'a')", Cel::Bool(true)),
            ("r.tags.map(t, t + '!')[1]", Cel::String(Arc::new("b!".into()))),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(expr, &doc), Ok(want), "{expr}");
        }
        assert!(eval("r.missing == 1", &doc).is_err());
    }

    #[test]
    fn merged_maps_prefer_the_extra_entries() {
        let doc = json!({"id": "b1", "system": "old"});
        let system = json!({"hostname": "mbp"});
        let env = Arc::new(Env::stdlib());
        let mut context = Context::with_env(Arc::clone(&env));
        context.add_variable_as_val("b", cel_merged(&doc, vec![("system", cel_val(&system))]));
        let program = env.compile("b.id == 'b1' && b.system.hostname == 'mbp'").unwrap();
        assert_eq!(program.execute(&context).unwrap(), Cel::Bool(true));
    }
}
