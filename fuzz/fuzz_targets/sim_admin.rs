//! The simulator's admin API: mutation batches (`POST /__sim/mutations` and
//! `Simulator::apply`), fault settings (`PUT /__sim/faults`, `Faults` through serde and
//! `Simulator::set_faults`), scenarios and the clock. Bodies are raw bytes or JSON built from the
//! catalog's kinds, fields and ids. The simulator must answer 200 or a 400/404 with a JSON
//! message, and keep serving its API afterwards.
#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use arbitrary::{Arbitrary, Unstructured};
use jumpwatch_fuzz::{expect_status, request, sim};
use jumpwatch_model::ResourceKind;
use jumpwatch_sim::{Faults, Mutation, Scenario};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

/// Ids of the initial tenant, so that updates and deletes hit real resources.
fn ids() -> &'static [String] {
    static IDS: OnceLock<Vec<String>> = OnceLock::new();
    IDS.get_or_init(|| {
        let Some(tenant) = sim().tenant(0) else { return vec!["none".into()] };
        let mut ids = Vec::new();
        for kind in ResourceKind::ALL {
            ids.extend(
                tenant.resources(*kind).into_iter().take(3).map(|r| r.id.as_str().to_owned()),
            );
        }
        ids
    })
}

fn mutation(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    let kind = u.choose(ResourceKind::ALL)?;
    let mut object = Map::new();
    object.insert("op".into(), json!(u.choose(&["create", "update", "delete", "link", "x"])?));
    object.insert("kind".into(), json!(kind.name()));
    for key in ["id", "parent", "target"] {
        if u.ratio(1, 2)? {
            let id = if u.ratio(3, 4)? { u.choose(ids())?.clone() } else { String::arbitrary(u)? };
            object.insert(key.into(), json!(id));
        }
    }
    for key in ["doc", "attributes", "actor", "org", "unaudited"] {
        if u.ratio(1, 4)? {
            object.insert(key.into(), jumpwatch_fuzz::json(u, 3)?);
        }
    }
    if u.ratio(1, 2)? {
        let mut set = Map::new();
        for _ in 0..u.int_in_range(0..=3)? {
            let path = u.choose(jumpwatch_fuzz::field_names())?.clone();
            set.insert(path, jumpwatch_fuzz::json(u, 2)?);
        }
        object.insert("set".into(), Value::Object(set));
    }
    if u.ratio(1, 4)? {
        object.insert("unset".into(), json!([u.choose(jumpwatch_fuzz::field_names())?]));
    }
    Ok(Value::Object(object))
}

fn faults(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    let keys = [
        "latency_ms",
        "latency_jitter_ms",
        "error_rate",
        "rate_limit_per_sec",
        "burst_429_rate",
        "burst_length",
        "retry_after_s",
        "reset_rate",
        "truncate_rate",
        "short_page_rate",
        "move_items",
        "clock_skew_s",
        "retry_after",
        "x",
    ];
    let mut object = Map::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let key = (*u.choose(&keys)?).to_owned();
        let value = match u.int_in_range(0..=3u8)? {
            0 => json!(f64::arbitrary(u)?),
            1 => json!(i64::arbitrary(u)?),
            2 => json!(u.int_in_range(0..=100u32)? as f64 / 100.0),
            _ => jumpwatch_fuzz::json(u, 1)?,
        };
        object.insert(key, value);
    }
    Ok(Value::Object(object))
}

fn raw_or(u: &mut Unstructured<'_>, built: Value) -> arbitrary::Result<Vec<u8>> {
    Ok(if u.ratio(1, 8)? {
        <&[u8]>::arbitrary(u)?.to_vec()
    } else {
        serde_json::to_vec(&built).unwrap_or_default()
    })
}

fn run(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let sim = sim();
    match u.int_in_range(0..=5u8)? {
        0 => {
            let mut batch = Vec::new();
            for _ in 0..u.int_in_range(1..=3)? {
                batch.push(mutation(u)?);
            }
            let body = if u.ratio(1, 2)? {
                Value::Array(batch)
            } else {
                json!({"mutations": batch, "actor": "fuzz@example.com"})
            };
            let body = raw_or(u, body)?;
            expect_status(
                request("POST", "/__sim/mutations", &[], &body),
                &[200, 400],
                "mutations",
            );
        }
        1 => {
            let mut parsed = Vec::new();
            for _ in 0..u.int_in_range(1..=3)? {
                if let Ok(m) = serde_json::from_value::<Mutation>(mutation(u)?) {
                    parsed.push(m);
                }
            }
            if let Err(error) = sim.apply(parsed) {
                assert!(!error.to_string().is_empty());
            }
        }
        2 => {
            let body = faults(u)?;
            let body = raw_or(u, body)?;
            let reply =
                expect_status(request("PUT", "/__sim/faults", &[], &body), &[200, 400], "faults");
            if reply.status == 200 {
                // What was accepted reads back as the same settings.
                let accepted: Result<Faults, _> = serde_json::from_slice(&body);
                let echoed: Result<Faults, _> = serde_json::from_slice(&reply.body);
                assert!(accepted.is_ok() && echoed.is_ok());
                assert_eq!(accepted.ok(), echoed.ok());
            }
            let _ = sim.set_faults(Faults::none());
        }
        3 => {
            if let Ok(faults) = serde_json::from_value::<Faults>(faults(u)?) {
                if let Err(error) = sim.set_faults(faults) {
                    assert!(!error.to_string().is_empty());
                }
            }
            let _ = sim.set_faults(Faults::none());
        }
        4 => {
            let names: Vec<&str> =
                Scenario::ALL.iter().map(|s| s.name()).chain(["nope", "%20"]).collect();
            let name = u.choose(&names)?;
            let body = if u.ratio(1, 2)? {
                Vec::new()
            } else {
                let built = jumpwatch_fuzz::json(u, 2)?;
                raw_or(u, built)?
            };
            expect_status(
                request("POST", &format!("/__sim/scenarios/{name}"), &[], &body),
                &[200, 400, 404],
                "scenario",
            );
        }
        _ => {
            let advance = if u.ratio(1, 2)? {
                json!(u.int_in_range(0..=400_000_000i64)?)
            } else {
                jumpwatch_fuzz::json(u, 1)?
            };
            let body = raw_or(u, json!({"advance_s": advance}))?;
            expect_status(request("POST", "/__sim/clock", &[], &body), &[200, 400], "clock");
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
    // The API still serves a page and events after whatever the admin API was asked.
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    if n % 16 == 0 {
        let users = format!(
            "{}{}?limit=5",
            ResourceKind::User.meta().api.base_path(),
            ResourceKind::User.meta().list_path
        );
        expect_status(request("GET", &users, &[], b""), &[200], "a list after admin calls");
        let body = br#"{"service": ["all"], "start_time": "2020-01-01T00:00:00Z", "limit": 5}"#;
        expect_status(
            request("POST", jumpwatch_api::EVENTS_PATH, &[], body),
            &[200],
            "events after admin calls",
        );
    }
    if n % 256 == 255 {
        sim().reset();
    }
});
