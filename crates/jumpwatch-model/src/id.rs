//! Identifiers: the untyped [`ResourceId`] every resource has, one typed id a kind
//! ([`UserId`](crate::UserId), [`SystemId`](crate::SystemId), ...) made by one macro, and
//! [`TenantId`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An id that is empty or holds a control character was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid id {text:?}: {reason}")]
pub struct InvalidId {
    /// The text that was refused.
    pub text: String,
    /// Why it was refused.
    pub reason: &'static str,
}

/// The id of any resource, as JumpCloud sends it (24 hexadecimal digits for most kinds), or as
/// the catalog composes it for kinds that have none of their own (see
/// [`ResourceId::composite`]).
///
/// Cheap to clone: the text is shared.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId(Arc<str>);

impl ResourceId {
    /// Makes an id from its text, refusing an empty one or one with control characters.
    pub fn new(text: impl AsRef<str>) -> Result<Self, InvalidId> {
        let text = text.as_ref();
        if text.is_empty() {
            return Err(InvalidId { text: text.to_owned(), reason: "empty" });
        }
        if text.chars().any(char::is_control) {
            return Err(InvalidId {
                text: text.to_owned(),
                reason: "contains a control character",
            });
        }
        Ok(Self(Arc::from(text)))
    }

    /// Joins several parts into one id, for kinds whose identity is several fields (a System
    /// Insights row: system id and path) or an edge (parent id and target id).
    ///
    /// Parts are joined with `:`; a `:` or `%` inside a part is percent-escaped, so distinct
    /// parts always give distinct ids.
    ///
    /// ```
    /// use jumpwatch_model::ResourceId;
    /// let id = ResourceId::composite(["64a1f0c2e4b0a1b2c3d4e5f6", "C:\\Program Files"]).unwrap();
    /// assert_eq!(id.as_str(), "64a1f0c2e4b0a1b2c3d4e5f6:C%3A\\Program Files");
    /// ```
    pub fn composite<'a>(parts: impl IntoIterator<Item = &'a str>) -> Result<Self, InvalidId> {
        let mut text = String::new();
        for (index, part) in parts.into_iter().enumerate() {
            if index > 0 {
                text.push(':');
            }
            for c in part.chars() {
                match c {
                    ':' => text.push_str("%3A"),
                    '%' => text.push_str("%25"),
                    c => text.push(c),
                }
            }
        }
        Self::new(text)
    }

    /// The id's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl FromStr for ResourceId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for ResourceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ResourceId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Serialize for ResourceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::new(&*text).map_err(serde::de::Error::custom)
    }
}

/// Declares a typed id: a [`ResourceId`] that says which kind it names, so a `UserId` can never
/// be passed where a `SystemId` is expected. Transparent in serde, `Display`, `FromStr`, `Ord`.
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name($crate::ResourceId);

        impl $name {
            /// Makes the id from its text, refusing an empty one or one with control characters.
            pub fn new(text: impl AsRef<str>) -> Result<Self, $crate::InvalidId> {
                $crate::ResourceId::new(text).map(Self)
            }

            /// The id's text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The untyped id.
            #[must_use]
            pub fn as_resource_id(&self) -> &$crate::ResourceId {
                &self.0
            }
        }

        impl From<$crate::ResourceId> for $name {
            fn from(id: $crate::ResourceId) -> Self {
                Self(id)
            }
        }

        impl From<$name> for $crate::ResourceId {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl AsRef<$crate::ResourceId> for $name {
            fn as_ref(&self) -> &$crate::ResourceId {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl $crate::TypedValue for $name {
            fn decode(value: &serde_json::Value, de: &mut $crate::Decoder) -> Option<Self> {
                $crate::ResourceId::decode(value, de).map(Self)
            }
            fn encode(&self) -> serde_json::Value {
                self.0.encode()
            }
        }
    };
}
pub(crate) use typed_id;

typed_id! {
    /// The tenant a resource belongs to: the name Jumpwatch's configuration gives a JumpCloud
    /// organization (or its org id).
    TenantId
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SystemId, UserId};

    #[test]
    fn typed_ids_are_transparent_ordered_and_parsed() {
        let id: UserId = "64a1f0c2e4b0a1b2c3d4e5f6".parse().unwrap();
        assert_eq!(id.to_string(), "64a1f0c2e4b0a1b2c3d4e5f6");
        assert_eq!(format!("{id:?}"), "UserId(\"64a1f0c2e4b0a1b2c3d4e5f6\")");
        assert_eq!(
            serde_json::to_value(&id).unwrap(),
            serde_json::json!("64a1f0c2e4b0a1b2c3d4e5f6")
        );
        let back: UserId = serde_json::from_str("\"64a1f0c2e4b0a1b2c3d4e5f6\"").unwrap();
        assert_eq!(back, id);
        assert!(UserId::new("a").unwrap() < UserId::new("b").unwrap());
        assert!("".parse::<SystemId>().is_err());
        assert!(serde_json::from_str::<SystemId>("\"a\\u0000b\"").is_err());
        // The same text names different things in different kinds; the types keep them apart.
        let system = SystemId::from(id.as_resource_id().clone());
        assert_eq!(system.as_str(), id.as_str());
    }

    #[test]
    fn composite_ids_never_collide() {
        let a = ResourceId::composite(["a:b", "c"]).unwrap();
        let b = ResourceId::composite(["a", "b:c"]).unwrap();
        assert_ne!(a, b);
        let c = ResourceId::composite(["a%3Ab", "c"]).unwrap();
        assert_ne!(a, c);
    }
}
