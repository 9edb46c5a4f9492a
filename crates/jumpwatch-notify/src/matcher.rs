//! [`Matcher`]s: tests on an alert's labels, shared by routes, silences and inhibitions.
//!
//! In the configuration a matcher is a label and a text: `rule = "jc.user.mfa"` (equal),
//! `kind = "!=system"` (not equal), `rule = "=~jc\\.user\\..*"` (regular expression, anchored),
//! `resource = "!~test-.*"` (does not match), `severity = ">=high"` (a severity at or above),
//! `fields = "any=~mfa\\..*"` (one of the label's space-separated values matches: a change's
//! changed fields). A label the alert lacks reads as the empty string.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::alert::{Alert, Severity};

/// How a label is tested.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Test {
    /// Equal to.
    Equal(String),
    /// Not equal to.
    NotEqual(String),
    /// Matches the (anchored) expression.
    Regex(Regex),
    /// Does not match the (anchored) expression.
    NotRegex(Regex),
    /// A severity at or above this one.
    AtLeast(Severity),
    /// One of the space-separated values matches the (anchored) expression.
    AnyRegex(Regex),
}

/// One label test.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label.
    pub label: String,
    /// The test.
    pub test: Test,
    text: String,
}

/// A matcher's text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("matcher {label} = {text:?}: {message}")]
pub struct MatcherError {
    /// The label.
    pub label: String,
    /// The text.
    pub text: String,
    /// Why.
    pub message: String,
}

fn anchored(label: &str, text: &str, pattern: &str) -> Result<Regex, MatcherError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| MatcherError {
        label: label.to_owned(),
        text: text.to_owned(),
        message: e.to_string(),
    })
}

impl Matcher {
    /// Parses `text` as a test of `label` (the syntax is in the module's documentation).
    pub fn parse(label: &str, text: &str) -> Result<Self, MatcherError> {
        let test = if let Some(rest) = text.strip_prefix(">=") {
            let severity = rest.parse::<Severity>().map_err(|message| MatcherError {
                label: label.to_owned(),
                text: text.to_owned(),
                message,
            })?;
            Test::AtLeast(severity)
        } else if let Some(rest) = text.strip_prefix("any=~") {
            Test::AnyRegex(anchored(label, text, rest)?)
        } else if let Some(rest) = text.strip_prefix("=~") {
            Test::Regex(anchored(label, text, rest)?)
        } else if let Some(rest) = text.strip_prefix("!~") {
            Test::NotRegex(anchored(label, text, rest)?)
        } else if let Some(rest) = text.strip_prefix("!=") {
            Test::NotEqual(rest.to_owned())
        } else {
            Test::Equal(text.strip_prefix('=').unwrap_or(text).to_owned())
        };
        Ok(Self { label: label.to_owned(), test, text: text.to_owned() })
    }

    /// Whether a label value passes.
    #[must_use]
    pub fn matches_value(&self, value: &str) -> bool {
        match &self.test {
            Test::Equal(expected) => value == expected,
            Test::NotEqual(expected) => value != expected,
            Test::Regex(regex) => regex.is_match(value),
            Test::NotRegex(regex) => !regex.is_match(value),
            Test::AtLeast(floor) => value.parse::<Severity>().is_ok_and(|s| s >= *floor),
            Test::AnyRegex(regex) => value.split_whitespace().any(|v| regex.is_match(v)),
        }
    }

    /// Whether an alert passes.
    #[must_use]
    pub fn matches(&self, alert: &Alert) -> bool {
        self.matches_value(alert.label_value(&self.label))
    }

    /// The text it was parsed from.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}", self.label, self.text)
    }
}

/// All of several matchers (none matches everything).
#[derive(Debug, Clone, Default)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Parses a label → text table.
    pub fn parse<'a>(
        table: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Self, MatcherError> {
        table.into_iter().map(|(label, text)| Matcher::parse(label, text)).collect()
    }

    /// Parses label and text pairs.
    ///
    /// ```
    /// let high = jumpwatch_notify::Matchers::pairs(&[("severity", ">=high")]).unwrap();
    /// assert!(!high.is_empty());
    /// ```
    pub fn pairs(pairs: &[(&str, &str)]) -> Result<Self, MatcherError> {
        pairs.iter().map(|(label, text)| Matcher::parse(label, text)).collect()
    }

    /// Whether an alert passes every matcher.
    #[must_use]
    pub fn matches(&self, alert: &Alert) -> bool {
        self.0.iter().all(|m| m.matches(alert))
    }

    /// Whether there is no matcher.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Label → text, as configured.
    #[must_use]
    pub fn to_table(&self) -> BTreeMap<String, String> {
        self.0.iter().map(|m| (m.label.clone(), m.text.clone())).collect()
    }
}

impl FromIterator<Matcher> for Matchers {
    fn from_iter<I: IntoIterator<Item = Matcher>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

impl Serialize for Matchers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_table().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Matchers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = BTreeMap::<String, String>::deserialize(deserializer)?;
        Self::parse(&table).map_err(serde::de::Error::custom)
    }
}
