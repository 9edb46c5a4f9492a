//! The tenant generator: a realistic, seeded, deterministic JumpCloud tenant for every kind of the
//! catalog.
//!
//! The same seed, size, clock and number of organizations always give the same tenant, byte for
//! byte. Timestamps are relative to the clock (`now`), so a tenant generated today looks current
//! to rules that compare with now, and one generated at a fixed instant is reproducible.
//!
//! ```
//! use jumpwatch_sim::{Dataset, Size};
//! use jumpwatch_model::ResourceKind;
//!
//! let dataset = Dataset::builder().seed(42).size(Size::Small).generate();
//! let tenant = &dataset.tenants()[0];
//! assert_eq!(tenant.resources(ResourceKind::User).len(), 50);
//! assert_eq!(tenant.resources(ResourceKind::System).len(), 40);
//! // Every kind of the catalog has data, relations included.
//! for kind in ResourceKind::ALL {
//!     assert!(!tenant.resources(*kind).is_empty(), "{kind}");
//! }
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use jumpwatch_model::{Inventory, OrganizationId, Resource, ResourceId, ResourceKind, TenantId};
use serde_json::Value;

use crate::clock::rfc3339;
use crate::graph;
use crate::ids::{ObjectIds, mix, rng};
use crate::store::OrgState;

mod activity;
mod devices;
mod generic;
pub(crate) mod names;
mod people;
mod policies;
mod services;

/// How big a generated tenant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Size {
    /// About 50 users and 40 systems: tests and the demo.
    #[default]
    Small,
    /// About 5,000 users and 4,000 systems.
    Medium,
    /// About 50,000 users and 40,000 systems: benchmarks.
    Large,
    /// Explicit counts.
    Custom {
        /// Number of users.
        users: usize,
        /// Number of systems.
        systems: usize,
    },
}

impl Size {
    /// The number of users and of systems.
    #[must_use]
    pub fn counts(self) -> (usize, usize) {
        match self {
            Self::Small => (50, 40),
            Self::Medium => (5_000, 4_000),
            Self::Large => (50_000, 40_000),
            Self::Custom { users, systems } => (users, systems),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Small => f.write_str("small"),
            Self::Medium => f.write_str("medium"),
            Self::Large => f.write_str("large"),
            Self::Custom { users, systems } => write!(f, "{users}x{systems}"),
        }
    }
}

/// A size that is not `small`, `medium`, `large` or `<users>x<systems>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown size {0:?}: use small, medium, large or <users>x<systems> (e.g. 200x150)")]
pub struct UnknownSize(pub String);

impl FromStr for Size {
    type Err = UnknownSize;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "small" => Ok(Self::Small),
            "medium" => Ok(Self::Medium),
            "large" => Ok(Self::Large),
            other => {
                let (users, systems) =
                    other.split_once('x').ok_or_else(|| UnknownSize(text.to_owned()))?;
                let parse =
                    |n: &str| n.trim().parse::<usize>().map_err(|_| UnknownSize(text.to_owned()));
                Ok(Self::Custom { users: parse(users)?, systems: parse(systems)? })
            }
        }
    }
}

/// Options of a generated dataset; see [`Dataset::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct DatasetBuilder {
    pub(crate) seed: u64,
    pub(crate) size: Size,
    pub(crate) now: Option<DateTime<Utc>>,
    pub(crate) orgs: usize,
}

impl Default for DatasetBuilder {
    fn default() -> Self {
        Self { seed: 42, size: Size::Small, now: None, orgs: 1 }
    }
}

impl DatasetBuilder {
    /// The seed (default 42).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The size (default [`Size::Small`]).
    pub fn size(mut self, size: Size) -> Self {
        self.size = size;
        self
    }

    /// The instant the tenant is generated at (default: the real time now).
    pub fn now(mut self, now: DateTime<Utc>) -> Self {
        self.now = Some(now);
        self
    }

    /// The number of organizations (default 1); each has a tenant of the chosen size.
    pub fn orgs(mut self, orgs: usize) -> Self {
        self.orgs = orgs.max(1);
        self
    }

    /// Generates the dataset.
    #[must_use]
    pub fn generate(self) -> Dataset {
        let now = self.now.unwrap_or_else(Utc::now);
        Dataset::generate(self.seed, self.size, now, self.orgs)
    }
}

/// Facts the generator keeps about the tenant beyond its documents.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// Administrators: (id, email).
    pub(crate) admins: Vec<(String, String)>,
    /// The id and email of the administrator who owns the API key.
    pub(crate) key_owner: Option<(String, String)>,
    /// The tenant's email domain.
    pub(crate) domain: String,
}

/// A generated tenant per organization. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Dataset {
    tenants: Vec<Tenant>,
    now: DateTime<Utc>,
}

impl Dataset {
    /// Options of a new dataset.
    pub fn builder() -> DatasetBuilder {
        DatasetBuilder::default()
    }

    pub(crate) fn generate(seed: u64, size: Size, now: DateTime<Utc>, orgs: usize) -> Self {
        let (users, systems) = size.counts();
        let tenants = (0..orgs.max(1))
            .map(|index| {
                let org_seed = if index == 0 { seed } else { mix(&[seed, index as u64]) };
                let (org, facts) = generate_org(org_seed, index, users, systems, now);
                Tenant { org, facts }
            })
            .collect();
        Self { tenants, now }
    }

    /// The tenants, one per organization.
    #[must_use]
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// The instant the dataset was generated at.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub(crate) fn into_parts(self) -> Vec<(OrgState, Facts)> {
        self.tenants.into_iter().map(|t| (t.org, t.facts)).collect()
    }
}

/// One organization's generated tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub(crate) org: OrgState,
    pub(crate) facts: Facts,
}

impl Tenant {
    /// The organization's id (its `x-org-id`).
    #[must_use]
    pub fn org_id(&self) -> OrganizationId {
        crate::mutation::org_id(&self.org.id)
    }

    /// The resources of a kind, complete (as `get` returns them), in id order. Child kinds and
    /// relations are given with their parent's id.
    #[must_use]
    pub fn resources(&self, kind: ResourceKind) -> Vec<Resource> {
        resources(&self.org, kind)
    }

    /// Every resource of the tenant in an [`Inventory`].
    #[must_use]
    pub fn inventory(&self) -> Inventory {
        let tenant = TenantId::new(&self.org.id).expect("organization ids are valid tenant ids");
        let mut inventory = Inventory::new(tenant);
        for kind in ResourceKind::ALL {
            for resource in self.resources(*kind) {
                // Every stored document was made into a resource when it was stored.
                let _ = inventory.insert(resource);
            }
        }
        inventory
    }

    /// The Directory Insights events recorded so far, oldest first.
    #[must_use]
    pub fn events(&self) -> Vec<Value> {
        self.org.events.all().iter().map(|e| e.doc.value()).collect()
    }

    /// The email of the administrator who owns the API key: the actor of changes made through
    /// the admin API without an explicit actor.
    #[must_use]
    pub fn key_owner_email(&self) -> Option<&str> {
        self.facts.key_owner.as_ref().map(|(_, email)| email.as_str())
    }
}

/// The resources of a kind in an organization, complete, in id order.
pub(crate) fn resources(org: &OrgState, kind: ResourceKind) -> Vec<Resource> {
    let meta = kind.meta();
    let mut out = Vec::new();
    if kind.is_relation() {
        let Some(parent) = meta.parent else { return out };
        if let Some(parents) = org.collection(parent.kind) {
            let mut ids: Vec<&ResourceId> = parents.iter().map(|(id, _)| id).collect();
            ids.sort();
            for id in ids {
                for item in graph::relation_items(org, kind, id) {
                    if let Ok(resource) = Resource::from_child_doc(kind, id.clone(), item) {
                        out.push(resource);
                    }
                }
            }
        }
        return out;
    }
    if meta.parent.is_some() {
        for (parent, collection) in org.children.get(&kind).into_iter().flatten() {
            for (_, doc) in collection.iter() {
                if let Ok(resource) = Resource::from_child_doc(kind, parent.clone(), doc.value()) {
                    out.push(resource);
                }
            }
        }
    } else if let Some(collection) = org.collection(kind) {
        for (_, doc) in collection.iter() {
            if let Ok(resource) = Resource::from_doc(kind, doc.value()) {
                out.push(resource);
            }
        }
    }
    out.sort_by(|a, b| (&a.parent, &a.id).cmp(&(&b.parent, &b.id)));
    out
}

/// The state shared by the generators of one organization.
pub(crate) struct Gen {
    pub(crate) seed: u64,
    pub(crate) now: DateTime<Utc>,
    pub(crate) ids: ObjectIds,
    pub(crate) org: OrgState,
    pub(crate) org_index: usize,
    pub(crate) domain: String,
    pub(crate) org_name: String,
}

impl Gen {
    /// A random stream for one part of the tenant.
    pub(crate) fn rng(&self, label: &str) -> fastrand::Rng {
        rng(self.seed, label)
    }

    /// A new object id for something created at `at`.
    pub(crate) fn id_at(&mut self, at: DateTime<Utc>) -> String {
        self.ids.at(at)
    }

    /// An instant `days` (fractional, random within the range) before now.
    pub(crate) fn days_ago(&self, rng: &mut fastrand::Rng, min: f64, max: f64) -> DateTime<Utc> {
        let days = min + rng.f64() * (max - min).max(0.0);
        #[allow(clippy::cast_possible_truncation)]
        let seconds = (days * 86_400.0) as i64;
        self.now - chrono::Duration::seconds(seconds)
    }

    pub(crate) fn ts(at: DateTime<Utc>) -> String {
        rfc3339(at)
    }

    /// Stores a top-level document.
    pub(crate) fn put(&mut self, kind: ResourceKind, doc: Value) {
        if let Err(error) = self.org.put(kind, doc) {
            tracing::warn!(%kind, %error, "generated document refused");
        }
    }

    /// Stores a child document.
    pub(crate) fn put_child(&mut self, kind: ResourceKind, parent: &str, doc: Value) {
        let result = ResourceId::new(parent)
            .map_err(|e| e.to_string())
            .and_then(|parent| self.org.put_child(kind, &parent, doc));
        if let Err(error) = result {
            tracing::warn!(%kind, %error, "generated document refused");
        }
    }

    /// Links two objects in the graph.
    pub(crate) fn link(
        &mut self,
        a: (&'static str, &str),
        b: (&'static str, &str),
        attributes: Value,
    ) {
        if let (Ok(a_id), Ok(b_id)) = (ResourceId::new(a.1), ResourceId::new(b.1)) {
            self.org.graph.link(
                &graph::Node::new(a.0, a_id),
                &graph::Node::new(b.0, b_id),
                attributes,
            );
        }
    }
}

/// Picks `max(min, round(share × n))` distinct indices below `n`, deterministically.
pub(crate) fn pick(rng: &mut fastrand::Rng, n: usize, share: f64, min: usize) -> Vec<bool> {
    let mut chosen = vec![false; n];
    if n == 0 {
        return chosen;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let wanted = ((share * n as f64).round() as usize).max(min).min(n);
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    for &i in order.iter().take(wanted) {
        chosen[i] = true;
    }
    chosen
}

/// Picks an element of a slice.
pub(crate) fn one<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn generate_org(
    seed: u64,
    index: usize,
    users: usize,
    systems: usize,
    now: DateTime<Utc>,
) -> (OrgState, Facts) {
    let mut ids = ObjectIds::new(seed);
    let org_created = now - chrono::Duration::days(2_000 + 37 * index as i64);
    let org_id = ids.at(org_created);
    let (domain, org_name) = match index {
        0 => ("example.com".to_owned(), "Example Corp".to_owned()),
        1 => ("example.org".to_owned(), "Example Subsidiary".to_owned()),
        2 => ("example.net".to_owned(), "Example Labs".to_owned()),
        n => (format!("tenant{n}.example"), format!("Example Tenant {n}")),
    };
    let mut g = Gen {
        seed,
        now,
        ids,
        org: OrgState::new(org_id),
        org_index: index,
        domain: domain.clone(),
        org_name,
    };
    people::organization(&mut g, org_created);
    let people = people::generate(&mut g, users);
    let devices = devices::plan(&mut g, systems, &people);
    let services = services::generate(&mut g, &people, &devices);
    let policy_stats = policies::generate(&mut g, &devices);
    devices::write(&mut g, &devices, &people, &policy_stats);
    services::command_results(&mut g, &services, &devices);
    activity::background(&mut g, &people, &devices, &services);
    generic::fill(&mut g);
    let facts = Facts {
        admins: people.admins.iter().map(|a| (a.id.clone(), a.email.clone())).collect(),
        key_owner: people.admins.first().map(|a| (a.id.clone(), a.email.clone())),
        domain,
    };
    (g.org, facts)
}
