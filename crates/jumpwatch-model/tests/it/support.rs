//! Helpers shared by the tests: resources from the catalog's examples.

use jumpwatch_model::{Resource, ResourceError, ResourceId, ResourceKind};
use serde_json::Value;

/// The parent id given to child kinds and relations in tests.
pub(crate) const PARENT: &str = "5f0000000000000000000001";

/// A resource of `kind` from a document, with a parent when the kind needs one.
pub(crate) fn resource(kind: ResourceKind, doc: Value) -> Result<Resource, ResourceError> {
    match kind.meta().parent {
        Some(_) => Resource::from_child_doc(kind, ResourceId::new(PARENT).unwrap(), doc),
        None => Resource::from_doc(kind, doc),
    }
}

/// Every example document of the catalog: `(kind, example name, document)`.
pub(crate) fn examples() -> Vec<(ResourceKind, &'static str, Value)> {
    let mut out = Vec::new();
    for kind in ResourceKind::ALL {
        for (name, json) in kind.meta().examples {
            let doc: Value =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{kind} example {name}: {e}"));
            out.push((*kind, *name, doc));
        }
    }
    out
}
