//! [`PathPattern`]: the paths the catalog writes over raw documents (`mfa.configured`,
//! `networkInterfaces[].address`, `values[sensitive=true].value`, `config.*.value`).

use std::fmt;

/// One step of a [`PathPattern`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// An object key.
    Key(String),
    /// Any key of an object (`*`).
    AnyKey,
    /// Every element of an array (`[]`).
    Each,
    /// The elements of an array whose field equals a value (`[sensitive=true]`).
    Where {
        /// The element's field.
        field: String,
        /// The value, compared with the field's text (`true`, `42`, `sudo`).
        value: String,
    },
}

/// A path over a JSON document, as the catalog writes it.
///
/// ```
/// use jumpwatch_model::path::{PathPattern, Step};
/// let p: PathPattern = "values[sensitive=true].value".parse().unwrap();
/// assert_eq!(p.steps()[1], Step::Where { field: "sensitive".into(), value: "true".into() });
/// assert!("a..b".parse::<PathPattern>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    text: String,
    steps: Vec<Step>,
}

/// A path the catalog or configuration wrote is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path {path:?} at character {at}: {reason}")]
pub struct PathError {
    /// The path.
    pub path: String,
    /// The character offset of the problem.
    pub at: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl PathPattern {
    /// Parses a path.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let error = |at, reason| PathError { path: text.to_owned(), at, reason };
        let mut steps = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        if text.is_empty() {
            return Err(error(0, "empty path"));
        }
        while i < bytes.len() {
            // A key (or `*`) up to `.`, `[` or the end.
            let start = i;
            while i < bytes.len() && bytes[i] != b'.' && bytes[i] != b'[' {
                i += 1;
            }
            let key = &text[start..i];
            match key {
                "" => return Err(error(start, "empty key")),
                "*" => steps.push(Step::AnyKey),
                key if key.contains([']', '=']) => return Err(error(start, "stray `]` or `=`")),
                key => steps.push(Step::Key(key.to_owned())),
            }
            // Any number of `[]` or `[field=value]`.
            while i < bytes.len() && bytes[i] == b'[' {
                let open = i;
                let close = text[open..]
                    .find(']')
                    .map(|offset| open + offset)
                    .ok_or_else(|| error(open, "unclosed `[`"))?;
                let inner = &text[open + 1..close];
                if inner.is_empty() {
                    steps.push(Step::Each);
                } else {
                    let (field, value) = inner
                        .split_once('=')
                        .ok_or_else(|| error(open, "expected `[field=value]`"))?;
                    if field.is_empty() || value.is_empty() {
                        return Err(error(open, "expected `[field=value]`"));
                    }
                    steps.push(Step::Where { field: field.to_owned(), value: value.to_owned() });
                }
                i = close + 1;
            }
            if i < bytes.len() {
                if bytes[i] != b'.' {
                    return Err(error(i, "expected `.` or `[`"));
                }
                i += 1;
                if i == bytes.len() {
                    return Err(error(i, "path ends with `.`"));
                }
            }
        }
        Ok(Self { text: text.to_owned(), steps })
    }

    /// The steps.
    #[must_use]
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The path as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::str::FromStr for PathPattern {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Appends an object key to a rendered path: `.key` for plain keys (no dot at the start of an
/// empty path), `["odd key"]` for the others. Shared by decode issues and change paths.
pub fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'));
    if plain {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    } else {
        out.push_str("[\"");
        out.push_str(&key.replace('\\', "\\\\").replace('"', "\\\""));
        out.push_str("\"]");
    }
}

/// Appends an array index to a rendered path: `[3]`.
pub fn push_index(out: &mut String, index: usize) {
    out.push('[');
    out.push_str(&index.to_string());
    out.push(']');
}

/// The text a `[field=value]` step compares with: strings as they are, other scalars as JSON.
pub(crate) fn match_text(value: &serde_json::Value) -> Option<std::borrow::Cow<'_, str>> {
    use serde_json::Value;
    match value {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(text: &str) -> Vec<Step> {
        PathPattern::parse(text).unwrap().steps
    }

    #[test]
    fn parses_every_form() {
        use Step::*;
        let k = |s: &str| Key(s.to_owned());
        assert_eq!(steps("lastContact"), vec![k("lastContact")]);
        assert_eq!(steps("mfa.configured"), vec![k("mfa"), k("configured")]);
        assert_eq!(steps("a[].b"), vec![k("a"), Each, k("b")]);
        assert_eq!(steps("a[][]"), vec![k("a"), Each, Each]);
        assert_eq!(steps("config.*.value"), vec![k("config"), AnyKey, k("value")]);
        assert_eq!(
            steps("values[sensitive=true].value"),
            vec![
                k("values"),
                Where { field: "sensitive".into(), value: "true".into() },
                k("value")
            ]
        );
    }

    #[test]
    fn refuses_malformed_paths_and_says_where() {
        for (text, at) in [("", 0), ("a..b", 2), ("a.", 2), ("a[", 1), ("a[x]", 1), ("a[]b", 3)] {
            let error = PathPattern::parse(text).unwrap_err();
            assert_eq!(error.at, at, "{text}: {error}");
        }
    }
}
