//! JSON documents as CEL values, borrowing the document's strings.
//!
//! `null` is the same as missing: a key whose value is `null` is left out of the map, so
//! `has(r.mfa)` is false for `"mfa": null`.
//!
//! Every map and list is [`Shared`]: the interpreter copies a value to bind it to a comprehension's
//! variable (each policy of `rel.policies.exists(p, ...)`), and a shared one is copied by a
//! reference count, not entry by entry. A document can also be converted in part, with only the
//! fields a [`Demand`] names ([`cel_pruned`]).

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use cel::ExecutionError;
use cel::Value as Cel;
use cel::common::traits::{
    Adder, Comparer, Container, Divider, Indexer, Iterable, Modder, Multiplier, Negator, Sizer,
    Subtractor, Zeroer,
};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt, Type,
};
use cel::common::value::{Builtin, BuiltinRef, CowVal, Val};
use serde_json::Value;

use crate::demand::{ALL, Demand};

/// A CEL value behind a reference count: it is the value it holds in every respect (its type, its
/// operators, and for the interpreter's down-casts the built-in map or list it is), but a copy of
/// it is a copy of the reference.
#[derive(Debug, Clone)]
pub(crate) struct Shared<'v>(pub(crate) Arc<dyn Val + 'v>);

impl<'v> Shared<'v> {
    /// Shares `value`.
    pub(crate) fn new(value: impl Val + 'v) -> Self {
        Self(Arc::new(value))
    }

    /// A box of another reference to the value.
    pub(crate) fn boxed(&self) -> Box<dyn Val + 'v> {
        Box::new(self.clone())
    }
}

impl Val for Shared<'_> {
    fn get_type(&self) -> &Type {
        self.0.get_type()
    }

    fn cel_type() -> &'static Type
    where
        Self: Sized,
    {
        // A shared value has the type of the value it holds; overloads are never declared on
        // `Shared` itself.
        &cel::common::types::DYN_TYPE
    }

    fn as_adder<'b, 'w>(&'b self) -> Option<&'b (dyn Adder + 'w)>
    where
        Self: 'w,
    {
        self.0.as_adder()
    }

    fn as_comparer(&self) -> Option<&dyn Comparer> {
        self.0.as_comparer()
    }

    fn as_container(&self) -> Option<&dyn Container> {
        self.0.as_container()
    }

    fn as_divider<'b, 'w>(&'b self) -> Option<&'b (dyn Divider + 'w)>
    where
        Self: 'w,
    {
        self.0.as_divider()
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        self.0.as_indexer()
    }

    fn into_indexer<'w>(self: Box<Self>) -> Option<Box<dyn Indexer + 'w>>
    where
        Self: 'w,
    {
        self.0.as_indexer().is_some().then_some(self as Box<dyn Indexer + 'w>)
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        self.0.as_iterable()
    }

    fn as_modder<'b, 'w>(&'b self) -> Option<&'b (dyn Modder + 'w)>
    where
        Self: 'w,
    {
        self.0.as_modder()
    }

    fn as_multiplier<'b, 'w>(&'b self) -> Option<&'b (dyn Multiplier + 'w)>
    where
        Self: 'w,
    {
        self.0.as_multiplier()
    }

    fn as_negator<'b, 'w>(&'b self) -> Option<&'b (dyn Negator + 'w)>
    where
        Self: 'w,
    {
        self.0.as_negator()
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        self.0.as_sizer()
    }

    fn as_subtractor<'b, 'w>(&'b self) -> Option<&'b (dyn Subtractor + 'w)>
    where
        Self: 'w,
    {
        self.0.as_subtractor()
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        self.0.as_zeroer()
    }

    fn equals(&self, other: &dyn Val) -> bool {
        self.0.equals(other)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(self.clone())
    }

    fn as_any(&self) -> Option<&dyn Any> {
        self.0.as_any()
    }

    fn as_builtin<'b, 'w>(&'b self) -> BuiltinRef<'b, 'w>
    where
        Self: 'w,
    {
        self.0.as_builtin()
    }

    fn into_builtin<'w>(self: Box<Self>) -> Option<Builtin<'w>>
    where
        Self: 'w,
    {
        // The interpreter takes a built-in out of a value only it holds; the shared one stays
        // with its other holders, so this is a copy (of one level: the entries are shared).
        self.0.clone_as_boxed().into_builtin()
    }
}

impl Indexer for Shared<'_> {
    fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        match self.0.as_indexer() {
            Some(indexer) => indexer.get(idx),
            None => Err(ExecutionError::UnexpectedType {
                got: self.0.get_type().name().to_owned(),
                want: "an indexable value".to_owned(),
            }),
        }
    }

    fn steal<'w>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'w>, ExecutionError>
    where
        Self: 'w,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

/// A CEL value over a JSON document.
pub(crate) fn cel_val(value: &Value) -> Box<dyn Val + '_> {
    cel_pruned(value, &ALL)
}

/// A CEL value over the part of a JSON document that `demand` reads: an object keeps only the
/// fields it names (each converted with what is read of it) unless it is iterated over or
/// measured, an array keeps every element with what is read of each, and everything else converts
/// whole.
pub(crate) fn cel_pruned<'v>(value: &'v Value, demand: &Demand) -> Box<dyn Val + 'v> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            (None, None) => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(_) | Value::Object(_) => Box::new(shared_pruned(value, demand)),
    }
}

/// [`cel_pruned`], shared.
pub(crate) fn shared_pruned<'v>(value: &'v Value, demand: &Demand) -> Shared<'v> {
    match value {
        Value::Object(object) => match demand {
            Demand::Fields { fields, .. } if !demand.whole_object() => {
                Shared::new(cel_map(fields.iter().filter_map(|(name, demand)| {
                    let (key, value) = object.get_key_value(name)?;
                    (!value.is_null()).then(|| (key.as_str(), cel_pruned(value, demand)))
                })))
            }
            _ => Shared::new(cel_map(
                object.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.as_str(), cel_val(v))),
            )),
        },
        Value::Array(items) => {
            let each = demand.element();
            Shared::new(CelList::from(
                items.iter().map(|item| cel_pruned(item, each)).collect::<Vec<_>>(),
            ))
        }
        _ => Shared(Arc::from(cel_pruned(value, demand))),
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

/// A CEL map of a JSON object's entries and some more (`extra` wins over the document's own),
/// with what `demand` reads of the object's own entries.
pub(crate) fn cel_merged<'v>(
    doc: &'v Value,
    demand: &Demand,
    extra: Vec<(&'v str, Box<dyn Val + 'v>)>,
) -> Shared<'v> {
    let object = doc.as_object();
    let taken = |key: &str| extra.iter().any(|(k, _)| *k == key);
    let own: Vec<(&'v str, Box<dyn Val + 'v>)> = match demand {
        Demand::Fields { fields, .. } if !demand.whole_object() => fields
            .iter()
            .filter(|(name, _)| !taken(name))
            .filter_map(|(name, demand)| {
                let (key, value) = object?.get_key_value(name)?;
                (!value.is_null()).then(|| (key.as_str(), cel_pruned(value, demand)))
            })
            .collect(),
        _ => object
            .into_iter()
            .flatten()
            .filter(|(k, v)| !v.is_null() && !taken(k))
            .map(|(k, v)| (k.as_str(), cel_val(v)))
            .collect(),
    };
    Shared::new(cel_map(own.into_iter().chain(extra)))
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
    fn shared_values_are_the_built_in_values_they_hold() {
        let doc = json!({"mfa": {"configured": true}, "tags": ["a", "b"]});
        let cases = [
            ("r.mfa == {'configured': true}", Cel::Bool(true)),
            ("{'configured': true} == r.mfa", Cel::Bool(true)),
            ("['a', 'b'] == r.tags", Cel::Bool(true)),
            ("r.tags + ['c'] == ['a', 'b', 'c']", Cel::Bool(true)),
            ("[r.mfa][0].configured", Cel::Bool(true)),
            ("r.tags", Cel::List(Arc::new(vec![Cel::from("a"), Cel::from("b")]))),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(expr, &doc), Ok(want), "{expr}");
        }
        let map = eval("r.mfa", &doc).unwrap();
        assert!(matches!(map, Cel::Map(_)), "{map:?}");
    }

    #[test]
    fn pruned_documents_keep_what_is_read() {
        let doc = json!({"a": {"b": 1, "c": 2}, "d": [{"e": 1, "f": 2}], "g": {"h": 1}, "n": null});
        let env = Arc::new(Env::stdlib());
        let mut reads = crate::demand::Reads::default();
        let expr = "r.a.b == 1 && r.d.exists(x, x.e == 1) && size(r.g) == 1 && !has(r.n)";
        reads.add(env.compile(expr).unwrap().expression());
        let mut context = Context::with_env(Arc::clone(&env));
        context.add_variable_as_val("r", cel_pruned(&doc, &reads.subject));
        let read = |expr: &str| env.compile(expr).unwrap().execute(&context);
        assert_eq!(read(expr), Ok(Cel::Bool(true)));
        assert_eq!(read("has(r.a.c) || has(r.d[0].f)"), Ok(Cel::Bool(false)));
        assert_eq!(read("r.g == {'h': 1}"), Ok(Cel::Bool(true)));
    }

    #[test]
    fn merged_maps_prefer_the_extra_entries() {
        let doc = json!({"id": "b1", "system": "old"});
        let system = json!({"hostname": "mbp"});
        let env = Arc::new(Env::stdlib());
        let mut context = Context::with_env(Arc::clone(&env));
        context.add_variable_as_val(
            "b",
            Box::new(cel_merged(&doc, &Demand::All, vec![("system", cel_val(&system))])),
        );
        let program = env.compile("b.id == 'b1' && b.system.hostname == 'mbp'").unwrap();
        assert_eq!(program.execute(&context).unwrap(), Cel::Bool(true));
    }
}
