//! The routing tree: which receivers an alert goes to, how it is grouped there, and when.
//!
//! As in Alertmanager, an alert walks the tree depth first. A route whose matchers pass takes the
//! alert — to its matching children if any, else to its own receiver — and the walk stops there
//! unless the route says `continue`. A child inherits its parent's receiver, `group_by` and
//! timings unless it sets them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::matcher::Matchers;

/// When a group's notifications are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// How long a new group waits for more alerts before its first notification (default 30 s).
    /// A finding that resolves within it is never sent.
    pub group_wait: Duration,
    /// The least time between two notifications of a group (default 5 minutes).
    pub group_interval: Duration,
    /// How often a group's still-firing findings are sent again (default 4 hours). Changes and
    /// events are sent once.
    pub repeat_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
        }
    }
}

/// The label names that group alerts by default: one digest per tenant, rule and alert type.
pub const DEFAULT_GROUP_BY: [&str; 2] = ["tenant", "type"];

/// One route of the tree.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Route {
    /// The receiver (inherited when absent).
    pub receiver: Option<String>,
    /// The matchers an alert must pass.
    pub matchers: Matchers,
    /// Whether the walk goes on to the next sibling after this route took the alert.
    pub continue_matching: bool,
    /// The labels that group alerts into one notification (inherited when absent); `["..."]`
    /// puts each alert in its own group.
    pub group_by: Option<Vec<String>>,
    /// `group_wait` (inherited when absent).
    pub group_wait: Option<Duration>,
    /// `group_interval` (inherited when absent).
    pub group_interval: Option<Duration>,
    /// `repeat_interval` (inherited when absent).
    pub repeat_interval: Option<Duration>,
    /// Child routes.
    pub routes: Vec<Route>,
}

impl Route {
    /// A route to a receiver, matching everything.
    #[must_use]
    pub fn to(receiver: impl Into<String>) -> Self {
        Self { receiver: Some(receiver.into()), ..Self::default() }
    }

    /// A route with no receiver of its own (it inherits its parent's), matching everything.
    #[must_use]
    pub fn inherit() -> Self {
        Self::default()
    }

    /// With a `group_wait`.
    #[must_use]
    pub const fn wait(mut self, group_wait: Duration) -> Self {
        self.group_wait = Some(group_wait);
        self
    }

    /// With matchers.
    #[must_use]
    pub fn matching(mut self, matchers: Matchers) -> Self {
        self.matchers = matchers;
        self
    }

    /// Grouping by these labels.
    #[must_use]
    pub fn group_by<S: Into<String>>(mut self, labels: impl IntoIterator<Item = S>) -> Self {
        self.group_by = Some(labels.into_iter().map(Into::into).collect());
        self
    }

    /// With timings.
    #[must_use]
    pub const fn timing(mut self, timing: Timing) -> Self {
        self.group_wait = Some(timing.group_wait);
        self.group_interval = Some(timing.group_interval);
        self.repeat_interval = Some(timing.repeat_interval);
        self
    }

    /// Going on to the next sibling after taking an alert.
    #[must_use]
    pub const fn and_continue(mut self) -> Self {
        self.continue_matching = true;
        self
    }

    /// With a child route.
    #[must_use]
    pub fn child(mut self, route: Self) -> Self {
        self.routes.push(route);
        self
    }
}

/// Where an alert goes: a receiver, and its group there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The receiver.
    pub receiver: String,
    /// The group's key: the route's place in the tree and the grouping labels' values.
    pub group_key: String,
    /// The grouping labels' values.
    pub group_labels: BTreeMap<String, String>,
    /// The group's timings.
    pub timing: Timing,
}

/// The tree: top-level routes under a root that holds the defaults.
#[derive(Debug, Clone, Default)]
pub struct RouteTree {
    root: Route,
}

struct Inherited<'a> {
    receiver: Option<&'a str>,
    group_by: &'a [String],
    timing: Timing,
}

impl RouteTree {
    /// A tree whose root carries the defaults (receiver, `group_by`, timings) and the top-level
    /// routes as children.
    #[must_use]
    pub const fn new(root: Route) -> Self {
        Self { root }
    }

    /// A tree of top-level routes with the default timings and grouping.
    #[must_use]
    pub fn of(routes: Vec<Route>) -> Self {
        Self::new(Route { routes, ..Route::default() })
    }

    /// The root.
    #[must_use]
    pub const fn root(&self) -> &Route {
        &self.root
    }

    /// Every receiver a route names.
    #[must_use]
    pub fn receivers(&self) -> Vec<&str> {
        fn walk<'a>(route: &'a Route, out: &mut Vec<&'a str>) {
            out.extend(route.receiver.as_deref());
            for child in &route.routes {
                walk(child, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Where an alert goes (nowhere when no route with a receiver takes it).
    #[must_use]
    pub fn destinations(&self, alert: &Alert) -> Vec<Destination> {
        let default_group_by: Vec<String> =
            DEFAULT_GROUP_BY.iter().map(|s| (*s).to_owned()).collect();
        let root =
            Inherited { receiver: None, group_by: &default_group_by, timing: Timing::default() };
        let mut out = Vec::new();
        walk(&self.root, "root", &root, alert, &mut out);
        out.dedup_by(|a, b| a.receiver == b.receiver && a.group_key == b.group_key);
        out
    }
}

/// Walks `route` (whose matchers the caller has checked or which is the root).
fn walk(
    route: &Route,
    path: &str,
    parent: &Inherited<'_>,
    alert: &Alert,
    out: &mut Vec<Destination>,
) {
    let here = Inherited {
        receiver: route.receiver.as_deref().or(parent.receiver),
        group_by: route.group_by.as_deref().unwrap_or(parent.group_by),
        timing: Timing {
            group_wait: route.group_wait.unwrap_or(parent.timing.group_wait),
            group_interval: route.group_interval.unwrap_or(parent.timing.group_interval),
            repeat_interval: route.repeat_interval.unwrap_or(parent.timing.repeat_interval),
        },
    };
    let mut taken = false;
    for (index, child) in route.routes.iter().enumerate() {
        if !child.matchers.matches(alert) {
            continue;
        }
        walk(child, &format!("{path}.routes[{index}]"), &here, alert, out);
        taken = true;
        if !child.continue_matching {
            break;
        }
    }
    if taken {
        return;
    }
    let Some(receiver) = here.receiver else { return };
    let ungrouped = here.group_by.iter().any(|l| l == "...");
    let group_labels: BTreeMap<String, String> = if ungrouped {
        alert.labels.clone()
    } else {
        here.group_by
            .iter()
            .map(|label| (label.clone(), alert.label_value(label).to_owned()))
            .collect()
    };
    let mut group_key = format!("{path}:{{");
    for (i, (label, value)) in group_labels.iter().enumerate() {
        if i > 0 {
            group_key.push(',');
        }
        group_key.push_str(&format!("{label}={value:?}"));
    }
    group_key.push('}');
    if ungrouped {
        group_key.push_str(&format!(":{}", alert.fingerprint));
    }
    out.push(Destination {
        receiver: receiver.to_owned(),
        group_key,
        group_labels,
        timing: here.timing,
    });
}
