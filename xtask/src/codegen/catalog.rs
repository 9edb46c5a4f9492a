//! Reads and checks the resource catalog (`crates/jumpwatch-model/catalog/kinds/*.toml`).
//!
//! Everything the generators need is resolved here: Rust names, struct and enum definitions
//! shared between kinds, the types of the paths the catalog writes, the SQL columns. A mistake
//! in a catalog file is reported with the file and the key.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail, ensure};
use heck::{ToSnakeCase, ToUpperCamelCase};
use serde::Deserialize;
use toml::Value;

/// The JSON type of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ty {
    String,
    Bool,
    Int,
    Float,
    Timestamp,
    Any,
    /// The typed id of a kind (by kind name).
    Id(String),
    /// A generated enum (by name).
    Enum(String),
    /// A generated struct (by name).
    Struct(String),
    Array(Box<Ty>),
}

impl Ty {
    /// The type as the catalog and the docs write it.
    pub(crate) fn catalog_name(&self) -> String {
        match self {
            Ty::String => "string".into(),
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::Float => "float".into(),
            Ty::Timestamp => "timestamp".into(),
            Ty::Any => "any".into(),
            Ty::Id(kind) => format!("id:{kind}"),
            Ty::Enum(_) => "enum".into(),
            Ty::Struct(_) => "object".into(),
            Ty::Array(item) => format!("[{}]", item.catalog_name()),
        }
    }

    /// The SQL type of a column of this type (names of `jumpwatch_model::catalog::SqlType`).
    pub(crate) fn sql_type(&self) -> &'static str {
        match self {
            Ty::String | Ty::Id(_) | Ty::Enum(_) => "Text",
            Ty::Bool => "Boolean",
            Ty::Int => "Integer",
            Ty::Float => "Real",
            Ty::Timestamp => "Timestamp",
            Ty::Any | Ty::Struct(_) | Ty::Array(_) => "Json",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) json: String,
    pub(crate) rust: String,
    pub(crate) ty: Ty,
    pub(crate) doc: Option<String>,
    pub(crate) nullable: bool,
    pub(crate) required: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct StructDef {
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) fields: Vec<Field>,
    /// The kind whose file defines it.
    pub(crate) defined_in: String,
    /// Set for the top-level struct of a kind.
    pub(crate) kind: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct EnumDef {
    pub(crate) name: String,
    pub(crate) values: Vec<String>,
    pub(crate) defined_in: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) sql_type: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) enum IdSpec {
    Field(String),
    Composite(Vec<String>),
    Relation,
}

#[derive(Debug, Clone)]
pub(crate) struct Relation {
    pub(crate) to: String,
    pub(crate) to_id: String,
    pub(crate) to_type: Option<String>,
    pub(crate) to_type_value: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Kind {
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) api: String,
    pub(crate) list: String,
    pub(crate) get: Option<String>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) list_filter: Option<(String, String)>,
    pub(crate) hydrate: bool,
    pub(crate) envelope: String,
    pub(crate) max_limit: u32,
    pub(crate) sort: Option<String>,
    pub(crate) filterable: Vec<String>,
    pub(crate) id: IdSpec,
    pub(crate) name_field: Option<String>,
    pub(crate) id_type: String,
    pub(crate) struct_name: String,
    pub(crate) variant: String,
    pub(crate) sql_view: String,
    pub(crate) optional: bool,
    pub(crate) org_header: bool,
    pub(crate) scope: Option<String>,
    pub(crate) volatile: Vec<String>,
    pub(crate) secret: Vec<String>,
    pub(crate) arrays: Vec<(String, ArrayIdentity)>,
    pub(crate) columns: Vec<Column>,
    pub(crate) parent: Option<(String, String)>,
    pub(crate) relation: Option<Relation>,
    pub(crate) examples: Vec<(String, String)>,
}

impl Kind {
    pub(crate) fn is_relation(&self) -> bool {
        self.relation.is_some()
    }

    pub(crate) fn is_insights(&self) -> bool {
        self.api == "insights"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArrayIdentity {
    Ordered,
    Set,
    Keyed(String),
}

#[derive(Debug)]
pub(crate) struct Catalog {
    pub(crate) kinds: Vec<Kind>,
    pub(crate) structs: BTreeMap<String, StructDef>,
    pub(crate) enums: BTreeMap<String, EnumDef>,
}

impl Catalog {
    pub(crate) fn kind(&self, name: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.name == name)
    }

    pub(crate) fn top_struct(&self, kind: &Kind) -> &StructDef {
        &self.structs[&kind.struct_name]
    }

    /// Every field path of a kind, flattened (`mfa.configured`, `ssh_keys[].name`).
    pub(crate) fn flat_fields(&self, kind: &Kind) -> Vec<(String, &Field)> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        self.flatten(&self.top_struct(kind).fields, "", &mut out, &mut seen);
        out
    }

    fn flatten<'a>(
        &'a self,
        fields: &'a [Field],
        prefix: &str,
        out: &mut Vec<(String, &'a Field)>,
        seen: &mut BTreeSet<String>,
    ) {
        for field in fields {
            let path = if prefix.is_empty() {
                field.json.clone()
            } else {
                format!("{prefix}.{}", field.json)
            };
            out.push((path.clone(), field));
            let mut ty = &field.ty;
            let mut inner = path;
            while let Ty::Array(item) = ty {
                ty = item;
                inner.push_str("[]");
            }
            // A struct reached again below itself would recurse forever; list it once.
            if let Ty::Struct(name) = ty
                && seen.insert(name.clone())
            {
                self.flatten(&self.structs[name].fields, &inner, out, seen);
                seen.remove(name);
            }
        }
    }

    /// The type at a path over the kind's documents; `Any` once the path leaves typed ground.
    pub(crate) fn path_type(&self, kind: &Kind, path: &str) -> Result<Ty> {
        let mut ty = Ty::Struct(kind.struct_name.clone());
        for step in split_path(path)? {
            ty = match (step, &ty) {
                (_, Ty::Any) => Ty::Any,
                (Step::Key(key), Ty::Struct(name)) => {
                    let def = &self.structs[name];
                    def.fields
                        .iter()
                        .find(|f| f.json == key)
                        .map(|f| f.ty.clone())
                        .ok_or_else(|| anyhow!("`{key}` is not a field of {name}"))?
                }
                (Step::AnyKey, Ty::Struct(_)) => Ty::Any,
                (Step::Each | Step::Where, Ty::Array(item)) => (**item).clone(),
                (step, ty) => bail!("{step:?} does not apply to a {}", ty.catalog_name()),
            };
        }
        Ok(ty)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    AnyKey,
    Each,
    Where,
}

/// Splits a catalog path (the model's `PathPattern` grammar) into steps.
fn split_path(path: &str) -> Result<Vec<Step<'_>>> {
    let mut steps = Vec::new();
    ensure!(!path.is_empty(), "empty path");
    for part in path.split('.') {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        match key {
            "" => bail!("empty key in `{path}`"),
            "*" => steps.push(Step::AnyKey),
            key => steps.push(Step::Key(key)),
        }
        while !rest.is_empty() {
            let close = rest.find(']').ok_or_else(|| anyhow!("unclosed `[` in `{path}`"))?;
            ensure!(rest.starts_with('['), "expected `[` in `{path}`");
            let inner = &rest[1..close];
            if inner.is_empty() {
                steps.push(Step::Each);
            } else {
                ensure!(inner.contains('='), "expected `[field=value]` in `{path}`");
                steps.push(Step::Where);
            }
            rest = &rest[close + 1..];
        }
    }
    Ok(steps)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KindFile {
    name: String,
    title: String,
    description: String,
    #[serde(default)]
    class: Option<String>,
    api: String,
    list: String,
    get: Option<String>,
    #[serde(default)]
    query: toml::Table,
    list_filter: Option<toml::Table>,
    #[serde(default)]
    hydrate: bool,
    envelope: String,
    max_limit: u32,
    sort: Option<String>,
    #[serde(default)]
    filterable: Vec<String>,
    id: Option<Value>,
    name_field: Option<String>,
    id_type: Option<String>,
    #[serde(rename = "struct")]
    struct_name: Option<String>,
    sql_view: String,
    source: Option<String>,
    org_header: Option<bool>,
    scope: Option<String>,
    #[serde(default)]
    volatile: Vec<String>,
    #[serde(default)]
    secret: Vec<String>,
    #[serde(default)]
    arrays: toml::Table,
    columns: Vec<String>,
    parent: Option<ParentFile>,
    relation: Option<RelationFile>,
    #[serde(default)]
    fields: toml::Table,
    #[serde(default)]
    examples: Vec<ExampleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParentFile {
    kind: String,
    param: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RelationFile {
    to: String,
    to_id: String,
    to_type: Option<String>,
    to_type_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleFile {
    name: String,
    json: String,
}

/// A struct or enum named by a field without its definition, to be found in another field.
struct Reference {
    name: String,
    is_enum: bool,
    site: String,
}

struct Builder {
    structs: BTreeMap<String, StructDef>,
    enums: BTreeMap<String, EnumDef>,
    references: Vec<Reference>,
}

/// Reads every catalog file under `dir`.
pub(crate) fn load(dir: &Path) -> Result<Catalog> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    let mut builder =
        Builder { structs: BTreeMap::new(), enums: BTreeMap::new(), references: Vec::new() };
    let mut kinds = Vec::new();
    for path in &files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: KindFile =
            toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let kind = builder.kind(file, stem).with_context(|| format!("in {}", path.display()))?;
        kinds.push(kind);
    }
    for reference in &builder.references {
        let found = if reference.is_enum {
            builder.enums.contains_key(&reference.name)
        } else {
            builder.structs.contains_key(&reference.name)
        };
        ensure!(
            found,
            "{}: {} `{}` is named but defined nowhere (give its `{}` once)",
            reference.site,
            if reference.is_enum { "enum" } else { "struct" },
            reference.name,
            if reference.is_enum { "values" } else { "fields" },
        );
    }
    kinds.sort_by_key(|k| (k.is_relation(), k.is_insights(), k.name.clone()));
    let catalog = Catalog { kinds, structs: builder.structs, enums: builder.enums };
    check(&catalog)?;
    Ok(catalog)
}

impl Builder {
    fn kind(&mut self, file: KindFile, stem: &str) -> Result<Kind> {
        ensure!(file.name == stem, "`name` is {:?} but the file is {stem}.toml", file.name);
        ensure!(
            file.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "`name` must be snake_case"
        );
        ensure!(
            matches!(file.api.as_str(), "v1" | "v2" | "insights"),
            "`api` must be v1, v2 or insights"
        );
        ensure!(file.list.starts_with('/'), "`list` must start with `/`");
        ensure!(file.max_limit > 0, "`max_limit` must be positive");
        let envelope = file.envelope.clone();
        ensure!(
            envelope == "v1"
                || envelope == "array"
                || envelope.strip_prefix("wrapper:").is_some_and(|k| !k.is_empty()),
            "`envelope` must be v1, array or wrapper:<key>"
        );
        let class = file.class.as_deref().unwrap_or("resource");
        ensure!(matches!(class, "resource" | "relation"), "`class` must be resource or relation");
        let struct_name =
            file.struct_name.clone().unwrap_or_else(|| file.name.to_upper_camel_case());
        let id_type = file.id_type.clone().unwrap_or_else(|| format!("{struct_name}Id"));

        let relation = match (class, file.relation) {
            ("relation", Some(r)) => Some(Relation {
                to: r.to,
                to_id: r.to_id,
                to_type: r.to_type,
                to_type_value: r.to_type_value,
            }),
            ("relation", None) => bail!("a relation needs a [relation] section"),
            (_, Some(_)) => bail!("[relation] needs `class = \"relation\"`"),
            _ => None,
        };
        let parent = file.parent.map(|p| (p.kind, p.param));
        if let Some((_, param)) = &parent {
            ensure!(
                file.list.contains(&format!("{{{param}}}")),
                "`list` has no `{{{param}}}` for the parent"
            );
        }
        ensure!(relation.is_none() || parent.is_some(), "a relation needs a [parent] section");
        let id = match (&relation, file.id) {
            (Some(_), None) => IdSpec::Relation,
            (Some(_), Some(_)) => bail!("a relation's id is derived: remove `id`"),
            (None, Some(Value::String(field))) => IdSpec::Field(field),
            (None, Some(Value::Array(fields))) => IdSpec::Composite(
                fields
                    .into_iter()
                    .map(|f| {
                        f.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| anyhow!("`id` items must be strings"))
                    })
                    .collect::<Result<_>>()?,
            ),
            (None, _) => bail!("`id` must be a field name or an array of field names"),
        };
        let optional = match file.source.as_deref() {
            None | Some("required") => false,
            Some("optional") => true,
            Some(other) => bail!("`source` must be required or optional, not {other:?}"),
        };
        let arrays = file
            .arrays
            .into_iter()
            .map(|(path, spec)| {
                let identity = match &spec {
                    Value::String(s) if s == "set" => ArrayIdentity::Set,
                    Value::String(s) if s == "ordered" => ArrayIdentity::Ordered,
                    Value::Table(t) => match t.get("keyed").and_then(Value::as_str) {
                        Some(key) if t.len() == 1 => ArrayIdentity::Keyed(key.to_owned()),
                        _ => bail!("[arrays] `{path}`: expected \"set\", \"ordered\" or {{ keyed = \"field\" }}"),
                    },
                    _ => bail!("[arrays] `{path}`: expected \"set\", \"ordered\" or {{ keyed = \"field\" }}"),
                };
                Ok((path, identity))
            })
            .collect::<Result<Vec<_>>>()?;
        let strings = |table: toml::Table, key: &str| -> Result<Vec<(String, String)>> {
            table
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    Value::Boolean(b) => Ok((k, b.to_string())),
                    _ => bail!("`{key}.{k}` must be a string"),
                })
                .collect()
        };
        let query = strings(file.query, "query")?;
        let list_filter = match file.list_filter {
            Some(table) => {
                let mut pairs = strings(table, "list_filter")?;
                ensure!(pairs.len() == 1, "`list_filter` takes one field");
                pairs.pop()
            }
            None => None,
        };

        let doc = format!("{}\n\n{}", file.title, file.description);
        let fields = self.fields(&file.fields, &struct_name, &file.name, &file.name)?;
        ensure!(!fields.is_empty(), "a kind needs [fields]");
        self.define_struct(StructDef {
            name: struct_name.clone(),
            doc,
            fields,
            defined_in: file.name.clone(),
            kind: Some(file.name.clone()),
        })?;

        ensure!(
            file.examples.len() >= 2,
            "at least two [[examples]] are needed (one ordinary, one awkward)"
        );
        let mut examples = Vec::new();
        for example in file.examples {
            let value: serde_json::Value = serde_json::from_str(&example.json)
                .with_context(|| format!("example {:?} is not valid JSON", example.name))?;
            ensure!(value.is_object(), "example {:?} is not a JSON object", example.name);
            examples.push((example.name, example.json.trim().to_owned()));
        }

        Ok(Kind {
            variant: file.name.to_upper_camel_case(),
            name: file.name,
            title: file.title,
            description: file.description,
            api: file.api,
            list: file.list,
            get: file.get,
            query,
            list_filter,
            hydrate: file.hydrate,
            envelope,
            max_limit: file.max_limit,
            sort: file.sort,
            filterable: file.filterable,
            id,
            name_field: file.name_field,
            id_type,
            struct_name,
            sql_view: file.sql_view,
            optional,
            org_header: file.org_header.unwrap_or(true),
            scope: file.scope,
            volatile: file.volatile,
            secret: file.secret,
            arrays,
            columns: file
                .columns
                .into_iter()
                .map(|c| Column { name: c, path: String::new(), sql_type: "" })
                .collect(),
            parent,
            relation,
            examples,
        })
    }

    fn fields(
        &mut self,
        table: &toml::Table,
        owner: &str,
        kind: &str,
        site: &str,
    ) -> Result<Vec<Field>> {
        let mut fields = Vec::new();
        let mut rust_names = BTreeSet::new();
        for (json, spec) in table {
            let field_site = format!("{site}.{json}");
            let field = self.field(json, spec, owner, kind, &field_site)?;
            ensure!(
                rust_names.insert(field.rust.clone()) && field.rust != "extra",
                "{field_site}: the Rust name `{}` is taken; set `rust = \"...\"`",
                field.rust
            );
            fields.push(field);
        }
        Ok(fields)
    }

    fn field(
        &mut self,
        json: &str,
        spec: &Value,
        owner: &str,
        kind: &str,
        site: &str,
    ) -> Result<Field> {
        let empty = toml::Table::new();
        let (ty_text, table) = match spec {
            Value::String(s) => (s.as_str(), &empty),
            Value::Table(t) => (
                t.get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("{site}: `type` is missing"))?,
                t,
            ),
            _ => bail!("{site}: a field is a type string or a table"),
        };
        for key in table.keys() {
            ensure!(
                matches!(
                    key.as_str(),
                    "type"
                        | "doc"
                        | "nullable"
                        | "required"
                        | "values"
                        | "enum"
                        | "fields"
                        | "struct"
                        | "rust"
                ),
                "{site}: unknown key `{key}`"
            );
        }
        let flag = |key: &str| -> Result<bool> {
            match table.get(key) {
                None => Ok(false),
                Some(Value::Boolean(b)) => Ok(*b),
                Some(_) => bail!("{site}: `{key}` must be true or false"),
            }
        };
        let text = |key: &str| -> Result<Option<String>> {
            match table.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => bail!("{site}: `{key}` must be a string"),
            }
        };
        let (ty_text, nullable_mark) = match ty_text.strip_suffix('?') {
            Some(t) => (t, true),
            None => (ty_text, false),
        };
        let default_name = format!("{owner}{}", json.to_upper_camel_case());
        let ty =
            self.ty(ty_text, table, &default_name, kind, site, text("struct")?, text("enum")?)?;
        let rust = match text("rust")? {
            Some(name) => name,
            None => rust_ident(json),
        };
        Ok(Field {
            json: json.to_owned(),
            rust,
            ty,
            doc: text("doc")?,
            nullable: nullable_mark || flag("nullable")?,
            required: flag("required")?,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn ty(
        &mut self,
        text: &str,
        table: &toml::Table,
        default_name: &str,
        kind: &str,
        site: &str,
        struct_name: Option<String>,
        enum_name: Option<String>,
    ) -> Result<Ty> {
        if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let item = self.ty(inner, table, default_name, kind, site, struct_name, enum_name)?;
            return Ok(Ty::Array(Box::new(item)));
        }
        Ok(match text {
            "string" => Ty::String,
            "bool" => Ty::Bool,
            "int" => Ty::Int,
            "float" => Ty::Float,
            "timestamp" => Ty::Timestamp,
            "any" => Ty::Any,
            "enum" => {
                let name = enum_name.unwrap_or_else(|| default_name.to_owned());
                match table.get("values") {
                    Some(Value::Array(values)) => {
                        let values = values
                            .iter()
                            .map(|v| {
                                v.as_str()
                                    .map(str::to_owned)
                                    .ok_or_else(|| anyhow!("{site}: `values` must be strings"))
                            })
                            .collect::<Result<Vec<_>>>()?;
                        ensure!(!values.is_empty(), "{site}: `values` is empty");
                        self.define_enum(
                            EnumDef { name: name.clone(), values, defined_in: kind.to_owned() },
                            site,
                        )?;
                    }
                    Some(_) => bail!("{site}: `values` must be an array of strings"),
                    None => self.references.push(Reference {
                        name: name.clone(),
                        is_enum: true,
                        site: site.to_owned(),
                    }),
                }
                Ty::Enum(name)
            }
            "object" => {
                let name = struct_name.unwrap_or_else(|| default_name.to_owned());
                match table.get("fields") {
                    Some(Value::Table(fields)) => {
                        let fields = self.fields(fields, &name, kind, site)?;
                        let doc = table.get("doc").and_then(Value::as_str).map_or_else(
                            || format!("The `{}` object.", site.rsplit('.').next().unwrap_or(site)),
                            str::to_owned,
                        );
                        self.define_struct(StructDef {
                            name: name.clone(),
                            doc,
                            fields,
                            defined_in: kind.to_owned(),
                            kind: None,
                        })?;
                    }
                    Some(_) => bail!("{site}: `fields` must be a table"),
                    None => self.references.push(Reference {
                        name: name.clone(),
                        is_enum: false,
                        site: site.to_owned(),
                    }),
                }
                Ty::Struct(name)
            }
            other => match other.strip_prefix("id:") {
                Some(kind) if !kind.is_empty() => Ty::Id(kind.to_owned()),
                _ => bail!("{site}: unknown type {other:?}"),
            },
        })
    }

    fn define_struct(&mut self, def: StructDef) -> Result<()> {
        ensure!(is_type_name(&def.name), "`{}` is not a valid struct name", def.name);
        if let Some(existing) = self.structs.get(&def.name) {
            bail!(
                "struct `{}` is defined twice (in {} and {}); name it once and reuse it with `struct = \"{}\"` and no `fields`",
                def.name,
                existing.defined_in,
                def.defined_in,
                def.name
            );
        }
        self.structs.insert(def.name.clone(), def);
        Ok(())
    }

    fn define_enum(&mut self, def: EnumDef, site: &str) -> Result<()> {
        ensure!(is_type_name(&def.name), "{site}: `{}` is not a valid enum name", def.name);
        let mut variants = BTreeSet::new();
        for value in &def.values {
            ensure!(
                variants.insert(variant_name(value)),
                "{site}: the values of `{}` clash as Rust names",
                def.name
            );
        }
        if let Some(existing) = self.enums.get(&def.name) {
            ensure!(
                existing.values == def.values,
                "{site}: enum `{}` is defined twice with other values (first in {})",
                def.name,
                existing.defined_in
            );
            return Ok(());
        }
        self.enums.insert(def.name.clone(), def);
        Ok(())
    }
}

fn is_type_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The Rust field name of a JSON key: snake_case, `_` after keywords.
pub(crate) fn rust_ident(json: &str) -> String {
    let mut name = json.to_snake_case();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'f');
    }
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else",
        "enum", "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match",
        "mod", "move", "mut", "priv", "pub", "ref", "return", "self", "static", "struct", "super",
        "trait", "true", "try", "type", "typeof", "unsafe", "use", "where", "while", "yield",
        "abstract", "become", "do", "final", "macro", "override", "unsized", "virtual",
    ];
    if KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

/// The Rust variant name of an enum value.
pub(crate) fn variant_name(value: &str) -> String {
    let mut name = value.to_upper_camel_case();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'V');
    }
    if name == "Other" {
        name.push_str("Value");
    }
    name
}

/// The column name of a path: `mfa.configured` → `mfa_configured`.
fn column_name(path: &str) -> String {
    path.replace("[]", "").split('.').map(ToSnakeCase::to_snake_case).collect::<Vec<_>>().join("_")
}

/// Cross-file checks, and the resolution of paths and columns.
fn check(catalog: &Catalog) -> Result<()> {
    let mut names = BTreeSet::new();
    let mut views = BTreeSet::new();
    let mut id_types = BTreeSet::new();
    for kind in &catalog.kinds {
        ensure!(names.insert(&kind.name), "kind `{}` is defined twice", kind.name);
        ensure!(
            views.insert(&kind.sql_view),
            "{}: sql_view `{}` is used twice",
            kind.name,
            kind.sql_view
        );
        ensure!(
            id_types.insert(&kind.id_type),
            "{}: id_type `{}` is used twice",
            kind.name,
            kind.id_type
        );
        ensure!(
            !catalog.structs.contains_key(&kind.id_type),
            "{}: `{}` is both an id and a struct",
            kind.name,
            kind.id_type
        );
    }
    for def in catalog.structs.values() {
        for field in &def.fields {
            let mut ty = &field.ty;
            while let Ty::Array(item) = ty {
                ty = item;
            }
            if let Ty::Id(target) = ty {
                ensure!(
                    catalog.kind(target).is_some(),
                    "{}.{}: `id:{target}` names no kind",
                    def.name,
                    field.json
                );
            }
        }
    }
    Ok(())
}

/// Resolves the columns of every kind (their paths and SQL types) and checks every path.
pub(crate) fn resolve(mut catalog: Catalog) -> Result<Catalog> {
    let mut resolved = Vec::with_capacity(catalog.kinds.len());
    for kind in &catalog.kinds {
        resolved.push(
            resolve_kind(&catalog, kind).with_context(|| format!("in kind `{}`", kind.name))?,
        );
    }
    for (kind, columns) in catalog.kinds.iter_mut().zip(resolved) {
        kind.columns = columns;
    }
    Ok(catalog)
}

fn resolve_kind(catalog: &Catalog, kind: &Kind) -> Result<Vec<Column>> {
    if let Some((parent, _)) = &kind.parent {
        ensure!(catalog.kind(parent).is_some(), "[parent] kind `{parent}` does not exist");
    }
    if let Some(relation) = &kind.relation {
        ensure!(
            catalog.kind(&relation.to).is_some(),
            "[relation] `to` kind `{}` does not exist",
            relation.to
        );
        catalog.path_type(kind, &relation.to_id).context("[relation] to_id")?;
        ensure!(
            relation.to_type.is_some() == relation.to_type_value.is_some(),
            "[relation] `to_type` and `to_type_value` go together"
        );
    }
    match &kind.id {
        IdSpec::Field(field) => {
            catalog.path_type(kind, field).context("`id`")?;
        }
        IdSpec::Composite(fields) => {
            ensure!(!fields.is_empty(), "`id` is an empty array");
            for field in fields {
                catalog.path_type(kind, field).context("`id`")?;
            }
        }
        IdSpec::Relation => {}
    }
    if let Some(field) = &kind.name_field {
        catalog.path_type(kind, field).context("`name_field`")?;
    }
    for path in kind.volatile.iter().chain(&kind.secret) {
        catalog.path_type(kind, path).with_context(|| format!("path `{path}`"))?;
    }
    for (path, identity) in &kind.arrays {
        let ty = catalog.path_type(kind, path).with_context(|| format!("[arrays] `{path}`"))?;
        ensure!(matches!(ty, Ty::Array(_) | Ty::Any), "[arrays] `{path}` is not an array");
        if let (ArrayIdentity::Keyed(key), Ty::Array(item)) = (identity, &ty)
            && let Ty::Struct(name) = &**item
        {
            ensure!(
                catalog.structs[name].fields.iter().any(|f| &f.json == key),
                "[arrays] `{path}` is keyed by `{key}`, which its elements do not have"
            );
        }
    }
    let mut column_names = BTreeSet::from(["tenant".to_owned(), "id".to_owned()]);
    if let Some((parent, _)) = &kind.parent {
        ensure!(column_names.insert(format!("{parent}_id")), "the parent column clashes");
    }
    let mut columns = kind.columns.clone();
    for column in &mut columns {
        let spec = std::mem::take(&mut column.name);
        let (path, name) = match spec.split_once(" as ") {
            Some((path, name)) => (path.trim().to_owned(), name.trim().to_owned()),
            None => (spec.trim().to_owned(), column_name(spec.trim())),
        };
        ensure!(
            !path.contains(['*', '=']) && path.matches("[]").count() <= 1,
            "column `{spec}`: columns take dotted paths, with at most one `[]` (a JSON array of the elements' values)"
        );
        let mut ty = catalog.path_type(kind, &path).with_context(|| format!("column `{spec}`"))?;
        if path.contains("[]") {
            ty = Ty::Array(Box::new(ty));
        }
        ensure!(column_names.insert(name.clone()), "column `{name}` appears twice");
        column.name = name;
        column.path = path;
        column.sql_type = ty.sql_type();
    }
    Ok(columns)
}

/// The `SELECT` of a kind's SQL view over the store's source relation, written `{source}`.
pub(crate) fn view_select(kind: &Kind) -> String {
    let mut sql = String::from("SELECT r.tenant AS tenant, r.id AS id");
    if let Some((parent, _)) = &kind.parent {
        let _ = write!(sql, ", r.parent_id AS {parent}_id");
    }
    for column in &kind.columns {
        match column.path.split_once("[]") {
            // One value of every element: a JSON array.
            Some((array, element)) => {
                let element = element.trim_start_matches('.');
                let value = if element.is_empty() {
                    "e.value".to_owned()
                } else {
                    format!("json_extract(e.value, '{}')", json_path(element))
                };
                let _ = write!(
                    sql,
                    ", (SELECT json_group_array({value}) FROM json_each(r.doc, '{}') AS e) AS {}",
                    json_path(array),
                    column.name
                );
            }
            None => {
                let _ = write!(
                    sql,
                    ", json_extract(r.doc, '{}') AS {}",
                    json_path(&column.path),
                    column.name
                );
            }
        }
    }
    let _ = write!(sql, " FROM {{source}} AS r WHERE r.kind = '{}'", kind.name);
    sql
}

/// A dotted path as an SQLite JSON path: `$.mfa.configured`, quoting odd keys.
fn json_path(path: &str) -> String {
    let mut out = String::from("$");
    for key in path.split('.') {
        if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push('.');
            out.push_str(key);
        } else {
            let _ = write!(out, ".\"{}\"", key.replace('"', "\"\""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(rust_ident("_id"), "id");
        assert_eq!(rust_ident("type"), "type_");
        assert_eq!(rust_ident("badLoginAttempts"), "bad_login_attempts");
        assert_eq!(rust_ident("mfaEnrollment"), "mfa_enrollment");
        assert_eq!(variant_name("NOT_ENROLLED"), "NotEnrolled");
        assert_eq!(variant_name("Not Monitored"), "NotMonitored");
        assert_eq!(variant_name("3des"), "V3des");
        assert_eq!(variant_name("other"), "OtherValue");
        assert_eq!(column_name("mfa.exclusionUntil"), "mfa_exclusion_until");
        assert_eq!(json_path("a.b-c"), "$.a.\"b-c\"");
    }

    #[test]
    fn paths_split_like_the_model_parses_them() {
        assert_eq!(split_path("a[].b").unwrap(), vec![Step::Key("a"), Step::Each, Step::Key("b")]);
        assert_eq!(
            split_path("v[s=true].x").unwrap(),
            vec![Step::Key("v"), Step::Where, Step::Key("x")]
        );
        assert!(split_path("a..b").is_err());
        assert!(split_path("a[").is_err());
    }
}
