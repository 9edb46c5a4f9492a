//! [`Filter`]: list filters as typed values, rendered in the syntax each API wants — v1
//! `field:$op:value`, v2 `field:op:value` (with `in` values joined by `|`), System Insights `eq`
//! and `in` only.

use jumpwatch_model::catalog::Api;

use crate::Error;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
    /// One of several values (v2 and System Insights).
    In,
    /// A text search (v2).
    Search,
}

/// One filter of a list request. Several filters are combined with AND.
///
/// ```
/// use jumpwatch_api::Filter;
/// use jumpwatch_model::catalog::Api;
/// assert_eq!(Filter::eq("state", "ACTIVATED").render(Api::V1).unwrap(), "state:$eq:ACTIVATED");
/// assert_eq!(Filter::is_in("system_id", ["a", "b"]).render(Api::Insights).unwrap(), "system_id:in:a|b");
/// assert!(Filter::ge("unix_uid", "1000").render(Api::Insights).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    field: String,
    op: Op,
    values: Vec<String>,
}

impl Filter {
    /// A filter on a field.
    pub fn new(field: impl Into<String>, op: Op, value: impl Into<String>) -> Self {
        Self { field: field.into(), op, values: vec![value.into()] }
    }

    /// `field` equals `value`.
    pub fn eq(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(field, Op::Eq, value)
    }

    /// `field` differs from `value`.
    pub fn ne(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(field, Op::Ne, value)
    }

    /// `field` is greater than or equal to `value`.
    pub fn ge(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(field, Op::Ge, value)
    }

    /// `field` is less than or equal to `value`.
    pub fn le(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(field, Op::Le, value)
    }

    /// `field` is one of `values`.
    pub fn is_in<I, V>(field: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        Self {
            field: field.into(),
            op: Op::In,
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// The field.
    #[must_use]
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The filter in the syntax of `api`, or why that API cannot express it.
    pub fn render(&self, api: Api) -> Result<String, Error> {
        let refuse =
            |why: &str| Err(Error::InvalidRequest(format!("filter on `{}`: {why}", self.field)));
        if self.field.is_empty() || self.field.contains(':') {
            return refuse("a field name cannot be empty or hold `:`");
        }
        if self.values.is_empty() {
            return refuse("no value");
        }
        if self.op != Op::In && self.values.len() != 1 {
            return refuse("only `in` takes several values");
        }
        if self.op == Op::In && self.values.iter().any(|v| v.contains('|')) {
            return refuse("an `in` value cannot hold `|`");
        }
        let op = match (api, self.op) {
            (Api::V1, Op::Eq) => "$eq",
            (Api::V1, Op::Ne) => "$ne",
            (Api::V1, Op::Gt) => "$gt",
            (Api::V1, Op::Ge) => "$gte",
            (Api::V1, Op::Lt) => "$lt",
            (Api::V1, Op::Le) => "$lte",
            (Api::V1, Op::In | Op::Search) => {
                return refuse("the v1 API has no `in` or `search` filter");
            }
            (Api::Insights, Op::Eq) => "eq",
            (Api::Insights, Op::In) => "in",
            (Api::Insights, _) => return refuse("System Insights filters take only `eq` and `in`"),
            (_, Op::Eq) => "eq",
            (_, Op::Ne) => "ne",
            (_, Op::Gt) => "gt",
            (_, Op::Ge) => "ge",
            (_, Op::Lt) => "lt",
            (_, Op::Le) => "le",
            (_, Op::In) => "in",
            (_, Op::Search) => "search",
        };
        Ok(format!("{}:{op}:{}", self.field, self.values.join("|")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_api() {
        let cases = [
            (Filter::eq("username", "ada"), Api::V1, Some("username:$eq:ada")),
            (Filter::ge("created", "2026-01-01"), Api::V1, Some("created:$gte:2026-01-01")),
            (Filter::le("created", "x"), Api::V2, Some("created:le:x")),
            (Filter::ne("name", "a b"), Api::V2, Some("name:ne:a b")),
            (Filter::is_in("type", ["user", "system"]), Api::V2, Some("type:in:user|system")),
            (Filter::new("name", Op::Search, "eng"), Api::V2, Some("name:search:eng")),
            (Filter::is_in("type", ["a"]), Api::V1, None),
            (Filter::is_in("type", ["a|b"]), Api::V2, None),
            (Filter::eq("a:b", "x"), Api::V2, None),
            (Filter::is_in("system_id", Vec::<String>::new()), Api::Insights, None),
        ];
        for (filter, api, expected) in cases {
            assert_eq!(filter.render(api).ok().as_deref(), expected, "{filter:?} {api:?}");
        }
    }
}
