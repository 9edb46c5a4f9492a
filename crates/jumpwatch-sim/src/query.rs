//! List query parameters as JumpCloud reads them: `limit`, `skip`, `sort`, `fields` and `filter`,
//! in the v1 dialect (space-separated lists, `field:$op:value` filters with AND and OR forms), the
//! v2 dialect (comma-separated lists, `field:op:value` with `in` values joined by `|`) and the
//! System Insights dialect (v2 lists, `eq` and `in` only, pages up to 10,000).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::clock::parse_instant;
use crate::store::lookup;

/// The query language of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    V1,
    V2,
    Insights,
}

/// A filter operator.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    In(Vec<String>),
    Search,
}

/// One `field:op:value` condition.
#[derive(Debug, Clone, PartialEq)]
struct Condition {
    path: String,
    op: Op,
    value: String,
}

/// Every condition of `all` holds, and one of `any` (when there are any).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Filter {
    all: Vec<Condition>,
    any: Vec<Condition>,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SortKey {
    pub(crate) path: String,
    pub(crate) descending: bool,
}

/// A parsed list query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListQuery {
    pub(crate) limit: usize,
    pub(crate) skip: usize,
    pub(crate) sort: Vec<SortKey>,
    pub(crate) ignore_case: bool,
    pub(crate) fields: Option<Vec<String>>,
    pub(crate) filter: Filter,
}

/// A query that cannot be served: the message of the 400.
pub(crate) type BadRequest = String;

fn bad(text: impl AsRef<str>) -> BadRequest {
    format!("Bad Request: {}", text.as_ref())
}

/// Reads the query parameters of a list request.
pub(crate) fn parse(
    params: &[(String, String)],
    dialect: Dialect,
    max_limit: u32,
    filterable: &[&str],
) -> Result<ListQuery, BadRequest> {
    let mut query = ListQuery {
        limit: 10,
        skip: 0,
        sort: Vec::new(),
        ignore_case: false,
        fields: None,
        filter: Filter::default(),
    };
    let separator = if dialect == Dialect::V1 { ' ' } else { ',' };
    for (key, value) in params {
        match key.as_str() {
            "limit" => {
                let limit: i64 = value.trim().parse().map_err(|_| {
                    bad(format!("request parameter \"limit\" must be an integer, got {value:?}"))
                })?;
                if limit > i64::from(max_limit) {
                    return Err(bad(format!(
                        "request parameter \"limit\" exceeds maximum value of {max_limit}"
                    )));
                }
                if limit < 1 {
                    return Err(bad("request parameter \"limit\" must be at least 1"));
                }
                query.limit = usize::try_from(limit).unwrap_or(10);
            }
            "skip" => {
                query.skip = value.trim().parse().map_err(|_| {
                    bad(format!(
                        "request parameter \"skip\" must be a non-negative integer, got {value:?}"
                    ))
                })?;
            }
            "sort" | "sortIgnoreCase" => {
                query.sort = list(value, separator, key)?
                    .into_iter()
                    .map(|item| match item.strip_prefix('-') {
                        Some(path) => SortKey { path: path.to_owned(), descending: true },
                        None => SortKey { path: item, descending: false },
                    })
                    .collect();
                query.ignore_case = key == "sortIgnoreCase";
            }
            "fields" => query.fields = Some(list(value, separator, "fields")?),
            "filter" => {
                let condition = condition(value, dialect, filterable)?;
                query.filter.all.push(condition);
            }
            key if key.starts_with("filter[") => {
                if dialect != Dialect::V1 {
                    return Err(bad(format!(
                        "request parameter {key:?}: v2 filters are repeated \"filter\" parameters (filter=field:op:value)"
                    )));
                }
                let condition = condition(value, dialect, filterable)?;
                if key.starts_with("filter[or]") {
                    query.filter.any.push(condition);
                } else if key.starts_with("filter[and]")
                    || key[7..].trim_end_matches(']').chars().all(|c| c.is_ascii_digit())
                {
                    query.filter.all.push(condition);
                } else {
                    return Err(bad(format!(
                        "request parameter {key:?} is not filter, filter[n], filter[and][n] or filter[or][n]"
                    )));
                }
            }
            "search" => {
                return Err(bad(
                    "request parameter \"search\" is not supported by the simulator; use \"filter\"",
                ));
            }
            _ => {}
        }
    }
    Ok(query)
}

fn list(value: &str, separator: char, name: &str) -> Result<Vec<String>, BadRequest> {
    let wrong = if separator == ' ' { ',' } else { ' ' };
    if value.trim().contains(wrong) {
        let (this, other) = if separator == ' ' {
            ("space-separated in v1", "sort=name -created")
        } else {
            ("comma-separated in v2", "sort=name,-created")
        };
        return Err(bad(format!(
            "request parameter {name:?} is {this} (e.g. {other}); got {value:?}"
        )));
    }
    Ok(value.split(separator).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
}

fn condition(text: &str, dialect: Dialect, filterable: &[&str]) -> Result<Condition, BadRequest> {
    let shape = if dialect == Dialect::V1 { "field:$op:value" } else { "field:op:value" };
    let (path, rest) =
        text.split_once(':').ok_or_else(|| bad(format!("filter {text:?} is not {shape}")))?;
    let (op, value) =
        rest.split_once(':').ok_or_else(|| bad(format!("filter {text:?} is not {shape}")))?;
    if path.is_empty() {
        return Err(bad(format!("filter {text:?} names no field")));
    }
    let op = match dialect {
        Dialect::V1 => {
            let Some(name) = op.strip_prefix('$') else {
                return Err(bad(format!(
                    "filter {text:?}: v1 operators start with \"$\" ({path}:${op}:{value})"
                )));
            };
            match name {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "gte" => Op::Ge,
                "lt" => Op::Lt,
                "lte" => Op::Le,
                _ => {
                    return Err(bad(format!(
                        "filter {text:?}: unsupported operator {op:?}; v1 operators are $eq, $ne, $gt, $gte, $lt, $lte"
                    )));
                }
            }
        }
        Dialect::V2 | Dialect::Insights => {
            if op.starts_with('$') {
                return Err(bad(format!(
                    "filter {text:?}: v2 operators have no \"$\" ({path}:{}:{value})",
                    op.trim_start_matches('$')
                )));
            }
            let parsed = match op {
                "eq" => Op::Eq,
                "in" => Op::In(value.split('|').map(str::to_owned).collect()),
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                "search" => Op::Search,
                "gte" | "lte" => {
                    return Err(bad(format!(
                        "filter {text:?}: {op:?} is a v1 operator; v2 uses ge and le"
                    )));
                }
                "between" => {
                    return Err(bad(format!(
                        "filter {text:?}: the simulator does not support \"between\"; use ge and le"
                    )));
                }
                _ => {
                    return Err(bad(format!(
                        "filter {text:?}: unsupported operator {op:?}; v2 operators are eq, ne, gt, ge, lt, le, in, search"
                    )));
                }
            };
            if dialect == Dialect::Insights && !matches!(parsed, Op::Eq | Op::In(_)) {
                return Err(bad(format!(
                    "filter {text:?}: System Insights filters support only eq and in"
                )));
            }
            if !filterable.is_empty() && !filterable.contains(&path) {
                return Err(bad(format!(
                    "filter {text:?}: {path:?} is not a filterable field; valid fields: {}",
                    filterable.join(", ")
                )));
            }
            parsed
        }
    };
    Ok(Condition { path: path.to_owned(), op, value: value.to_owned() })
}

impl ListQuery {
    /// Whether the filter and the sort read only these fields.
    pub(crate) fn reads_only(&self, fields: &[&str]) -> bool {
        self.filter.all.iter().chain(&self.filter.any).all(|c| fields.contains(&c.path.as_str()))
            && self.sort.iter().all(|k| fields.contains(&k.path.as_str()))
    }

    /// The values a document is sorted by.
    pub(crate) fn sort_keys(&self, doc: &Value) -> Vec<Value> {
        self.sort.iter().map(|k| lookup(doc, &k.path).cloned().unwrap_or(Value::Null)).collect()
    }
}

impl Filter {
    pub(crate) fn is_empty(&self) -> bool {
        self.all.is_empty() && self.any.is_empty()
    }

    /// Whether a document passes.
    pub(crate) fn matches(&self, doc: &Value) -> bool {
        self.all.iter().all(|c| c.matches(doc))
            && (self.any.is_empty() || self.any.iter().any(|c| c.matches(doc)))
    }
}

impl Condition {
    fn matches(&self, doc: &Value) -> bool {
        let found = lookup(doc, &self.path).unwrap_or(&Value::Null);
        match &self.op {
            Op::Eq => any_element(found, |v| equals(v, &self.value)),
            Op::Ne => !any_element(found, |v| equals(v, &self.value)),
            Op::In(values) => any_element(found, |v| values.iter().any(|w| equals(v, w))),
            Op::Search => {
                let needle = self.value.trim_matches('*').to_lowercase();
                any_element(found, |v| {
                    v.as_str().is_some_and(|s| s.to_lowercase().contains(&needle))
                })
            }
            Op::Gt => any_element(found, |v| compare(v, &self.value) == Some(Ordering::Greater)),
            Op::Ge => any_element(found, |v| {
                matches!(compare(v, &self.value), Some(Ordering::Greater | Ordering::Equal))
            }),
            Op::Lt => any_element(found, |v| compare(v, &self.value) == Some(Ordering::Less)),
            Op::Le => any_element(found, |v| {
                matches!(compare(v, &self.value), Some(Ordering::Less | Ordering::Equal))
            }),
        }
    }
}

/// A condition holds for an array when it holds for one of its elements.
fn any_element(value: &Value, test: impl Fn(&Value) -> bool) -> bool {
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().any(test),
        other => test(other),
    }
}

fn equals(value: &Value, text: &str) -> bool {
    match value {
        Value::String(s) => s == text,
        Value::Bool(b) => text == if *b { "true" } else { "false" },
        Value::Number(n) => text.parse::<f64>().ok().zip(n.as_f64()).is_some_and(|(a, b)| a == b),
        Value::Null => text == "null",
        _ => false,
    }
}

fn compare(value: &Value, text: &str) -> Option<Ordering> {
    match value {
        Value::Number(n) => n.as_f64()?.partial_cmp(&text.parse::<f64>().ok()?),
        Value::String(s) => match (parse_instant(s), parse_instant(text)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => Some(s.as_str().cmp(text)),
        },
        _ => None,
    }
}

/// Orders two documents by sort keys (missing and null first, then numbers, strings, objects,
/// arrays and booleans, as MongoDB does).
#[cfg(test)]
pub(crate) fn order(a: &Value, b: &Value, keys: &[SortKey], ignore_case: bool) -> Ordering {
    let query = |doc: &Value| -> Vec<Value> {
        keys.iter().map(|k| lookup(doc, &k.path).cloned().unwrap_or(Value::Null)).collect()
    };
    order_keys(&query(a), &query(b), keys, ignore_case)
}

/// Orders two lists of sort values (see [`ListQuery::sort_keys`]).
pub(crate) fn order_keys(
    a: &[Value],
    b: &[Value],
    keys: &[SortKey],
    ignore_case: bool,
) -> Ordering {
    for ((key, x), y) in keys.iter().zip(a).zip(b) {
        let ordering = compare_values(x, y, ignore_case);
        let ordering = if key.descending { ordering.reverse() } else { ordering };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

fn rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Number(_) => 1,
        Value::String(_) => 2,
        Value::Object(_) => 3,
        Value::Array(_) => 4,
        Value::Bool(_) => 5,
    }
}

fn compare_values(a: &Value, b: &Value, ignore_case: bool) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) if ignore_case => {
            x.to_lowercase().cmp(&y.to_lowercase())
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (x, y) if rank(x) != rank(y) => rank(x).cmp(&rank(y)),
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

/// Keeps only the listed fields (dotted paths reach into objects).
pub(crate) fn project(doc: &Value, fields: &[String]) -> Value {
    let mut out = Value::Object(Map::new());
    for path in fields {
        if let Some(value) = lookup(doc, path) {
            let _ = crate::store::set_path(&mut out, path, value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn check(dialect: Dialect, pairs: &[(&str, &str)], doc: &Value, expected: bool) {
        let query = parse(&params(pairs), dialect, 100, &[]).unwrap();
        assert_eq!(query.filter.matches(doc), expected, "{pairs:?}");
    }

    #[test]
    fn filters_follow_each_dialect() {
        let doc = json!({"username": "ada", "sudo": true, "unix_uid": 5001, "tags": ["a", "b"],
            "mfa": {"configured": false}, "password_expiration_date": "2021-10-20T10:00:00Z"});
        check(Dialect::V1, &[("filter", "username:$eq:ada")], &doc, true);
        check(Dialect::V1, &[("filter", "sudo:$eq:true")], &doc, true);
        check(Dialect::V1, &[("filter", "mfa.configured:$ne:true")], &doc, true);
        check(Dialect::V1, &[("filter", "unix_uid:$gte:5001")], &doc, true);
        check(Dialect::V1, &[("filter", "unix_uid:$lt:5001")], &doc, false);
        check(Dialect::V1, &[("filter", "password_expiration_date:$lte:2021-10-24")], &doc, true);
        check(
            Dialect::V1,
            &[("filter[0]", "username:$eq:ada"), ("filter[1]", "sudo:$eq:false")],
            &doc,
            false,
        );
        check(
            Dialect::V1,
            &[("filter[or][0]", "username:$eq:bob"), ("filter[or][1]", "sudo:$eq:true")],
            &doc,
            true,
        );
        check(Dialect::V1, &[("filter", "tags:$eq:b")], &doc, true);
        check(Dialect::V2, &[("filter", "username:in:bob|ada")], &doc, true);
        check(Dialect::V2, &[("filter", "username:search:AD")], &doc, true);
        check(Dialect::V2, &[("filter", "missing:eq:null")], &doc, true);
    }

    #[test]
    fn unsupported_queries_are_refused_naming_the_parameter() {
        for (dialect, pairs, needle) in [
            (Dialect::V1, &[("limit", "101")][..], "exceeds maximum value of 100"),
            (Dialect::V1, &[("limit", "ten")][..], "\"limit\" must be an integer"),
            (Dialect::V1, &[("limit", "0")][..], "at least 1"),
            (Dialect::V1, &[("skip", "-1")][..], "\"skip\""),
            (Dialect::V1, &[("sort", "name,-created")][..], "space-separated"),
            (Dialect::V2, &[("sort", "name -created")][..], "comma-separated"),
            (Dialect::V1, &[("filter", "username:eq:ada")][..], "start with \"$\""),
            (Dialect::V1, &[("filter", "username:$regex:a")][..], "unsupported operator"),
            (Dialect::V2, &[("filter", "name:$eq:x")][..], "no \"$\""),
            (Dialect::V2, &[("filter", "name:gte:x")][..], "ge and le"),
            (Dialect::V2, &[("filter", "name:between:a|b")][..], "between"),
            (Dialect::V2, &[("filter[0]", "name:eq:x")][..], "repeated"),
            (Dialect::Insights, &[("filter", "system_id:ne:x")][..], "only eq and in"),
            (Dialect::V1, &[("filter", "justafield")][..], "field:$op:value"),
            (Dialect::V1, &[("search", "x")][..], "search"),
        ] {
            let error = parse(&params(pairs), dialect, 100, &[]).unwrap_err();
            assert!(error.starts_with("Bad Request: "), "{error}");
            assert!(error.contains(needle), "{pairs:?}: {error}");
        }
        let error =
            parse(&params(&[("filter", "color:eq:red")]), Dialect::V2, 100, &["name"]).unwrap_err();
        assert!(error.contains("valid fields: name"), "{error}");
        let error =
            parse(&params(&[("limit", "10001")]), Dialect::Insights, 10_000, &[]).unwrap_err();
        assert!(error.contains("maximum value of 10000"), "{error}");
    }

    #[test]
    fn sorting_and_projection() {
        let docs = [json!({"n": "b", "k": 2}), json!({"n": "a", "k": 2}), json!({"k": 1})];
        let query = parse(&params(&[("sort", "-k,n")]), Dialect::V2, 100, &[]).unwrap();
        let mut sorted: Vec<&Value> = docs.iter().collect();
        sorted.sort_by(|a, b| order(a, b, &query.sort, false));
        assert_eq!(sorted, [&docs[1], &docs[0], &docs[2]]);
        let doc = json!({"_id": "1", "a": {"b": 1, "c": 2}, "d": 3});
        assert_eq!(
            project(&doc, &["_id".into(), "a.b".into()]),
            json!({"_id": "1", "a": {"b": 1}})
        );
    }
}
