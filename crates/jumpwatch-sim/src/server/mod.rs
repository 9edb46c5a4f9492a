//! The HTTP server: JumpCloud's routes (made from the catalog), the OAuth token endpoint,
//! Directory Insights, and the admin API under `/__sim/`.

// Handlers return the error response itself as the `Err` of their checks.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use jumpwatch_model::OrganizationId;
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::dataset::{Facts, Size};
use crate::faults::{FaultState, Faults};
use crate::ids::{ObjectIds, hash_str, is_object_id, mix};
use crate::mutation::{self, Actor, Applied, Context, Mutation};
use crate::scenario::{self, Scenario, ScenarioReport};
use crate::stats::Stats;
use crate::store::OrgState;

mod admin;
mod api;
mod auth;
mod insights;
mod middleware;
pub(crate) mod routes;

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) api_key: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) seed: u64,
    pub(crate) size: Size,
}

/// The tenant and what changes it.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) orgs: Vec<OrgState>,
    pub(crate) facts: Vec<Facts>,
    pub(crate) ids: ObjectIds,
    pub(crate) scenario_runs: u64,
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) org_ids: Vec<OrganizationId>,
    pub(crate) world: RwLock<World>,
    initial: Vec<(OrgState, Facts)>,
    initial_faults: Faults,
    pub(crate) clock: Clock,
    pub(crate) faults: Mutex<FaultState>,
    pub(crate) stats: Mutex<Stats>,
    /// Bearer tokens issued, with their expiry.
    pub(crate) tokens: Mutex<HashMap<String, DateTime<Utc>>>,
    pub(crate) token_rng: Mutex<fastrand::Rng>,
    pub(crate) routes: routes::RouteTable,
    requests: AtomicU64,
}

/// Locks a mutex, whatever a panicking holder left behind.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        tenants: Vec<(OrgState, Facts)>,
        clock: Clock,
        faults: Faults,
    ) -> Self {
        let org_ids = tenants.iter().map(|(org, _)| mutation::org_id(&org.id)).collect();
        let world = World {
            orgs: tenants.iter().map(|(org, _)| org.clone()).collect(),
            facts: tenants.iter().map(|(_, facts)| facts.clone()).collect(),
            ids: ObjectIds::new(mix(&[config.seed, hash_str("runtime ids")])),
            scenario_runs: 0,
        };
        let seed = config.seed;
        Self {
            org_ids,
            world: RwLock::new(world),
            initial: tenants,
            faults: Mutex::new(FaultState::new(faults.clone(), mix(&[seed, hash_str("faults")]))),
            initial_faults: faults,
            clock,
            stats: Mutex::new(Stats::default()),
            tokens: Mutex::new(HashMap::new()),
            token_rng: Mutex::new(fastrand::Rng::with_seed(mix(&[seed, hash_str("tokens")]))),
            routes: routes::RouteTable::from_catalog(),
            requests: AtomicU64::new(0),
            config,
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, World> {
        self.world.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, World> {
        self.world.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Several organizations: `x-org-id` is required.
    pub(crate) fn multi_tenant(&self) -> bool {
        self.org_ids.len() > 1
    }

    /// The server's clock, skew included.
    pub(crate) fn server_now(&self) -> DateTime<Utc> {
        let skew = lock(&self.faults).config.clock_skew_s;
        let now = self.clock.now();
        chrono::Duration::try_seconds(skew)
            .and_then(|skew| now.checked_add_signed(skew))
            .unwrap_or(now)
    }

    /// A request id, deterministic for a sequential client.
    pub(crate) fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let h = mix(&[self.config.seed, n]);
        format!("{:016x}{:016x}", h, mix(&[h, n]))
    }

    pub(crate) fn org_index(&self, id: &str) -> Option<usize> {
        self.org_ids.iter().position(|o| o.as_str() == id)
    }

    /// Who makes a change: an administrator by email, or the owner of the API key.
    fn actor(&self, world: &World, email: Option<&str>) -> Actor {
        let admins = world.facts.iter().flat_map(|f| f.admins.iter());
        match email {
            Some(email) => {
                let known = admins.clone().find(|(_, e)| e.eq_ignore_ascii_case(email));
                let id = known.map_or_else(
                    || {
                        let h = hash_str(&email.to_ascii_lowercase());
                        format!("{h:016x}{:08x}", mix(&[h]) & 0xffff_ffff)
                    },
                    |(id, _)| id.clone(),
                );
                Actor { id, kind: "admin", email: email.to_owned() }
            }
            None => {
                let owner = world.facts.iter().find_map(|f| f.key_owner.clone());
                let (id, email) =
                    owner.unwrap_or_else(|| ("0".repeat(24), "api@example.com".into()));
                Actor { id, kind: "api", email }
            }
        }
    }

    /// Applies mutations in order; stops at the first that is refused.
    pub(crate) fn apply(
        &self,
        mutations: &[Mutation],
        actor: Option<&str>,
        org: Option<&str>,
    ) -> Result<Vec<Applied>, (usize, String, Vec<Applied>)> {
        let now = self.server_now();
        let mut world = self.write();
        let mut applied = Vec::new();
        for (index, m) in mutations.iter().enumerate() {
            let org_id = m.org.as_ref().map(OrganizationId::as_str).or(org);
            let org_index = match org_id {
                Some(id) => match self.org_index(id) {
                    Some(i) => i,
                    None => return Err((index, format!("unknown organization {id:?}"), applied)),
                },
                None => 0,
            };
            let actor = self.actor(&world, m.actor.as_deref().or(actor));
            let World { orgs, ids, .. } = &mut *world;
            let mut cx = Context { now, actor: &actor, ids };
            match mutation::apply(&mut orgs[org_index], m, &mut cx) {
                Ok(done) => applied.push(done),
                Err(message) => return Err((index, message, applied)),
            }
        }
        Ok(applied)
    }

    /// Runs a scenario.
    pub(crate) fn scenario(
        &self,
        scenario: Scenario,
        actor: Option<&str>,
        org: Option<&str>,
    ) -> Result<ScenarioReport, String> {
        let org_index = match org {
            Some(id) => self.org_index(id).ok_or_else(|| format!("unknown organization {id:?}"))?,
            None => 0,
        };
        let now = self.server_now();
        let (plan, events) = {
            let mut world = self.write();
            world.scenario_runs += 1;
            let run = world.scenario_runs;
            let seed = mix(&[self.config.seed, hash_str(scenario.name()), run]);
            let World { orgs, facts, .. } = &mut *world;
            let facts = &facts[org_index];
            scenario::plan(scenario, &mut orgs[org_index], facts, seed, now)?
        };
        let actor = actor
            .map(str::to_owned)
            .or_else(|| scenario::default_actor(scenario, &self.read().facts[0]));
        let changes =
            self.apply(&plan, actor.as_deref(), Some(self.org_ids[org_index].as_str())).map_err(
                |(index, message, _)| format!("scenario step {index} failed: {message}"),
            )?;
        Ok(ScenarioReport { scenario: scenario.name().to_owned(), changes, events })
    }

    /// Puts the tenant, faults and statistics back as they were at start.
    pub(crate) fn reset(&self) {
        let mut world = self.write();
        world.orgs = self.initial.iter().map(|(org, _)| org.clone()).collect();
        world.facts = self.initial.iter().map(|(_, facts)| facts.clone()).collect();
        world.ids = ObjectIds::new(mix(&[self.config.seed, hash_str("runtime ids")]));
        world.scenario_runs = 0;
        drop(world);
        lock(&self.faults).set(self.initial_faults.clone());
        *lock(&self.stats) = Stats::default();
        self.requests.store(0, Ordering::Relaxed);
    }

    pub(crate) fn set_faults(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        lock(&self.faults).set(faults);
        Ok(())
    }
}

/// The router of the whole simulator.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/__sim/mutations", post(admin::mutations))
        .route("/__sim/scenarios/{name}", post(admin::scenario))
        .route("/__sim/faults", get(admin::get_faults).put(admin::put_faults))
        .route("/__sim/stats", get(admin::stats))
        .route("/__sim/reset", post(admin::reset))
        .route("/__sim/clock", get(admin::clock).post(admin::advance_clock))
        .route("/__sim/info", get(admin::info))
        .route("/oauth2/token", post(auth::token))
        .route("/insights/directory/v1/events", post(insights::events))
        .fallback(api::dispatch)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&shared), middleware::faults))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&shared), middleware::observe))
        .with_state(shared)
}

/// A JSON response from bytes.
pub(crate) fn json_bytes(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut response = (status, body.into()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    json_bytes(status, serde_json::to_vec(body).unwrap_or_default())
}

/// A JumpCloud error: `{"message": ...}`.
pub(crate) fn message(status: StatusCode, text: &str) -> Response {
    json_response(status, &json!({"message": text}))
}

/// Whether a header value is a well-formed organization id.
pub(crate) fn valid_org_id(text: &str) -> bool {
    is_object_id(text)
}
