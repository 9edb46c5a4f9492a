//! Reading a receiver's table of the configuration: typed fields, `${VAR}` references expanded,
//! secrets wrapped at once, unknown fields refused — each error naming its field.

use std::collections::BTreeSet;

use secrecy::SecretString;

/// A receiver field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field (`url`, `secret`).
    pub field: String,
    /// What is wrong (never the value of a secret).
    pub message: String,
}

/// Replaces `${VAR}` references in a configuration value.
pub type Expand<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// A receiver's table, read field by field.
pub struct Fields<'a> {
    table: &'a toml::Table,
    expand: Expand<'a>,
    read: BTreeSet<&'static str>,
}

impl std::fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fields").field("read", &self.read).finish_non_exhaustive()
    }
}

fn error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.to_owned(), message: message.into() }
}

impl<'a> Fields<'a> {
    /// Reads `table`; `name` and `type` are the receiver's own and always allowed.
    #[must_use]
    pub fn new(table: &'a toml::Table, expand: Expand<'a>) -> Self {
        Self { table, expand, read: BTreeSet::from(["name", "type", "rate_limit", "burst"]) }
    }

    /// An optional string, `${VAR}` expanded.
    pub fn string(&mut self, field: &'static str) -> Result<Option<String>, FieldError> {
        self.read.insert(field);
        match self.table.get(field) {
            None => Ok(None),
            Some(toml::Value::String(text)) => {
                (self.expand)(text).map(Some).map_err(|m| error(field, m))
            }
            Some(other) => {
                Err(error(field, format!("expected a string, found {}", other.type_str())))
            }
        }
    }

    /// A required string.
    pub fn required(&mut self, field: &'static str) -> Result<String, FieldError> {
        self.string(field)?.ok_or_else(|| error(field, "is required"))
    }

    /// An optional secret: expanded, then wrapped; an empty value is refused.
    pub fn secret(&mut self, field: &'static str) -> Result<Option<SecretString>, FieldError> {
        match self.string(field)? {
            None => Ok(None),
            Some(text) if text.trim().is_empty() => Err(error(field, "is empty")),
            Some(text) => Ok(Some(SecretString::from(text))),
        }
    }

    /// A required secret.
    pub fn required_secret(&mut self, field: &'static str) -> Result<SecretString, FieldError> {
        self.secret(field)?.ok_or_else(|| error(field, "is required"))
    }

    /// A required secret URL: `http://` or `https://` (the value is never shown in errors).
    pub fn secret_url(&mut self, field: &'static str) -> Result<SecretString, FieldError> {
        let text = self.required(field)?;
        if !(text.starts_with("https://") || text.starts_with("http://")) {
            return Err(error(field, "must be an http:// or https:// URL"));
        }
        Ok(SecretString::from(text))
    }

    /// An optional integer.
    pub fn integer(&mut self, field: &'static str) -> Result<Option<i64>, FieldError> {
        self.read.insert(field);
        match self.table.get(field) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) => Ok(Some(*n)),
            Some(other) => {
                Err(error(field, format!("expected an integer, found {}", other.type_str())))
            }
        }
    }

    /// An optional boolean.
    pub fn boolean(&mut self, field: &'static str) -> Result<Option<bool>, FieldError> {
        self.read.insert(field);
        match self.table.get(field) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(other) => {
                Err(error(field, format!("expected true or false, found {}", other.type_str())))
            }
        }
    }

    /// An optional list of strings, each expanded.
    pub fn strings(&mut self, field: &'static str) -> Result<Vec<String>, FieldError> {
        self.read.insert(field);
        match self.table.get(field) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    toml::Value::String(text) => {
                        (self.expand)(text).map_err(|m| error(&format!("{field}[{i}]"), m))
                    }
                    other => Err(error(
                        &format!("{field}[{i}]"),
                        format!("expected a string, found {}", other.type_str()),
                    )),
                })
                .collect(),
            Some(other) => {
                Err(error(field, format!("expected a list of strings, found {}", other.type_str())))
            }
        }
    }

    /// An optional table of strings (custom headers), each value expanded and kept secret.
    pub fn secret_table(
        &mut self,
        field: &'static str,
    ) -> Result<Vec<(String, SecretString)>, FieldError> {
        self.read.insert(field);
        match self.table.get(field) {
            None => Ok(Vec::new()),
            Some(toml::Value::Table(table)) => table
                .iter()
                .map(|(name, value)| match value {
                    toml::Value::String(text) => (self.expand)(text)
                        .map(|v| (name.clone(), SecretString::from(v)))
                        .map_err(|m| error(&format!("{field}.{name}"), m)),
                    other => Err(error(
                        &format!("{field}.{name}"),
                        format!("expected a string, found {}", other.type_str()),
                    )),
                })
                .collect(),
            Some(other) => {
                Err(error(field, format!("expected a table, found {}", other.type_str())))
            }
        }
    }

    /// Refuses the fields nothing read.
    pub fn finish(self) -> Result<(), FieldError> {
        match self.table.keys().find(|k| !self.read.contains(k.as_str())) {
            Some(unknown) => Err(error(unknown, "unknown field for this receiver type")),
            None => Ok(()),
        }
    }
}
