//! The route table, made from the catalog: each kind's list path (kinds sharing a path are told
//! apart by fixed query parameters such as `targets`, or by a `list_filter`), each get path, and
//! the graph routes (`associations`, `members`, `membership`, `memberof`, traversals).

use jumpwatch_model::ResourceKind;
use jumpwatch_model::catalog::Api;

use crate::graph::{GRAPH_TYPES, GraphType, is_group};

/// What a route does.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Lists one of the kinds served at this path.
    List(Vec<ResourceKind>),
    /// Gets one resource by id.
    Get(ResourceKind),
    /// A graph view of one object.
    Graph(GraphView),
    /// The policy statuses of one system.
    SystemPolicyStatuses,
}

/// The graph views of an object.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GraphView {
    /// `/{type}/{id}/associations?targets=<type>`: direct edges.
    Associations(&'static GraphType),
    /// `/{group}/{id}/members`: direct members.
    Members(&'static GraphType),
    /// `/{group}/{id}/membership`: members, with paths.
    Membership(&'static GraphType),
    /// `/{type}/{id}/memberof`: the groups of the object.
    MemberOf(&'static GraphType),
    /// `/{type}/{id}/{targets}`: objects reached directly or through groups.
    Traversal(&'static GraphType, &'static GraphType),
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Param,
}

/// One route.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    segments: Vec<Segment>,
    pub(crate) action: Action,
    /// `GET /api/v2/usergroups/{group_id}/members`.
    pub(crate) label: String,
    /// The route refuses the `x-org-id` header (and serves every organization of the key).
    pub(crate) refuses_org: bool,
    pub(crate) api: Api,
}

/// A request matched to a route.
#[derive(Debug, Clone)]
pub(crate) struct Matched<'r> {
    pub(crate) route: &'r Route,
    /// Path parameters, in order.
    pub(crate) params: Vec<String>,
}

/// Every route of the JumpCloud API the simulator serves.
#[derive(Debug, Clone)]
pub(crate) struct RouteTable {
    routes: Vec<Route>,
    graph: Vec<Route>,
}

/// Paths that refuse `x-org-id` although the simulator serves no kind there.
const REFUSING_PREFIXES: &[&str] = &[
    "/api/organizations",
    "/api/users",
    "/api/search/organizations",
    "/api/v2/organizations",
    "/api/v2/providers",
    "/api/v2/administrators",
    "/api/v2/integrations",
];

fn parse(path: &str) -> Vec<Segment> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(_) => Segment::Param,
            None => Segment::Literal(s.to_owned()),
        })
        .collect()
}

impl RouteTable {
    /// The routes of the catalog.
    pub(crate) fn from_catalog() -> Self {
        let mut routes: Vec<Route> = Vec::new();
        for &kind in ResourceKind::ALL {
            let meta = kind.meta();
            let base = meta.api.base_path();
            let list = format!("{base}{}", meta.list_path);
            if let Some(route) = routes.iter_mut().find(|r| r.label == format!("GET {list}")) {
                if let Action::List(kinds) = &mut route.action {
                    kinds.push(kind);
                }
                route.refuses_org &= !meta.org_header;
            } else {
                routes.push(Route {
                    segments: parse(&list),
                    action: Action::List(vec![kind]),
                    label: format!("GET {list}"),
                    refuses_org: !meta.org_header,
                    api: meta.api,
                });
            }
            if let Some(get) = meta.get_path {
                let path = format!("{base}{get}");
                if !routes.iter().any(|r| r.label == format!("GET {path}")) {
                    routes.push(Route {
                        segments: parse(&path),
                        action: Action::Get(kind),
                        label: format!("GET {path}"),
                        refuses_org: !meta.org_header,
                        api: meta.api,
                    });
                }
            }
        }
        routes.push(Route {
            segments: parse("/api/v2/systems/{system_id}/policystatuses"),
            action: Action::SystemPolicyStatuses,
            label: "GET /api/v2/systems/{system_id}/policystatuses".into(),
            refuses_org: false,
            api: Api::V2,
        });
        // More literal segments first, so a literal beats a parameter.
        routes.sort_by_key(|r| {
            std::cmp::Reverse(
                r.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count(),
            )
        });
        let mut graph = Vec::new();
        for source in GRAPH_TYPES {
            let c = source.collection;
            let mut add = |suffix: &str, view: GraphView| {
                let path = format!("/api/v2/{c}/{{id}}/{suffix}");
                graph.push(Route {
                    segments: parse(&path),
                    action: Action::Graph(view),
                    label: format!("GET {path}"),
                    refuses_org: false,
                    api: Api::V2,
                });
            };
            add("associations", GraphView::Associations(source));
            add("memberof", GraphView::MemberOf(source));
            if is_group(source.name) {
                add("members", GraphView::Members(source));
                add("membership", GraphView::Membership(source));
            }
            for target in GRAPH_TYPES {
                if target.name != source.name {
                    add(target.collection, GraphView::Traversal(source, target));
                }
            }
        }
        Self { routes, graph }
    }

    /// The route of a path.
    pub(crate) fn resolve<'r>(&'r self, path: &str) -> Option<Matched<'r>> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.routes.iter().chain(self.graph.iter()).find_map(|route| {
            if route.segments.len() != parts.len() {
                return None;
            }
            let mut params = Vec::new();
            for (segment, part) in route.segments.iter().zip(&parts) {
                match segment {
                    Segment::Literal(text) if text == part => {}
                    Segment::Literal(_) => return None,
                    Segment::Param => params.push(percent_decode(part)),
                }
            }
            Some(Matched { route, params })
        })
    }

    /// Whether a path refuses the `x-org-id` header.
    pub(crate) fn refuses_org_header(&self, path: &str) -> bool {
        if let Some(matched) = self.resolve(path) {
            return matched.route.refuses_org;
        }
        let path = path.trim_end_matches('/');
        REFUSING_PREFIXES.iter().any(|prefix| {
            path == *prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_paths_resolve_with_their_parameters() {
        let table = RouteTable::from_catalog();
        let m = table.resolve("/api/v2/usergroups/abc/members").unwrap();
        assert_eq!(m.route.label, "GET /api/v2/usergroups/{group_id}/members");
        assert_eq!(m.params, ["abc"]);
        let m = table.resolve("/api/v2/policies/p1/associations").unwrap();
        assert!(matches!(&m.route.action, Action::List(kinds) if kinds.len() == 2));
        let m = table.resolve("/api/v2/directories").unwrap();
        assert!(matches!(&m.route.action, Action::List(kinds) if kinds.len() == 3));
        assert!(matches!(
            table.resolve("/api/systemusers/u1").unwrap().route.action,
            Action::Get(ResourceKind::User)
        ));
        assert!(matches!(
            table.resolve("/api/v2/users/u1/memberof").unwrap().route.action,
            Action::Graph(_)
        ));
        assert!(table.resolve("/api/v2/nothing").is_none());
        assert!(table.refuses_org_header("/api/organizations"));
        assert!(table.refuses_org_header("/api/users"));
        assert!(table.refuses_org_header("/api/v2/providers/p1/organizations"));
        assert!(!table.refuses_org_header("/api/systemusers"));
        assert!(!table.refuses_org_header("/api/usersx"));
    }
}
