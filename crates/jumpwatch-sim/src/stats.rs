//! Request statistics: requests and bytes by route and status, and the faults injected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the simulator has served since it started (or was last reset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Requests served (admin API requests are not counted).
    pub requests: u64,
    /// Response body bytes sent.
    pub bytes: u64,
    /// By route (`GET /api/systemusers`, `GET /api/v2/usergroups/{group_id}/members`).
    pub routes: BTreeMap<String, RouteStats>,
    /// Faults injected.
    pub faults: FaultCounts,
}

/// The requests of one route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RouteStats {
    /// Requests.
    pub requests: u64,
    /// Response body bytes sent.
    pub bytes: u64,
    /// Requests by response status.
    pub statuses: BTreeMap<u16, u64>,
}

/// How many times each fault was injected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FaultCounts {
    /// Requests delayed.
    pub delayed: u64,
    /// 429s from the rate limit.
    pub rate_limited: u64,
    /// 429s from bursts.
    pub burst_429: u64,
    /// 5xx responses.
    pub server_errors: u64,
    /// Connections reset mid-body.
    pub resets: u64,
    /// Truncated bodies.
    pub truncated: u64,
    /// Short pages.
    pub short_pages: u64,
    /// Items moved during a listing.
    pub moved_items: u64,
}

impl Stats {
    /// Records one response.
    pub(crate) fn record(&mut self, route: &str, status: u16, bytes: u64) {
        self.requests += 1;
        self.bytes += bytes;
        let route = self.routes.entry(route.to_owned()).or_default();
        route.requests += 1;
        route.bytes += bytes;
        *route.statuses.entry(status).or_default() += 1;
    }
}
