//! Conditions compiled to Rust closures that read the JSON documents themselves: the common
//! shapes of the pack's CEL — field reads and `has`, comparisons, `&&` `||` `!` and `?:`, `in`,
//! `size`, `exists` and `all` over lists and relations, `age`, `days`, `hours`, `re`, `lower` —
//! judged with no CEL value built and no interpreter.
//!
//! The compiled code gives a value only where CEL is certain to give the same one. Anything else
//! — a shape the compiler does not know, a missing field (CEL's error text becomes the reason of
//! an `unknown`), types it does not compare — stops it ([`Stop`]), and the caller asks the
//! interpreter, which has the last word. An unknown sub-expression costs only the cases that
//! reach it: in `has(r.x) && f(r.x)` the documents without `x` never ask CEL.
//!
//! Names resolve as in [`crate::demand`], with its [`Scope`]: comprehension variables shadow
//! `r`, `rel`, `org` and `params`; `params` are constants, read once when the rule is compiled.

use std::cell::{Cell, OnceCell, RefCell};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use cel::common::ast::{CallExpr, ComprehensionExpr, Expr, LiteralValue, SelectExpr};
use cel::parser::Expression;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::demand::{Demand, Scope, size_operand};
use crate::eval::{Patterns, cidr_prefix, parse_time};
use crate::pack::{CelRule, Condition, MessagePart};
use crate::relations::AddressHasher;

/// Why compiled code gives no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// CEL gives an error here (which one, only CEL can say).
    Error,
    /// Beyond what is compiled: only CEL knows what it gives.
    Defer,
}

type Out<'f> = Result<V<'f>, Stop>;

/// A value as compiled code sees it: borrowed from the documents where it can be.
#[derive(Clone)]
pub(crate) enum V<'f> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'f str),
    String(String),
    Duration(TimeDelta),
    /// A JSON array.
    Array(&'f [Value]),
    /// A JSON object, or a related document with what the relation adds to it.
    Object(Obj<'f>),
    /// A relation's documents.
    List(&'f [Obj<'f>]),
    /// `rel`.
    Rel(&'f dyn RelView<'f>),
    /// `rel.insights`: rows by table.
    Tables(&'f [(&'static str, Vec<Obj<'f>>)]),
}

impl<'f> V<'f> {
    /// A JSON value (CEL's `null` for JSON `null`).
    pub(crate) fn json(value: &'f Value) -> Self {
        match value {
            Value::Null => V::Null,
            Value::Bool(b) => V::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => V::Int(i),
                (None, Some(u)) => V::UInt(u),
                (None, None) => V::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => V::Str(s),
            Value::Array(items) => V::Array(items),
            Value::Object(_) => V::Object(Obj::plain(value)),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            V::Str(s) => Some(s),
            V::String(s) => Some(s),
            _ => None,
        }
    }

    fn scalar(&self) -> S<'_> {
        match self {
            V::Null => S::Null,
            V::Bool(b) => S::Bool(*b),
            V::Int(i) => S::Int(*i),
            V::UInt(_) | V::Float(_) => S::Other,
            V::Str(s) => S::Str(s),
            V::String(s) => S::Str(s),
            V::Duration(d) => S::Duration(*d),
            V::Array(_) | V::Object(_) | V::List(_) | V::Rel(_) | V::Tables(_) => S::Compound,
        }
    }

    /// `self.name`: `None` when a map has no such key.
    fn member(&self, name: &str) -> Result<Option<V<'f>>, Stop> {
        match self {
            V::Object(object) => Ok(object.get(name)),
            V::Rel(rel) => rel.relation(name),
            V::Tables(tables) => Ok(tables
                .iter()
                .find(|(table, _)| *table == name)
                .map(|(_, rows)| V::List(rows.as_slice()))),
            _ => Err(Stop::Defer),
        }
    }

    /// The elements of a list, one at a time, until `each` says stop.
    fn each(&self, mut each: impl FnMut(V<'f>) -> Option<Out<'f>>) -> Out<'f> {
        match self {
            V::Array(items) => {
                for item in *items {
                    if let Some(out) = each(V::json(item)) {
                        return out;
                    }
                }
            }
            V::List(items) => {
                for item in *items {
                    if let Some(out) = each(V::Object(*item)) {
                        return out;
                    }
                }
            }
            _ => return Err(Stop::Defer),
        }
        Ok(V::Null)
    }
}

/// A document: a JSON object, and for a related document what the relation adds (the bound
/// resource of a binding, the groups a policy comes through). What is added wins, as in
/// [`crate::value::cel_merged`].
#[derive(Clone, Copy)]
pub(crate) struct Obj<'f> {
    pub(crate) doc: &'f Value,
    pub(crate) extra: Extra<'f>,
    /// A document that the relations of many subjects share (a policy, a group): what compiled
    /// code works out from it alone is kept in the [`Memo`].
    pub(crate) shared: bool,
}

/// What a relation adds to a document.
#[derive(Clone, Copy)]
pub(crate) enum Extra<'f> {
    None,
    /// The resource at the other end, under a name.
    Doc(&'static str, &'f Value),
    /// `via_group` and `via_policy_group`.
    Vias(Option<&'f str>, Option<&'f str>),
}

impl<'f> Obj<'f> {
    pub(crate) const fn plain(doc: &'f Value) -> Self {
        Self { doc, extra: Extra::None, shared: false }
    }

    /// A document that many subjects' relations share.
    pub(crate) const fn shared(doc: &'f Value, extra: Extra<'f>) -> Self {
        Self { doc, extra, shared: true }
    }

    fn get(&self, name: &str) -> Option<V<'f>> {
        match self.extra {
            Extra::None => {}
            Extra::Doc(key, other) if key == name => return Some(V::json(other)),
            Extra::Doc(..) => {}
            Extra::Vias(group, policy_group) => {
                let added = match name {
                    "via_group" => group,
                    "via_policy_group" => policy_group,
                    _ => None,
                };
                if let Some(added) = added {
                    return Some(V::Str(added));
                }
            }
        }
        self.doc.get(name).filter(|v| !v.is_null()).map(V::json)
    }

    /// The number of entries (those of a plain object only).
    fn size(&self) -> Option<usize> {
        match (self.extra, self.doc) {
            (Extra::None, Value::Object(map)) => {
                Some(map.values().filter(|v| !v.is_null()).count())
            }
            _ => None,
        }
    }
}

/// A relation computed for compiled code.
pub(crate) enum Related<'f> {
    One(Obj<'f>),
    List(Vec<Obj<'f>>),
    Tables(Vec<(&'static str, Vec<Obj<'f>>)>),
}

impl<'f> Related<'f> {
    pub(crate) fn value(&'f self) -> V<'f> {
        match self {
            Related::One(one) => V::Object(*one),
            Related::List(items) => V::List(items),
            Related::Tables(tables) => V::Tables(tables),
        }
    }
}

/// `rel` as compiled code reads it.
pub(crate) trait RelView<'f> {
    /// `rel.<name>`: `None` when `rel` has no such entry.
    fn relation(&'f self, name: &str) -> Result<Option<V<'f>>, Stop>;
}

/// `rel` given as a JSON document (a rule's test case).
pub(crate) struct JsonRel<'f>(pub(crate) &'f Value);

impl<'f> RelView<'f> for JsonRel<'f> {
    fn relation(&'f self, name: &str) -> Result<Option<V<'f>>, Stop> {
        match self.0 {
            Value::Object(map) => Ok(map.get(name).filter(|v| !v.is_null()).map(V::json)),
            _ => Err(Stop::Defer),
        }
    }
}

/// What compiled code reads: the rule's variables.
pub(crate) struct Frame<'f> {
    pub(crate) r: &'f Value,
    /// The fields of `r` its kind's rules read by name ([`Fields`]), each looked up once.
    pub(crate) fields: &'f [OnceCell<Option<&'f Value>>],
    /// `None` where `rel` is not read natively.
    pub(crate) rel: Option<&'f dyn RelView<'f>>,
    pub(crate) org: Option<&'f Value>,
    pub(crate) now: DateTime<Utc>,
    /// Where the values worked out from shared documents are kept (`None`: nowhere).
    pub(crate) memo: Option<&'f Memo>,
}

/// Which shared document (with what its relation adds) a memoized expression read, and which
/// expression it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct MemoKey {
    /// The address of the expression's compiled code.
    code: usize,
    doc: usize,
    /// What the relation adds: its variant, and the addresses of what it names when the
    /// expression reads them.
    extra: [usize; 3],
}

impl MemoKey {
    /// The key of `code` on `object`; `added` when the code reads a name that a relation adds
    /// (else only whether something is added matters: a document with additions has no size).
    fn new(code: &Code, object: &Obj<'_>, added: bool) -> Self {
        let at = |text: Option<&str>| text.map_or(0, |t| t.as_ptr() as usize);
        let extra = match object.extra {
            Extra::None => [0, 0, 0],
            Extra::Doc(key, other) if added => [1, key.as_ptr() as usize, address(other)],
            Extra::Vias(group, policy_group) if added => [2, at(group), at(policy_group)],
            Extra::Doc(..) => [1, 0, 0],
            Extra::Vias(..) => [2, 0, 0],
        };
        Self { code: std::ptr::from_ref(code) as usize, doc: address(object.doc), extra }
    }
}

/// The names under which a relation adds something to a document ([`Extra`]).
const ADDED: [&str; 5] = ["via_group", "via_policy_group", "user", "system", "policy"];

/// Whether `expression` selects a field named one of `names` (anywhere in it).
fn selects(expression: &Expression, names: &[&str]) -> bool {
    match &expression.expr {
        Expr::Select(select) => {
            names.contains(&select.field.as_str()) || selects(&select.operand, names)
        }
        Expr::Call(call) => {
            call.target.iter().any(|t| selects(t, names))
                || call.args.iter().any(|a| selects(a, names))
        }
        Expr::List(list) => list.elements.iter().any(|e| selects(e, names)),
        Expr::Comprehension(c) => {
            [&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result]
                .into_iter()
                .any(|e| selects(e, names))
        }
        // Maps and structs are not memoized: whatever they read, assume the worst.
        Expr::Map(_) | Expr::Struct(_) => true,
        _ => false,
    }
}

fn address<T>(value: &T) -> usize {
    std::ptr::from_ref(value) as usize
}

/// The values of the conditions' parts that read nothing but one comprehension variable, for
/// the shared documents that variable took: a policy that applies to every device is matched
/// against a rule's template pattern once, not once a device.
///
/// It must not outlive the compiled code or the documents its keys are the addresses of: an
/// evaluation keeps one for one kind's compiled rules.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    values: RefCell<HashMap<MemoKey, Result<bool, Stop>, BuildAddressHasher>>,
    /// The instants of the documents' timestamps, by the address and length of their text (the
    /// rules of a device read its `lastContact` a few times each).
    times: RefCell<Times>,
}

type BuildAddressHasher = std::hash::BuildHasherDefault<AddressHasher>;

/// Text (address, length) → the instant it names.
type Times = HashMap<(usize, usize), Option<DateTime<Utc>>, BuildAddressHasher>;

impl Memo {
    fn get(&self, key: &MemoKey) -> Option<Result<bool, Stop>> {
        self.values.borrow().get(key).copied()
    }

    fn keep(&self, key: MemoKey, value: Result<bool, Stop>) {
        self.values.borrow_mut().insert(key, value);
    }

    /// The instant a document's text names (`None`: it names none).
    fn time(&self, text: &str) -> Option<DateTime<Utc>> {
        let key = (text.as_ptr() as usize, text.len());
        if let Some(known) = self.times.borrow().get(&key) {
            return *known;
        }
        let at = parse_time(text);
        self.times.borrow_mut().insert(key, at);
        at
    }

    /// How many values it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.values.borrow().len()
    }
}

/// The values of the comprehension variables, innermost first.
struct Locals<'s, 'f> {
    value: V<'f>,
    outer: Option<&'s Locals<'s, 'f>>,
    /// The paths the predicate reads of the value (`x.a`, `x.a.b`), each looked up once.
    paths: &'s [PathSlot<'f>],
}

/// A path of a comprehension variable's value, once looked up.
type PathSlot<'f> = OnceCell<Result<Option<V<'f>>, Stop>>;

/// The most paths of a comprehension variable that are looked up once an element (the others
/// each time they are read).
const PATHS: usize = 8;

type Code = Box<dyn for<'f> Fn(&Frame<'f>, Option<&Locals<'_, 'f>>) -> Out<'f>>;

/// A constant: a literal, a parameter, or what the compiler worked out from them.
#[derive(Debug, Clone)]
enum Const {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Duration(TimeDelta),
    List(Vec<Const>),
}

impl Const {
    fn from_json(value: &Value) -> Option<Self> {
        Some(match V::json(value) {
            V::Null => Self::Null,
            V::Bool(b) => Self::Bool(b),
            V::Int(i) => Self::Int(i),
            V::UInt(u) => Self::UInt(u),
            V::Float(f) => Self::Float(f),
            V::Str(s) => Self::Str(s.to_owned()),
            V::Array(items) => {
                Self::List(items.iter().map(Self::from_json).collect::<Option<_>>()?)
            }
            _ => return None,
        })
    }

    fn scalar(&self) -> S<'_> {
        match self {
            Self::Null => S::Null,
            Self::Bool(b) => S::Bool(*b),
            Self::Int(i) => S::Int(*i),
            Self::UInt(_) | Self::Float(_) => S::Other,
            Self::Str(s) => S::Str(s),
            Self::Duration(d) => S::Duration(*d),
            Self::List(_) => S::Compound,
        }
    }

    /// As a value (a list stays a constant: compiled code compares with it, never returns it).
    fn value<'f>(&self) -> Out<'f> {
        Ok(match self {
            Self::Null => V::Null,
            Self::Bool(b) => V::Bool(*b),
            Self::Int(i) => V::Int(*i),
            Self::UInt(u) => V::UInt(*u),
            Self::Float(f) => V::Float(*f),
            Self::Str(s) => V::String(s.clone()),
            Self::Duration(d) => V::Duration(*d),
            Self::List(_) => return Err(Stop::Defer),
        })
    }
}

/// A value as far as comparing goes.
#[derive(Clone, Copy)]
enum S<'x> {
    Null,
    Bool(bool),
    Int(i64),
    Str(&'x str),
    Duration(TimeDelta),
    /// A list or a map.
    Compound,
    /// A `uint` or a `double`: CEL compares them across types, which is left to it.
    Other,
}

/// `a == b` as CEL has it, where that is certain: values of different types are unequal
/// (`'1' == 1` is false), and a list or a map equals no scalar.
fn equal(a: S<'_>, b: S<'_>) -> Result<bool, Stop> {
    use S::{Bool, Compound, Int, Null, Str};
    match (a, b) {
        (Str(x), Str(y)) => Ok(x == y),
        (Bool(x), Bool(y)) => Ok(x == y),
        (Int(x), Int(y)) => Ok(x == y),
        (Null, Null) => Ok(true),
        (Null | Bool(_) | Int(_) | Str(_) | Compound, Null | Bool(_) | Int(_) | Str(_))
        | (Null | Bool(_) | Int(_) | Str(_), Compound) => Ok(false),
        _ => Err(Stop::Defer),
    }
}

/// `a <=> b` for the types compiled code orders: integers, strings and durations.
fn order(a: S<'_>, b: S<'_>) -> Result<Ordering, Stop> {
    match (a, b) {
        (S::Int(x), S::Int(y)) => Ok(x.cmp(&y)),
        (S::Str(x), S::Str(y)) => Ok(x.cmp(y)),
        (S::Duration(x), S::Duration(y)) => Ok(x.cmp(&y)),
        _ => Err(Stop::Defer),
    }
}

/// A duration CEL holds: it must fit in an `i64` of nanoseconds.
fn duration<'f>(d: Option<TimeDelta>) -> Out<'f> {
    match d {
        Some(d) if d.num_nanoseconds().is_some() => Ok(V::Duration(d)),
        _ => Err(Stop::Defer),
    }
}

fn truth(out: Out<'_>) -> Result<bool, Stop> {
    match out? {
        V::Bool(b) => Ok(b),
        _ => Err(Stop::Error),
    }
}

/// A compiled expression.
enum Node {
    Const(Const),
    Code(Code),
    /// Not compiled: CEL evaluates it.
    Unknown,
}

impl Node {
    fn code(self) -> Code {
        match self {
            Self::Code(code) => code,
            Self::Const(constant) => Box::new(move |_, _| constant.value()),
            Self::Unknown => Box::new(|_, _| Err(Stop::Defer)),
        }
    }

    const fn known(&self) -> bool {
        !matches!(self, Self::Unknown)
    }
}

/// What a name is bound to in a comprehension: the level of its slot in [`Locals`], or nothing
/// the compiler can read (the accumulator).
type Slot = Option<usize>;

struct Compiler<'p> {
    params: &'p BTreeMap<String, Value>,
    fields: &'p Fields,
    /// The engine's compiled regular expressions.
    patterns: &'p Patterns,
    /// Whether the expression being compiled is part of a memoized one (only the outermost
    /// part that reads one variable alone is memoized).
    memoizing: Cell<bool>,
    /// Of each comprehension variable in scope (by level), the paths of it read by name.
    paths: RefCell<Vec<Vec<String>>>,
}

/// The top-level fields of `r` that the rules of a kind read by name: compiled code reads each
/// through a slot of [`Frame::fields`], so that a document is searched once a field, whatever the
/// number of rules and conditions that read it (`osFamily`: most device rules).
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<String>);

impl Fields {
    /// The fields `demand` reads by name (none when `r` is read whole).
    pub(crate) fn of(demand: &Demand) -> Self {
        match demand {
            Demand::Fields { fields, .. } if !demand.whole_object() => {
                Self(fields.keys().cloned().collect())
            }
            _ => Self::default(),
        }
    }

    /// Empty slots for one document.
    pub(crate) fn slots<'f>(&self) -> Vec<OnceCell<Option<&'f Value>>> {
        self.0.iter().map(|_| OnceCell::new()).collect()
    }
}

impl Compiler<'_> {
    fn node(&self, expression: &Expression, scope: &Scope<'_, Slot>, depth: usize) -> Node {
        if depth > 0
            && !self.memoizing.get()
            && gives_bool(expression)
            && let Some(level) = element_read(expression, scope, depth)
        {
            self.memoizing.set(true);
            let node = self.compute(expression, scope, depth);
            self.memoizing.set(false);
            return match node {
                Node::Code(code) => memoized(code, depth - 1 - level, selects(expression, &ADDED)),
                other => other,
            };
        }
        self.compute(expression, scope, depth)
    }

    fn compute(&self, expression: &Expression, scope: &Scope<'_, Slot>, depth: usize) -> Node {
        match &expression.expr {
            Expr::Literal(literal) => match literal {
                LiteralValue::Boolean(b) => Node::Const(Const::Bool(*b.inner())),
                LiteralValue::Int(i) => Node::Const(Const::Int(*i.inner())),
                LiteralValue::UInt(u) => Node::Const(Const::UInt(*u.inner())),
                LiteralValue::Double(f) => Node::Const(Const::Float(*f.inner())),
                LiteralValue::String(s) => Node::Const(Const::Str(s.inner().to_owned())),
                LiteralValue::Null => Node::Const(Const::Null),
                LiteralValue::Bytes(_) => Node::Unknown,
            },
            Expr::Ident(name) => Self::ident(name, scope, depth),
            Expr::Select(select) => self.select(select, scope, depth),
            Expr::Call(call) => self.call(call, scope, depth),
            Expr::Comprehension(comprehension) => self.comprehension(comprehension, scope, depth),
            Expr::List(list) if list.optional_indices.is_empty() => {
                let items: Option<Vec<Const>> = list
                    .elements
                    .iter()
                    .map(|e| match self.node(e, scope, depth) {
                        Node::Const(c) if !matches!(c, Const::List(_)) => Some(c),
                        _ => None,
                    })
                    .collect();
                items.map_or(Node::Unknown, |items| Node::Const(Const::List(items)))
            }
            _ => Node::Unknown,
        }
    }

    fn ident(name: &str, scope: &Scope<'_, Slot>, depth: usize) -> Node {
        match scope.bound(name) {
            Some(Some(level)) => {
                let up = depth - 1 - level;
                Node::Code(Box::new(move |_, locals| {
                    let mut at = locals.ok_or(Stop::Defer)?;
                    for _ in 0..up {
                        at = at.outer.ok_or(Stop::Defer)?;
                    }
                    Ok(at.value.clone())
                }))
            }
            Some(None) => Node::Unknown,
            None => match name {
                "r" => Node::Code(Box::new(|frame, _| Ok(V::json(frame.r)))),
                "rel" => Node::Code(Box::new(|frame, _| frame.rel.map(V::Rel).ok_or(Stop::Defer))),
                "org" => Node::Code(Box::new(|frame, _| Ok(frame.org.map_or(V::Null, V::json)))),
                _ => Node::Unknown,
            },
        }
    }

    fn select(&self, select: &SelectExpr, scope: &Scope<'_, Slot>, depth: usize) -> Node {
        // `params.name`: a constant.
        if let Expr::Ident(root) = &select.operand.expr
            && root == "params"
            && scope.bound(root).is_none()
            && !select.test
        {
            return self
                .params
                .get(&select.field)
                .and_then(Const::from_json)
                .map_or(Node::Unknown, Node::Const);
        }
        // `r.name`: through the field's slot.
        if let Expr::Ident(root) = &select.operand.expr
            && root == "r"
            && scope.bound(root).is_none()
            && let Some(slot) = self.fields.0.iter().position(|f| *f == select.field)
        {
            let field = select.field.clone();
            let test = select.test;
            return Node::Code(Box::new(move |frame, _| {
                let cell =
                    frame.fields.get(slot).filter(|_| frame.r.is_object()).ok_or(Stop::Defer)?;
                let found = *cell.get_or_init(|| frame.r.get(&field).filter(|v| !v.is_null()));
                match (test, found) {
                    (true, found) => Ok(V::Bool(found.is_some())),
                    (false, Some(value)) => Ok(V::json(value)),
                    (false, None) => Err(Stop::Error),
                }
            }));
        }
        // `x.a.b` of a comprehension variable: looked up once an element, however often read.
        if let Some((level, slot)) = self.path_slot(select, scope) {
            let Node::Code(operand) = self.node(&select.operand, scope, depth) else {
                return Node::Unknown;
            };
            let field = select.field.clone();
            let test = select.test;
            let up = depth - 1 - level;
            return Node::Code(Box::new(move |frame, locals| {
                let mut at = locals.ok_or(Stop::Defer)?;
                for _ in 0..up {
                    at = at.outer.ok_or(Stop::Defer)?;
                }
                let look_up = || operand(frame, locals)?.member(&field);
                let found = match at.paths.get(slot) {
                    Some(cell) => cell.get_or_init(look_up).clone()?,
                    None => look_up()?,
                };
                match (test, found) {
                    (true, found) => Ok(V::Bool(found.is_some())),
                    (false, Some(value)) => Ok(value),
                    (false, None) => Err(Stop::Error),
                }
            }));
        }
        let Node::Code(operand) = self.node(&select.operand, scope, depth) else {
            return Node::Unknown;
        };
        let field = select.field.clone();
        if select.test {
            Node::Code(Box::new(move |frame, locals| {
                let value = operand(frame, locals)?;
                Ok(V::Bool(value.member(&field)?.is_some()))
            }))
        } else {
            Node::Code(Box::new(move |frame, locals| {
                let value = operand(frame, locals)?;
                value.member(&field)?.ok_or(Stop::Error)
            }))
        }
    }

    /// For a path of field names from a comprehension variable (`x.a.b`, or `has(x.a.b)`): the
    /// variable's level and the path's slot in its [`Locals::paths`], when one is left.
    fn path_slot(&self, select: &SelectExpr, scope: &Scope<'_, Slot>) -> Option<(usize, usize)> {
        let mut path = vec![select.field.as_str()];
        let mut operand = &select.operand;
        let level = loop {
            match &operand.expr {
                Expr::Select(inner) if !inner.test => {
                    path.push(&inner.field);
                    operand = &inner.operand;
                }
                Expr::Ident(name) => match scope.bound(name) {
                    Some(Some(level)) => break *level,
                    _ => return None,
                },
                _ => return None,
            }
        };
        path.reverse();
        let path = path.join(".");
        let mut tables = self.paths.borrow_mut();
        let table = tables.get_mut(level)?;
        let slot = match table.iter().position(|p| *p == path) {
            Some(slot) => slot,
            None if table.len() < PATHS => {
                table.push(path);
                table.len() - 1
            }
            None => return None,
        };
        Some((level, slot))
    }

    #[allow(clippy::too_many_lines, reason = "one arm an operator or function")]
    fn call(&self, call: &CallExpr, scope: &Scope<'_, Slot>, depth: usize) -> Node {
        if let Some(operand) = size_operand(call) {
            let operand = self.node(operand, scope, depth).code();
            return Node::Code(Box::new(move |frame, locals| {
                let size = match operand(frame, locals)? {
                    V::Array(items) => items.len(),
                    V::List(items) => items.len(),
                    V::Object(object) => object.size().ok_or(Stop::Defer)?,
                    _ => return Err(Stop::Defer),
                };
                i64::try_from(size).map(V::Int).map_err(|_| Stop::Defer)
            }));
        }
        let args: Vec<Node> = call
            .target
            .iter()
            .map(|t| &**t)
            .chain(&call.args)
            .map(|a| self.node(a, scope, depth))
            .collect();
        let method = call.target.is_some();
        let name = call.func_name.as_str();
        let mut args = args.into_iter();
        let (Some(a), b, c, None) = (args.next(), args.next(), args.next(), args.next()) else {
            return Node::Unknown;
        };
        match (name, method, b, c) {
            ("_&&_" | "_||_", false, Some(b), None) => {
                if !a.known() && !b.known() {
                    return Node::Unknown;
                }
                // `false && x` is false whatever x is (an error too); `true && x` is x when x is a
                // boolean. Anything else is CEL's to say.
                let absorbing = name == "_||_";
                let (a, b) = (a.code(), b.code());
                Node::Code(Box::new(move |frame, locals| match a(frame, locals) {
                    Ok(V::Bool(left)) if left == absorbing => Ok(V::Bool(left)),
                    Ok(V::Bool(_)) => match b(frame, locals)? {
                        V::Bool(right) => Ok(V::Bool(right)),
                        _ => Err(Stop::Error),
                    },
                    _ => Err(Stop::Defer),
                }))
            }
            ("_?_:_", false, Some(b), Some(c)) => {
                let (a, b, c) = (a.code(), b.code(), c.code());
                Node::Code(Box::new(move |frame, locals| {
                    if truth(a(frame, locals))? { b(frame, locals) } else { c(frame, locals) }
                }))
            }
            ("!_", false, None, None) => {
                let a = a.code();
                Node::Code(Box::new(move |frame, locals| Ok(V::Bool(!truth(a(frame, locals))?))))
            }
            ("_==_" | "_!=_", false, Some(b), None) => {
                let negate = name == "_!=_";
                match (a, b) {
                    (Node::Const(x), Node::Const(y)) => match equal(x.scalar(), y.scalar()) {
                        Ok(same) => Node::Const(Const::Bool(same != negate)),
                        Err(_) => Node::Unknown,
                    },
                    (Node::Const(constant), other) | (other, Node::Const(constant)) => {
                        let other = other.code();
                        Node::Code(Box::new(move |frame, locals| {
                            let value = other(frame, locals)?;
                            Ok(V::Bool(equal(value.scalar(), constant.scalar())? != negate))
                        }))
                    }
                    (a, b) => {
                        let (a, b) = (a.code(), b.code());
                        Node::Code(Box::new(move |frame, locals| {
                            let (x, y) = (a(frame, locals)?, b(frame, locals)?);
                            Ok(V::Bool(equal(x.scalar(), y.scalar())? != negate))
                        }))
                    }
                }
            }
            ("_<_" | "_<=_" | "_>_" | "_>=_", false, Some(b), None) => {
                let holds: fn(Ordering) -> bool = match name {
                    "_<_" => Ordering::is_lt,
                    "_<=_" => Ordering::is_le,
                    "_>_" => Ordering::is_gt,
                    _ => Ordering::is_ge,
                };
                match (a, b) {
                    (a, Node::Const(constant)) => {
                        let a = a.code();
                        Node::Code(Box::new(move |frame, locals| {
                            let value = a(frame, locals)?;
                            Ok(V::Bool(holds(order(value.scalar(), constant.scalar())?)))
                        }))
                    }
                    (a, b) => {
                        let (a, b) = (a.code(), b.code());
                        Node::Code(Box::new(move |frame, locals| {
                            let (x, y) = (a(frame, locals)?, b(frame, locals)?);
                            Ok(V::Bool(holds(order(x.scalar(), y.scalar())?)))
                        }))
                    }
                }
            }
            ("@in", false, Some(b), None) => {
                let a = a.code();
                match b {
                    Node::Const(Const::List(items)) => {
                        Node::Code(Box::new(move |frame, locals| {
                            let value = a(frame, locals)?;
                            for item in &items {
                                if equal(item.scalar(), value.scalar())? {
                                    return Ok(V::Bool(true));
                                }
                            }
                            Ok(V::Bool(false))
                        }))
                    }
                    b => {
                        let b = b.code();
                        Node::Code(Box::new(move |frame, locals| {
                            let value = a(frame, locals)?;
                            let list = b(frame, locals)?;
                            list.each(|item| match equal(item.scalar(), value.scalar()) {
                                Ok(true) => Some(Ok(V::Bool(true))),
                                Ok(false) => None,
                                Err(stop) => Some(Err(stop)),
                            })
                            .map(|found| V::Bool(matches!(found, V::Bool(true))))
                        }))
                    }
                }
            }
            ("_+_", false, Some(b), None) => {
                let (a, b) = (a.code(), b.code());
                Node::Code(Box::new(move |frame, locals| {
                    match (a(frame, locals)?, b(frame, locals)?) {
                        (V::Duration(x), V::Duration(y)) => duration(x.checked_add(&y)),
                        _ => Err(Stop::Defer),
                    }
                }))
            }
            ("age", false, None, None) => {
                let a = a.code();
                Node::Code(Box::new(move |frame, locals| {
                    let value = a(frame, locals)?;
                    let at = match (frame.memo, &value) {
                        (Some(memo), V::Str(text)) => memo.time(text),
                        _ => parse_time(value.as_str().ok_or(Stop::Defer)?),
                    };
                    let at = at.ok_or(Stop::Error)?;
                    duration(Some(frame.now - at))
                }))
            }
            ("days" | "hours", false, None, None) => {
                let make: fn(i64) -> Option<TimeDelta> =
                    if name == "days" { TimeDelta::try_days } else { TimeDelta::try_hours };
                match a {
                    Node::Const(Const::Int(n)) => match duration(make(n)) {
                        Ok(V::Duration(d)) => Node::Const(Const::Duration(d)),
                        _ => Node::Unknown,
                    },
                    a => {
                        let a = a.code();
                        Node::Code(Box::new(move |frame, locals| match a(frame, locals)? {
                            V::Int(n) => duration(make(n)),
                            _ => Err(Stop::Defer),
                        }))
                    }
                }
            }
            ("lower", false, None, None) => match a {
                Node::Const(Const::Str(s)) => Node::Const(Const::Str(s.to_lowercase())),
                a => {
                    let a = a.code();
                    Node::Code(Box::new(move |frame, locals| match a(frame, locals)? {
                        // ASCII without capitals is its own lower case: no copy.
                        V::Str(s) if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) => {
                            Ok(V::Str(s))
                        }
                        value => Ok(V::String(value.as_str().ok_or(Stop::Defer)?.to_lowercase())),
                    }))
                }
            },
            ("re", false, Some(Node::Const(Const::Str(pattern))), None) => {
                // An invalid pattern is CEL's to report.
                let Ok(pattern) = self.patterns.regex(&pattern) else { return Node::Unknown };
                let a = a.code();
                Node::Code(Box::new(move |frame, locals| {
                    let value = a(frame, locals)?;
                    Ok(V::Bool(pattern.is_match(value.as_str().ok_or(Stop::Defer)?)))
                }))
            }
            ("contains", true, Some(b), None) => {
                let (a, b) = (a.code(), b.code());
                Node::Code(Box::new(move |frame, locals| {
                    let (text, part) = (a(frame, locals)?, b(frame, locals)?);
                    match (text.as_str(), part.as_str()) {
                        (Some(text), Some(part)) => Ok(V::Bool(text.contains(part))),
                        _ => Err(Stop::Defer),
                    }
                }))
            }
            ("cidr_prefix", false, None, None) => {
                let a = a.code();
                Node::Code(Box::new(move |frame, locals| {
                    let value = a(frame, locals)?;
                    Ok(V::Int(cidr_prefix(value.as_str().ok_or(Stop::Defer)?)))
                }))
            }
            ("string", false, None, None) => {
                let a = a.code();
                Node::Code(Box::new(move |frame, locals| match a(frame, locals)? {
                    V::Int(i) => Ok(V::String(i.to_string())),
                    value @ (V::Str(_) | V::String(_)) => Ok(value),
                    _ => Err(Stop::Defer),
                }))
            }
            ("int", false, None, None) => {
                let a = a.code();
                Node::Code(Box::new(move |frame, locals| match a(frame, locals)? {
                    V::Int(i) => Ok(V::Int(i)),
                    V::Str(s) => s.parse().map(V::Int).map_err(|_| Stop::Error),
                    V::String(s) => s.parse().map(V::Int).map_err(|_| Stop::Error),
                    _ => Err(Stop::Defer),
                }))
            }
            _ => Node::Unknown,
        }
    }

    /// `list.exists(x, p)` and `list.all(x, p)`, as the parser expands them.
    fn comprehension(
        &self,
        comprehension: &ComprehensionExpr,
        scope: &Scope<'_, Slot>,
        depth: usize,
    ) -> Node {
        let Some(exists) = quantifier(comprehension) else { return Node::Unknown };
        let Expr::Call(step) = &comprehension.loop_step.expr else { return Node::Unknown };
        let Node::Code(range) = self.node(&comprehension.iter_range, scope, depth) else {
            return Node::Unknown;
        };
        let accumulator = Scope::Bound { name: &comprehension.accu_var, value: None, outer: scope };
        let element =
            Scope::Bound { name: &comprehension.iter_var, value: Some(depth), outer: &accumulator };
        // The element's paths: the table at the variable's level.
        debug_assert_eq!(self.paths.borrow().len(), depth, "a table for each enclosing variable");
        self.paths.borrow_mut().push(Vec::new());
        let predicate = self.node(&step.args[1], &element, depth + 1);
        let paths = self.paths.borrow_mut().pop().map_or(0, |table| table.len());
        let predicate = match predicate {
            Node::Unknown => return Node::Unknown,
            other => other.code(),
        };
        Node::Code(Box::new(move |frame, locals| {
            let list = range(frame, locals)?;
            let mut decided = !exists;
            list.each(|item| {
                let slots: [PathSlot<'_>; PATHS] = Default::default();
                let inner = Locals { value: item, outer: locals, paths: &slots[..paths] };
                match predicate(frame, Some(&inner)) {
                    Ok(V::Bool(b)) if b == exists => {
                        decided = exists;
                        Some(Ok(V::Bool(exists)))
                    }
                    Ok(V::Bool(_)) => None,
                    // An error or a non-boolean may be absorbed by a later element: CEL decides.
                    _ => Some(Err(Stop::Defer)),
                }
            })?;
            Ok(V::Bool(decided))
        }))
    }
}

/// `code`, its values kept in the frame's [`Memo`] when the variable `up` levels out of the
/// innermost is a shared document: `code` reads nothing else (and what a relation adds to the
/// document only when `added`).
fn memoized(code: Code, up: usize, added: bool) -> Node {
    // Boxed again: the address of the (non-empty) box names the expression in memo keys.
    let code = Box::new(code);
    Node::Code(Box::new(move |frame, locals| {
        let mut element = locals;
        for _ in 0..up {
            element = element.and_then(|e| e.outer);
        }
        let (Some(memo), Some(Locals { value: V::Object(object), .. })) = (frame.memo, element)
        else {
            return code(frame, locals);
        };
        if !object.shared {
            return code(frame, locals);
        }
        let key = MemoKey::new(&code, object, added);
        if let Some(known) = memo.get(&key) {
            return known.map(V::Bool);
        }
        let out = code(frame, locals);
        match out {
            Ok(V::Bool(b)) => memo.keep(key, Ok(b)),
            Err(stop) => memo.keep(key, Err(stop)),
            Ok(_) => {}
        }
        out
    }))
}

/// Whether `expression` gives a boolean when it gives a value: a comparison, a connective, a
/// quantifier, `has`, `re`, `contains`.
fn gives_bool(expression: &Expression) -> bool {
    match &expression.expr {
        Expr::Select(select) => select.test,
        Expr::Comprehension(comprehension) => quantifier(comprehension).is_some(),
        Expr::Call(call) => matches!(
            call.func_name.as_str(),
            "_&&_"
                | "_||_"
                | "!_"
                | "_==_"
                | "_!=_"
                | "_<_"
                | "_<=_"
                | "_>_"
                | "_>=_"
                | "@in"
                | "re"
                | "contains"
        ),
        _ => false,
    }
}

/// The level of the one comprehension variable in `scope` that `expression` reads, when it reads
/// nothing else but constants (literals, `params`) and the variables of its own comprehensions:
/// its value is then a function of that variable's alone.
fn element_read(expression: &Expression, scope: &Scope<'_, Slot>, depth: usize) -> Option<usize> {
    let mut levels = 0_u64;
    if depth >= 64 || !reads_only_locals(expression, scope, depth, &mut levels) {
        return None;
    }
    let outer = levels & ((1_u64 << depth) - 1);
    (outer.count_ones() == 1).then(|| outer.trailing_zeros() as usize)
}

/// Whether `expression` reads nothing but constants and comprehension variables (the levels it
/// reads are added to `levels`; the variables of its own comprehensions are at `depth` and over).
fn reads_only_locals(
    expression: &Expression,
    scope: &Scope<'_, Slot>,
    depth: usize,
    levels: &mut u64,
) -> bool {
    match &expression.expr {
        Expr::Literal(_) => true,
        Expr::Ident(name) => match scope.bound(name) {
            Some(Some(level)) if *level < 64 => {
                *levels |= 1 << level;
                true
            }
            _ => false,
        },
        Expr::Select(select) => match &select.operand.expr {
            Expr::Ident(root) if root == "params" && scope.bound(root).is_none() => true,
            _ => reads_only_locals(&select.operand, scope, depth, levels),
        },
        Expr::Call(call) => call
            .target
            .iter()
            .map(|t| &**t)
            .chain(&call.args)
            .all(|a| reads_only_locals(a, scope, depth, levels)),
        Expr::List(list) => {
            list.elements.iter().all(|e| reads_only_locals(e, scope, depth, levels))
        }
        Expr::Comprehension(comprehension) if comprehension.iter_var2.is_none() && depth < 63 => {
            // The accumulator and the element are the comprehension's own: a level of their own.
            let accumulator =
                Scope::Bound { name: &comprehension.accu_var, value: Some(depth), outer: scope };
            let element = Scope::Bound {
                name: &comprehension.iter_var,
                value: Some(depth),
                outer: &accumulator,
            };
            reads_only_locals(&comprehension.iter_range, scope, depth, levels)
                && reads_only_locals(&comprehension.accu_init, scope, depth, levels)
                && [&comprehension.loop_cond, &comprehension.loop_step, &comprehension.result]
                    .into_iter()
                    .all(|e| reads_only_locals(e, &element, depth + 1, levels))
        }
        _ => false,
    }
}

/// `Some(true)` for the expansion of `exists`, `Some(false)` for that of `all`.
fn quantifier(comprehension: &ComprehensionExpr) -> Option<bool> {
    let accu = comprehension.accu_var.as_str();
    let is_accu = |e: &Expression| matches!(&e.expr, Expr::Ident(name) if name == accu);
    let Expr::Literal(LiteralValue::Boolean(init)) = &comprehension.accu_init.expr else {
        return None;
    };
    let Expr::Call(step) = &comprehension.loop_step.expr else { return None };
    let Expr::Call(cond) = &comprehension.loop_cond.expr else { return None };
    if comprehension.iter_var2.is_some()
        || !is_accu(&comprehension.result)
        || step.target.is_some()
        || step.args.len() != 2
        || !is_accu(&step.args[0])
        || cond.func_name != "@not_strictly_false"
        || cond.args.len() != 1
    {
        return None;
    }
    let exists = match (step.func_name.as_str(), *init.inner()) {
        ("_||_", false) => true,
        ("_&&_", true) => false,
        _ => return None,
    };
    // `exists` stops once the accumulator is true (`!@result`), `all` once it is false.
    let stops = match &cond.args[0].expr {
        Expr::Call(not) if exists && not.func_name == "!_" && not.args.len() == 1 => {
            is_accu(&not.args[0])
        }
        _ if !exists => is_accu(&cond.args[0]),
        _ => false,
    };
    stops.then_some(exists)
}

/// One condition, compiled.
pub(crate) struct Compiled {
    /// `None` when the compiler knows nothing of its outermost shape.
    code: Option<Code>,
}

impl Compiled {
    fn new(condition: &Condition, compiler: &Compiler<'_>) -> Self {
        let code = match compiler.node(condition.program.expression(), &Scope::Root, 0) {
            Node::Unknown => None,
            node => Some(node.code()),
        };
        Self { code }
    }

    /// The condition's value, when the compiled code is sure of it; `None`: ask CEL.
    pub(crate) fn check(&self, frame: &Frame<'_>) -> Option<bool> {
        match (self.code.as_ref()?)(frame, None) {
            Ok(V::Bool(b)) => Some(b),
            _ => None,
        }
    }
}

/// A piece of a message, compiled.
enum Piece {
    Text(String),
    Code(Code),
}

/// A rule's conditions and message, compiled with its parameters as they are now.
pub(crate) struct CompiledRule {
    pub(crate) applies: Option<Compiled>,
    pub(crate) unknown: Option<Compiled>,
    pub(crate) fails: Compiled,
    /// `None` when a placeholder is not compiled.
    message: Option<Vec<Piece>>,
}

impl CompiledRule {
    /// `rule` compiled; with nothing compiled (every question the interpreter's) unless
    /// `enabled`.
    pub(crate) fn new(rule: &CelRule, enabled: bool, fields: &Fields, patterns: &Patterns) -> Self {
        if !enabled {
            return Self {
                applies: None,
                unknown: None,
                fails: Compiled { code: None },
                message: None,
            };
        }
        let compiler = Compiler {
            params: &rule.info.params,
            fields,
            patterns,
            memoizing: Cell::new(false),
            paths: RefCell::default(),
        };
        let message = rule
            .message_parts
            .iter()
            .map(|part| match part {
                MessagePart::Text(text) => Some(Piece::Text(text.clone())),
                MessagePart::Expression(expression) => {
                    match compiler.node(expression.program.expression(), &Scope::Root, 0) {
                        Node::Unknown => None,
                        node => Some(Piece::Code(node.code())),
                    }
                }
            })
            .collect();
        Self {
            applies: rule.applies.as_ref().map(|c| Compiled::new(c, &compiler)),
            unknown: rule.unknown.as_ref().map(|c| Compiled::new(c, &compiler)),
            fails: Compiled::new(&rule.fails, &compiler),
            message,
        }
    }

    /// The message, when compiled code is sure of every placeholder (one CEL cannot evaluate
    /// shows as `?`); `None`: ask CEL.
    pub(crate) fn message(&self, frame: &Frame<'_>) -> Option<String> {
        let pieces = self.message.as_ref()?;
        // Room for the text and a name or a number for each placeholder: one allocation.
        let room = pieces
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.len(),
                Piece::Code(_) => 32,
            })
            .sum();
        let mut out = String::with_capacity(room);
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Code(code) => match code(frame, None) {
                    Ok(value) => push_text(&mut out, &value)?,
                    Err(Stop::Error) => out.push('?'),
                    Err(Stop::Defer) => return None,
                },
            }
        }
        Some(out)
    }
}

/// Adds a scalar to a message, written as [`crate::eval`] writes CEL's; `None` for a list or a
/// map.
fn push_text(out: &mut String, value: &V<'_>) -> Option<()> {
    use std::fmt::Write;
    // Writing to a `String` does not fail.
    let _ = match value {
        V::Str(s) => {
            out.push_str(s);
            Ok(())
        }
        V::String(s) => {
            out.push_str(s);
            Ok(())
        }
        V::Int(i) => write!(out, "{i}"),
        V::UInt(u) => write!(out, "{u}"),
        V::Float(f) => write!(out, "{f}"),
        V::Bool(b) => write!(out, "{b}"),
        V::Null => write!(out, "null"),
        V::Duration(d) => write!(out, "{}s", d.num_seconds()),
        _ => return None,
    };
    Some(())
}

#[cfg(test)]
mod tests {
    use cel::Env;

    use super::*;
    use crate::rule::RuleType;

    #[test]
    fn only_exists_and_all_are_read_as_quantifiers() {
        let env = Env::stdlib();
        for (expression, want) in [
            ("[1].exists(x, x == 1)", Some(true)),
            ("[1].all(x, x == 1)", Some(false)),
            ("[1].exists_one(x, x == 1)", None),
            ("[1].filter(x, x == 1)", None),
            ("[1].map(x, x)", None),
        ] {
            let program = env.compile(expression).unwrap();
            let Expr::Comprehension(comprehension) = &program.expression().expr else {
                panic!("{expression} is not a comprehension");
            };
            assert_eq!(quantifier(comprehension), want, "{expression}");
        }
    }

    /// Every condition and message of the built-in state rules has compiled code (parts of some
    /// — the organization's `filter` — are left to the interpreter).
    #[test]
    fn the_built_in_state_conditions_compile() {
        let mut not_compiled = Vec::new();
        for rule in crate::pack::builtin().unwrap() {
            if rule.info.rule_type != RuleType::State {
                continue;
            }
            let compiled = CompiledRule::new(&rule, true, &Fields::default(), &Patterns::default());
            let conditions = [
                rule.applies.as_ref().zip(compiled.applies.as_ref()),
                rule.unknown.as_ref().zip(compiled.unknown.as_ref()),
                Some((&rule.fails, &compiled.fails)),
            ];
            for (condition, code) in conditions.into_iter().flatten() {
                if code.code.is_none() {
                    not_compiled.push(format!("{}: {}", rule.info.id, condition.source));
                }
            }
            assert!(compiled.message.is_some(), "{}: {}", rule.info.id, rule.message);
        }
        assert!(not_compiled.is_empty(), "{not_compiled:#?}");
    }

    /// `rel` with one relation, `groups`, of documents that many subjects share.
    struct SharedGroups<'f>(Vec<Obj<'f>>);

    impl<'f> RelView<'f> for SharedGroups<'f> {
        fn relation(&'f self, name: &str) -> Result<Option<V<'f>>, Stop> {
            Ok((name == "groups").then(|| V::List(&self.0)))
        }
    }

    /// A user rule with this `fails`, compiled.
    fn user_rule(fails: &str) -> CompiledRule {
        let text = format!(
            "[[rules]]\nid = \"t.memo\"\ntitle = \"t\"\nseverity = \"low\"\nkind = \"user\"\nfails = {}\nmessage = \"m\"\nrationale = \"r\"\nremediation = \"x\"\n",
            Value::from(fails)
        );
        let rules = crate::pack::load_pack("t.toml", &text).unwrap();
        CompiledRule::new(&rules[0], true, &Fields::default(), &Patterns::default())
    }

    /// The part of a quantifier's condition that reads only a shared document is worked out once
    /// for that document, whatever the number of subjects; the part that reads the subject is
    /// not kept; the values are those worked out without the memo.
    #[test]
    fn shared_documents_are_judged_once() {
        let groups = [
            serde_json::json!({"name": "staff"}),
            serde_json::json!({"id": "g3"}),
            serde_json::json!({"name": "admins"}),
        ];
        let users = [
            serde_json::json!({"team": "staff"}),
            serde_json::json!({"team": "ops"}),
            serde_json::json!({}),
        ];
        let rule = user_rule(
            "rel.groups.exists(g, has(g.name) && re(g.name, '^(admins|ops)$') \
             || (has(g.name) && g.name == r.team))",
        );
        let rel = SharedGroups(groups.iter().map(|g| Obj::shared(g, Extra::None)).collect());
        let memo = Memo::default();
        let now = Utc::now();
        let (mut values, mut kept) = (Vec::new(), Vec::new());
        for user in &users {
            let slots = Fields::default().slots();
            let with = Frame {
                r: user,
                fields: &slots,
                rel: Some(&rel),
                org: None,
                now,
                memo: Some(&memo),
            };
            let without = Frame { memo: None, ..with };
            let value = rule.fails.check(&with);
            assert_eq!(value, rule.fails.check(&without), "{user}");
            values.push(value);
            kept.push(memo.len());
        }
        // The first user's team is the first group; the second's none, and the admins group
        // matches; the third has no team: CEL is asked.
        assert_eq!(values, [Some(true), Some(true), None]);
        // `has(g.name) && re(...)` and `has(g.name)` of the right side, on the groups reached:
        // the first by the first user, all three by the second; nothing new for the third.
        assert_eq!(kept, [2, 5, 5]);

        // A document of one subject alone is not kept.
        let rel = SharedGroups(groups.iter().map(Obj::plain).collect());
        let memo = Memo::default();
        let slots = Fields::default().slots();
        let frame = Frame {
            r: &users[0],
            fields: &slots,
            rel: Some(&rel),
            org: None,
            now,
            memo: Some(&memo),
        };
        assert_eq!(rule.fails.check(&frame), Some(true));
        assert_eq!(memo.len(), 0);
    }

    /// What a relation adds to a shared document is part of the key only where the memoized
    /// part reads it: the same policy reached through two groups is judged once by a condition on
    /// its own fields, and once a group by one on `via_group`.
    #[test]
    fn what_a_relation_adds_is_read_only_where_named() {
        let policy = serde_json::json!({"name": "lock"});
        let (a, b) = (String::from("group-a"), String::from("group-b"));
        let through = |group: &'static str| {
            let group = if group == "a" { a.as_str() } else { b.as_str() };
            SharedGroups(vec![Obj::shared(&policy, Extra::Vias(Some(group), None))])
        };
        let (by_a, by_b) = (through("a"), through("b"));
        let user = serde_json::json!({});
        let now = Utc::now();
        for (fails, kept, want) in [
            ("rel.groups.exists(p, has(p.name) && p.name == 'lock')", 1, [true, true]),
            (
                "rel.groups.exists(p, has(p.via_group) && p.via_group == 'group-a')",
                2,
                [true, false],
            ),
        ] {
            let rule = user_rule(fails);
            let memo = Memo::default();
            let mut got = Vec::new();
            for rel in [&by_a, &by_b] {
                let slots = Fields::default().slots();
                let frame = Frame {
                    r: &user,
                    fields: &slots,
                    rel: Some(rel),
                    org: None,
                    now,
                    memo: Some(&memo),
                };
                got.push(rule.fails.check(&frame));
            }
            assert_eq!(got, want.map(Some), "{fails}");
            assert_eq!(memo.len(), kept, "{fails}");
        }
    }

    #[test]
    fn equality_is_certain_only_where_cel_is() {
        assert_eq!(equal(S::Str("a"), S::Str("a")), Ok(true));
        assert_eq!(equal(S::Str("1"), S::Int(1)), Ok(false));
        assert_eq!(equal(S::Null, S::Compound), Ok(false));
        assert_eq!(equal(S::Int(1), S::Other), Err(Stop::Defer));
        assert_eq!(equal(S::Compound, S::Compound), Err(Stop::Defer));
        assert_eq!(order(S::Int(1), S::Int(2)), Ok(Ordering::Less));
        assert_eq!(order(S::Str("a"), S::Int(2)), Err(Stop::Defer));
    }
}
