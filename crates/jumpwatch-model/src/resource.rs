//! [`Resource`]: one JumpCloud object (or relation edge) as a raw, lossless JSON document with
//! its kind, id and display name.

use serde_json::Value;

use crate::catalog::IdSpec;
use crate::path::match_text;
use crate::typed::{DecodeError, Decoded, TypedResource, decode};
use crate::{InvalidId, ResourceId, ResourceKind};

/// One resource of a tenant.
///
/// The raw document is the canonical form: a field the catalog does not know is never lost.
/// Typed access is a view: [`Resource::typed`].
///
/// ```
/// use jumpwatch_model::{Resource, ResourceKind, types::User};
/// let doc = serde_json::json!({"_id": "64a1f0c2e4b0a1b2c3d4e5f6", "username": "ada", "sudo": true});
/// let user = Resource::from_doc(ResourceKind::User, doc).unwrap();
/// assert_eq!(user.id.as_str(), "64a1f0c2e4b0a1b2c3d4e5f6");
/// assert_eq!(user.name.as_deref(), Some("ada"));
/// assert_eq!(user.typed::<User>().unwrap().sudo, Some(true));
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Resource {
    /// The kind.
    pub kind: ResourceKind,
    /// The id, unique within the kind (and the parent, for child kinds).
    pub id: ResourceId,
    /// The display name, from the catalog's `name_field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The parent's id, for child collections and relations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ResourceId>,
    /// The document as the API sent it.
    pub doc: Value,
}

/// A document could not be made into a resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// The document is not a JSON object.
    #[error("{kind}: the document is not a JSON object")]
    NotAnObject {
        /// The kind.
        kind: ResourceKind,
    },
    /// The id field is missing, null, or not a string or number.
    #[error("{kind}: no usable id at $.{path}")]
    MissingId {
        /// The kind.
        kind: ResourceKind,
        /// The path of the id field.
        path: &'static str,
    },
    /// The id is empty or has control characters.
    #[error("{kind}: {source}")]
    InvalidId {
        /// The kind.
        kind: ResourceKind,
        /// What was wrong with it.
        source: InvalidId,
    },
    /// A child kind or relation was made without its parent's id.
    #[error("{kind}: a {kind} is listed per parent and needs the parent's id")]
    MissingParent {
        /// The kind.
        kind: ResourceKind,
    },
    /// A relation's other end is not of the catalog's type (`to.type` is not `user`).
    #[error("{kind}: the other end at $.{path} is {found:?}, expected {expected:?}")]
    WrongTarget {
        /// The kind.
        kind: ResourceKind,
        /// The path of the type field.
        path: &'static str,
        /// The type the catalog expects.
        expected: &'static str,
        /// The type found.
        found: String,
    },
    /// [`Resource::typed`] was asked for the struct of another kind.
    #[error("a {actual} resource cannot be read as a {requested}")]
    KindMismatch {
        /// The kind of the struct asked for.
        requested: ResourceKind,
        /// The resource's kind.
        actual: ResourceKind,
    },
    /// The typed view could not be made.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl Resource {
    /// Makes a resource of a top-level kind from its document, taking the id and the display
    /// name where the catalog says they are.
    pub fn from_doc(kind: ResourceKind, doc: Value) -> Result<Self, ResourceError> {
        Self::build(kind, None, doc)
    }

    /// Makes a resource of a child kind or relation, listed under `parent`.
    pub fn from_child_doc(
        kind: ResourceKind,
        parent: ResourceId,
        doc: Value,
    ) -> Result<Self, ResourceError> {
        Self::build(kind, Some(parent), doc)
    }

    fn build(
        kind: ResourceKind,
        parent: Option<ResourceId>,
        doc: Value,
    ) -> Result<Self, ResourceError> {
        let meta = kind.meta();
        if !doc.is_object() {
            return Err(ResourceError::NotAnObject { kind });
        }
        if meta.parent.is_some() && parent.is_none() {
            return Err(ResourceError::MissingParent { kind });
        }
        let invalid = |source| ResourceError::InvalidId { kind, source };
        let id = match meta.id {
            IdSpec::Field(field) => {
                let text =
                    id_text(&doc, field).ok_or(ResourceError::MissingId { kind, path: field })?;
                ResourceId::new(&*text).map_err(invalid)?
            }
            IdSpec::Composite(fields) => {
                let mut parts = Vec::with_capacity(fields.len());
                for field in fields {
                    parts.push(
                        id_text(&doc, field)
                            .ok_or(ResourceError::MissingId { kind, path: field })?,
                    );
                }
                ResourceId::composite(parts.iter().map(|p| &**p)).map_err(invalid)?
            }
            IdSpec::Relation => {
                let relation = meta.relation.ok_or(ResourceError::MissingParent { kind })?;
                if let (Some(path), Some(expected)) = (relation.to_type, relation.to_type_value) {
                    let found = id_text(&doc, path).unwrap_or_default();
                    if found != expected {
                        return Err(ResourceError::WrongTarget {
                            kind,
                            path,
                            expected,
                            found: found.into_owned(),
                        });
                    }
                }
                let to = id_text(&doc, relation.to_id)
                    .ok_or(ResourceError::MissingId { kind, path: relation.to_id })?;
                let from = parent.as_ref().ok_or(ResourceError::MissingParent { kind })?;
                ResourceId::composite([from.as_str(), &*to]).map_err(invalid)?
            }
        };
        let name = meta
            .name_field
            .and_then(|field| lookup(&doc, field))
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .map(str::to_owned);
        Ok(Self { kind, id, name, parent, doc })
    }

    /// The typed view of the document.
    pub fn typed<T: TypedResource>(&self) -> Result<T, ResourceError> {
        self.typed_with_issues().map(|decoded| decoded.value)
    }

    /// The typed view, with every value that did not have its catalog type (kept as sent in the
    /// struct's `extra`) reported with its JSON path.
    pub fn typed_with_issues<T: TypedResource>(&self) -> Result<Decoded<T>, ResourceError> {
        if T::KIND != self.kind {
            return Err(ResourceError::KindMismatch { requested: T::KIND, actual: self.kind });
        }
        Ok(decode::<T>(&self.doc)?)
    }

    /// The value at a dotted path of the document (`mfa.configured`), if any.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<&Value> {
        lookup(&self.doc, path)
    }

    /// For a relation: the id of the other end.
    #[must_use]
    pub fn target(&self) -> Option<ResourceId> {
        let relation = self.kind.meta().relation?;
        id_text(&self.doc, relation.to_id).and_then(|text| ResourceId::new(&*text).ok())
    }
}

/// The value at a dotted path.
pub(crate) fn lookup<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(doc, |value, key| value.get(key))
}

fn id_text<'v>(doc: &'v Value, path: &str) -> Option<std::borrow::Cow<'v, str>> {
    lookup(doc, path).filter(|v| v.is_string() || v.is_number()).and_then(match_text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_come_from_the_catalog() {
        let user = Resource::from_doc(ResourceKind::User, json!({"_id": "u1"})).unwrap();
        assert_eq!(user.id.as_str(), "u1");
        assert_eq!(user.name, None);
        let error = Resource::from_doc(ResourceKind::User, json!({"id": "u1"})).unwrap_err();
        assert_eq!(error, ResourceError::MissingId { kind: ResourceKind::User, path: "_id" });
        let error = Resource::from_doc(ResourceKind::User, json!([1])).unwrap_err();
        assert!(matches!(error, ResourceError::NotAnObject { .. }));
        let error = Resource::from_doc(ResourceKind::User, json!({"_id": ""})).unwrap_err();
        assert!(error.to_string().contains("empty"), "{error}");
    }

    #[test]
    fn relations_take_their_id_from_both_ends() {
        let group = ResourceId::new("g1").unwrap();
        let doc = json!({"to": {"id": "u1", "type": "user"}});
        let edge =
            Resource::from_child_doc(ResourceKind::UserGroupMember, group.clone(), doc).unwrap();
        assert_eq!(edge.id.as_str(), "g1:u1");
        assert_eq!(edge.target().unwrap().as_str(), "u1");
        let doc = json!({"to": {"id": "s1", "type": "system"}});
        let error =
            Resource::from_child_doc(ResourceKind::UserGroupMember, group, doc).unwrap_err();
        assert!(matches!(error, ResourceError::WrongTarget { .. }), "{error}");
        let error = Resource::from_doc(ResourceKind::UserGroupMember, json!({})).unwrap_err();
        assert!(matches!(error, ResourceError::MissingParent { .. }));
    }

    #[test]
    fn typed_refuses_another_kinds_struct() {
        let user = Resource::from_doc(ResourceKind::User, json!({"_id": "u1"})).unwrap();
        let error = user.typed::<crate::types::System>().unwrap_err();
        assert!(matches!(error, ResourceError::KindMismatch { .. }));
    }
}
