//! What a rule's expressions read of the subject (`r`) and of its relations (`rel`), found in
//! their syntax trees, so that a state evaluation converts only that much of each document to
//! CEL.
//!
//! A [`Demand`] is a tree of field names. A field read by name (`r.mfa.configured`, `has(r.mfa)`)
//! is a branch; a value used in any other way — compared, passed to a function, put in a list,
//! returned — is needed whole. What a comprehension reads of the elements it iterates over is a
//! branch of its own: `rel.policies.exists(p, p.template.name)` demands `template.name` of each
//! policy, and so does a document's array iterated the same way. A value iterated or measured
//! (`size`) may be an object, whose keys are then all needed: it then converts whole.
//!
//! The analysis is conservative: anything it does not recognise demands the value whole, so a
//! condition always sees the same values as with the whole document.

use std::collections::BTreeMap;

use cel::common::ast::{CallExpr, EntryExpr, Expr};
use cel::parser::Expression;

/// What is read of a value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Demand {
    /// All of it.
    #[default]
    All,
    /// These fields, each with what is read of it.
    Fields {
        /// The fields read by name.
        fields: BTreeMap<String, Demand>,
        /// Whether the value is iterated over or measured: an object is then needed whole (its
        /// keys); an array keeps its every element.
        collection: bool,
        /// What is read of each element, when the value is iterated over.
        each: Option<Box<Demand>>,
    },
}

/// The demand of a value read whole.
pub(crate) static ALL: Demand = Demand::All;

/// The demand of a value not read.
pub(crate) static NONE: Demand = Demand::none();

impl Demand {
    /// Nothing read (yet).
    pub(crate) const fn none() -> Self {
        Self::Fields { fields: BTreeMap::new(), collection: false, each: None }
    }

    /// Whether an object is needed whole: read whole, or iterated over or measured (its keys).
    pub(crate) const fn whole_object(&self) -> bool {
        match self {
            Self::All => true,
            Self::Fields { collection, each, .. } => *collection || each.is_some(),
        }
    }

    /// What is read of the member `name` of an object: `None` when it is not read; everything
    /// when the object is needed whole.
    pub(crate) fn member(&self, name: &str) -> Option<&Self> {
        match self {
            Self::Fields { fields, .. } if !self.whole_object() => fields.get(name),
            _ => Some(&ALL),
        }
    }

    /// What is read of each element of a list.
    pub(crate) fn element(&self) -> &Self {
        match self {
            Self::All => &ALL,
            Self::Fields { each, .. } => each.as_deref().unwrap_or(&NONE),
        }
    }

    /// Adds what `other` reads.
    pub(crate) fn union(&mut self, other: &Self) {
        match (&mut *self, other) {
            (Self::All, _) => {}
            (_, Self::All) => *self = Self::All,
            (
                Self::Fields { fields, collection, each },
                Self::Fields { fields: more, collection: more_collection, each: more_each },
            ) => {
                *collection |= *more_collection;
                for (name, demand) in more {
                    fields.entry(name.clone()).or_insert_with(Self::none).union(demand);
                }
                if let Some(more_each) = more_each {
                    each.get_or_insert_with(|| Box::new(Self::none())).union(more_each);
                }
            }
        }
    }

    /// Adds `leaf` at `path`.
    fn add(&mut self, path: &[Step], leaf: &Self) {
        match self {
            Self::All => {}
            Self::Fields { fields, each, .. } => match path.split_first() {
                None => self.union(leaf),
                Some((Step::Field(name), rest)) => {
                    fields.entry(name.clone()).or_insert_with(Self::none).add(rest, leaf);
                }
                Some((Step::Each, rest)) => {
                    each.get_or_insert_with(|| Box::new(Self::none())).add(rest, leaf);
                }
            },
        }
    }
}

/// What a rule's expressions read of `r` and of `rel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reads {
    /// Of the subject, `r`.
    pub subject: Demand,
    /// Of the relations, `rel`: relation names, then what is read of each (of each element of
    /// a list; of each row of an `insights` table).
    pub rel: Demand,
}

impl Default for Reads {
    fn default() -> Self {
        Self { subject: Demand::none(), rel: Demand::none() }
    }
}

impl Reads {
    /// Adds what `expression` reads.
    pub(crate) fn add(&mut self, expression: &Expression) {
        let scope = Scope::Root;
        let found = walk(expression, &scope, self);
        self.whole(found);
    }

    /// Adds what `other` reads.
    pub(crate) fn union(&mut self, other: &Self) {
        self.subject.union(&other.subject);
        self.rel.union(&other.rel);
    }

    fn demand(&mut self, root: Root) -> &mut Demand {
        match root {
            Root::Subject => &mut self.subject,
            Root::Rel => &mut self.rel,
        }
    }

    /// A value used whole.
    fn whole(&mut self, tracked: Option<Tracked>) {
        if let Some(tracked) = tracked {
            self.demand(tracked.root).add(&tracked.path, &Demand::All);
        }
    }

    /// A value iterated over or measured.
    fn collection(&mut self, tracked: &Tracked) {
        let leaf = Demand::Fields { fields: BTreeMap::new(), collection: true, each: None };
        self.demand(tracked.root).add(&tracked.path, &leaf);
    }

    /// A value whose presence is tested.
    fn present(&mut self, tracked: &Tracked) {
        self.demand(tracked.root).add(&tracked.path, &Demand::none());
    }
}

/// The variables whose values are followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Subject,
    Rel,
}

/// A step of a path: a field, or each element of a collection iterated over.
#[derive(Debug, Clone)]
enum Step {
    Field(String),
    Each,
}

/// A value that is part of `r` or `rel`: its path from there.
#[derive(Debug, Clone)]
struct Tracked {
    root: Root,
    path: Vec<Step>,
}

/// The comprehension variables in scope, each with what is known of it (`T`): they shadow the
/// outer ones and the rule's own variables. The compiler ([`crate::compile`]) resolves names
/// with it too.
pub(crate) enum Scope<'s, T> {
    /// No comprehension variable.
    Root,
    /// `name`, bound inside `outer`.
    Bound { name: &'s str, value: T, outer: &'s Scope<'s, T> },
}

impl<T> Scope<'_, T> {
    /// The innermost comprehension variable named `wanted`, if one is.
    pub(crate) fn bound(&self, wanted: &str) -> Option<&T> {
        match self {
            Scope::Root => None,
            Scope::Bound { name, value, outer } => {
                if *name == wanted {
                    Some(value)
                } else {
                    outer.bound(wanted)
                }
            }
        }
    }
}

impl Scope<'_, Option<Tracked>> {
    fn lookup(&self, wanted: &str) -> Option<Tracked> {
        match self.bound(wanted) {
            Some(value) => value.clone(),
            None => match wanted {
                "r" => Some(Tracked { root: Root::Subject, path: Vec::new() }),
                "rel" => Some(Tracked { root: Root::Rel, path: Vec::new() }),
                _ => None,
            },
        }
    }
}

/// The operand of `size(x)` or `x.size()`.
pub(crate) fn size_operand(call: &CallExpr) -> Option<&Expression> {
    match (&call.target, call.args.as_slice()) {
        (None, [only]) if call.func_name == "size" => Some(only),
        (Some(only), []) if call.func_name == "size" => Some(&**only),
        _ => None,
    }
}

/// Records what `expression` reads, and returns the value it is when that is part of `r` or
/// `rel` (for its user to say how it is read).
fn walk(
    expression: &Expression,
    scope: &Scope<'_, Option<Tracked>>,
    reads: &mut Reads,
) -> Option<Tracked> {
    match &expression.expr {
        Expr::Unspecified | Expr::Literal(_) => None,
        Expr::Ident(name) => scope.lookup(name),
        Expr::Select(select) => {
            let mut tracked = walk(&select.operand, scope, reads)?;
            tracked.path.push(Step::Field(select.field.clone()));
            if select.test {
                reads.present(&tracked);
                None
            } else {
                Some(tracked)
            }
        }
        Expr::Call(call) => {
            match size_operand(call) {
                Some(operand) => {
                    if let Some(tracked) = walk(operand, scope, reads) {
                        reads.collection(&tracked);
                    }
                }
                None => {
                    for argument in call.target.iter().map(|t| &**t).chain(&call.args) {
                        let found = walk(argument, scope, reads);
                        reads.whole(found);
                    }
                }
            }
            None
        }
        Expr::List(list) => {
            for element in &list.elements {
                let found = walk(element, scope, reads);
                reads.whole(found);
            }
            None
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                let (key, value) = match &entry.expr {
                    EntryExpr::MapEntry(e) => (Some(&e.key), &e.value),
                    EntryExpr::StructField(f) => (None, &f.value),
                };
                for part in key.into_iter().chain([value]) {
                    let found = walk(part, scope, reads);
                    reads.whole(found);
                }
            }
            None
        }
        Expr::Struct(structure) => {
            for entry in &structure.entries {
                let value = match &entry.expr {
                    EntryExpr::MapEntry(e) => &e.value,
                    EntryExpr::StructField(f) => &f.value,
                };
                let found = walk(value, scope, reads);
                reads.whole(found);
            }
            None
        }
        Expr::Comprehension(comprehension) => {
            let range = walk(&comprehension.iter_range, scope, reads);
            let element = match range {
                Some(mut range) if comprehension.iter_var2.is_none() => {
                    reads.collection(&range);
                    range.path.push(Step::Each);
                    Some(range)
                }
                other => {
                    reads.whole(other);
                    None
                }
            };
            let found = walk(&comprehension.accu_init, scope, reads);
            reads.whole(found);
            let accumulator =
                Scope::Bound { name: &comprehension.accu_var, value: None, outer: scope };
            let iterated =
                Scope::Bound { name: &comprehension.iter_var, value: element, outer: &accumulator };
            let second = comprehension.iter_var2.as_deref().map(|name| Scope::Bound {
                name,
                value: None,
                outer: &iterated,
            });
            let inner = second.as_ref().unwrap_or(&iterated);
            for part in [&comprehension.loop_cond, &comprehension.loop_step] {
                let found = walk(part, inner, reads);
                reads.whole(found);
            }
            // The result sees the accumulator, not the element.
            let found = walk(&comprehension.result, &accumulator, reads);
            reads.whole(found);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use cel::Env;

    use super::*;

    fn reads(expressions: &[&str]) -> Reads {
        let env = Env::stdlib();
        let mut reads = Reads::default();
        for expression in expressions {
            reads.add(env.compile(expression).unwrap().expression());
        }
        reads
    }

    fn fields(entries: &[(&str, Demand)]) -> Demand {
        Demand::Fields {
            fields: entries.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            collection: false,
            each: None,
        }
    }

    /// Iterated over (or measured, without `each`).
    fn iterated(each: Option<Demand>) -> Demand {
        Demand::Fields { fields: BTreeMap::new(), collection: true, each: each.map(Box::new) }
    }

    #[test]
    fn fields_read_by_name() {
        let found = reads(&["has(r.mfa) && r.mfa.configured == true", "r.username"]);
        let want =
            fields(&[("mfa", fields(&[("configured", Demand::All)])), ("username", Demand::All)]);
        assert_eq!(found.subject, want);
        assert_eq!(found.rel, Demand::none());
    }

    #[test]
    fn elements_iterated_over() {
        let found = reads(&[
            "rel.policies.exists(p, has(p.template) && re(p.template.name, 'x') && p.template.os == r.osFamily)",
            "size(rel.systems) > 0 && rel.groups.all(r, r.name != '')",
        ]);
        assert_eq!(found.subject, fields(&[("osFamily", Demand::All)]));
        let want = fields(&[
            (
                "policies",
                iterated(Some(fields(&[(
                    "template",
                    fields(&[("name", Demand::All), ("os", Demand::All)]),
                )]))),
            ),
            ("systems", iterated(None)),
            ("groups", iterated(Some(fields(&[("name", Demand::All)])))),
        ]);
        assert_eq!(found.rel, want);
        assert_eq!(found.rel.member("systems").map(Demand::element), Some(&NONE));
        let groups = found.rel.member("groups").map(Demand::element);
        assert_eq!(groups, Some(&fields(&[("name", Demand::All)])));
    }

    #[test]
    fn anything_else_reads_the_value_whole() {
        for (expression, subject) in [
            ("r == {}", Demand::All),
            ("size(r) > 1", iterated(None)),
            (
                "r.tags.filter(t, t == 'a').size() > 0",
                fields(&[("tags", iterated(Some(Demand::All)))]),
            ),
            ("(true ? r : r).x == 1", Demand::All),
            ("r.?x.orValue(1) == 1", Demand::All),
            ("[r.a][0].b == 1", fields(&[("a", Demand::All)])),
            ("r.m.exists(k, true)", fields(&[("m", iterated(None))])),
        ] {
            assert_eq!(reads(&[expression]).subject, subject, "{expression}");
        }
        assert_eq!(reads(&["size(rel) == 0"]).rel, iterated(None));
    }

    #[test]
    fn objects_iterated_over_or_measured_are_read_whole() {
        let some = fields(&[("a", fields(&[]))]);
        assert!(!some.whole_object());
        assert_eq!(some.member("a"), Some(&fields(&[])));
        assert_eq!(some.member("b"), None);
        for whole in [iterated(None), iterated(Some(Demand::none())), Demand::All] {
            assert!(whole.whole_object());
            assert_eq!(whole.member("b"), Some(&Demand::All));
        }
    }
}
