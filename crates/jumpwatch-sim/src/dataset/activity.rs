//! Background Directory Insights activity: user and administrator sign-ins (with and without
//! MFA), SSO, device, RADIUS and LDAP authentications, and the creation of recent users.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::devices::Devices;
use super::names::BROWSERS;
use super::people::People;
use super::services::Services;
use super::{Gen, one};
use crate::events::{NewEvent, build};
use crate::ids::{hash_str, mix};
use crate::store::Event;

fn client(rng: &mut fastrand::Rng) -> (String, Value, Value) {
    let ip = format!("198.51.100.{}", rng.u8(1..254));
    let (browser, version) = *one(rng, BROWSERS);
    let os = *one(rng, &["Mac OS X", "Windows", "Linux", "iOS"]);
    let useragent = json!({"name": browser, "version": version, "os": os, "device": "Other"});
    let geoip = json!({"country_code": *one(rng, &["GB", "DE", "FR", "US", "CA"]), "timezone": "Europe/London"});
    (ip, useragent, geoip)
}

/// Generates the background events of the last 30 days (and the creation of users made in the
/// last 90 days).
#[allow(clippy::too_many_lines)]
pub(crate) fn background(g: &mut Gen, people: &People, devices: &Devices, services: &Services) {
    let mut rng = g.rng("activity");
    g.org.events.seed = mix(&[g.seed, hash_str("events")]);
    let org_id = g.org.id.clone();
    let mut events: Vec<Event> = Vec::new();
    let now = g.now;
    let when = |rng: &mut fastrand::Rng, max_days: f64| -> DateTime<Utc> {
        #[allow(clippy::cast_possible_truncation)]
        let seconds = (60.0 + rng.f64() * max_days * 86_400.0) as i64;
        now - Duration::seconds(seconds)
    };
    let mut system_of: HashMap<usize, usize> = HashMap::new();
    for (i, system) in devices.systems.iter().enumerate() {
        if let Some(user) = system.primary_user {
            system_of.entry(user).or_insert(i);
        }
    }
    let extra = if people.users.len() > 5_000 { 2 } else { 4 };
    for (i, user) in people.users.iter().enumerate() {
        if !user.active() || user.dormant {
            continue;
        }
        let initiated_by =
            json!({"id": user.id, "type": "user", "username": user.username, "email": user.email});
        if user.ldap_bind {
            for _ in 0..3 {
                let (ip, _, _) = client(&mut rng);
                let at = when(&mut rng, 30.0);
                events.push(build(
                    &org_id,
                    &mut rng,
                    NewEvent::new(at, "ldap_bind", "ldap")
                        .with("initiated_by", initiated_by.clone())
                        .with("username", json!(user.username))
                        .with("client_ip", json!(ip))
                        .with("success", json!(true)),
                ));
            }
            continue;
        }
        let logins = 1 + rng.usize(..extra);
        for k in 0..logins {
            let (ip, useragent, geoip) = client(&mut rng);
            let at = when(&mut rng, 30.0);
            // Most sign-ins succeed; a failed one is followed by a success.
            let success = k > 0 || rng.u8(..20) != 0;
            events.push(build(
                &org_id,
                &mut rng,
                NewEvent::new(at, "user_login_attempt", "directory")
                    .with("initiated_by", initiated_by.clone())
                    .with("username", json!(user.username))
                    .with("success", json!(success))
                    .with("mfa", json!(user.mfa_enrolled && success))
                    .with("auth_method", json!("password"))
                    .with("client_ip", json!(ip))
                    .with("useragent", useragent.clone())
                    .with("geoip", geoip.clone()),
            ));
            if !success {
                events.push(build(
                    &org_id,
                    &mut rng,
                    NewEvent::new(at + Duration::seconds(40), "user_login_attempt", "directory")
                        .with("initiated_by", initiated_by.clone())
                        .with("username", json!(user.username))
                        .with("success", json!(true))
                        .with("mfa", json!(user.mfa_enrolled))
                        .with("auth_method", json!("password"))
                        .with("client_ip", json!(ip))
                        .with("useragent", useragent.clone())
                        .with("geoip", geoip.clone()),
                ));
            }
            if !services.applications.is_empty() && rng.u8(..10) < 3 {
                let (app_id, label) = one(&mut rng, &services.applications).clone();
                events.push(build(
                    &org_id,
                    &mut rng,
                    NewEvent::new(at + Duration::minutes(2), "sso_auth", "sso")
                        .with("initiated_by", initiated_by.clone())
                        .with("username", json!(user.username))
                        .with(
                            "application",
                            json!({"id": app_id, "name": label, "display_label": label}),
                        )
                        .with("mfa", json!(user.mfa_enrolled))
                        .with("client_ip", json!(ip))
                        .with("useragent", useragent.clone()),
                ));
            }
            if let Some(&s) = system_of.get(&i)
                && rng.u8(..10) < 3
            {
                let system = &devices.systems[s];
                events.push(build(&org_id, &mut rng, NewEvent::new(at - Duration::minutes(30), "login_attempt", "systems")
                    .with("initiated_by", initiated_by.clone())
                    .with("username", json!(user.username))
                    .with("system", json!({"id": system.id, "hostname": system.hostname, "displayName": system.display_name}))
                    .with("mfa", json!(false))
                    .with("client_ip", json!(ip))));
            }
            if !services.radius.is_empty() && rng.u8(..20) == 0 {
                let (radius_id, name) = one(&mut rng, &services.radius).clone();
                events.push(build(
                    &org_id,
                    &mut rng,
                    NewEvent::new(at + Duration::minutes(5), "radius_auth_attempt", "radius")
                        .with("initiated_by", initiated_by.clone())
                        .with("username", json!(user.username))
                        .with(
                            "resource",
                            json!({"id": radius_id, "type": "radius_server", "name": name}),
                        )
                        .with("mfa", json!(false))
                        .with("client_ip", json!(ip)),
                ));
            }
        }
    }
    // Administrators sign in to the Admin Portal; the one without TOTP does so without MFA, and
    // one signs in with Google (which skips JumpCloud's MFA).
    for (k, admin) in people.admins.iter().enumerate() {
        let initiated_by = json!({"id": admin.id, "type": "admin", "email": admin.email});
        for n in 0..(3 + rng.usize(..6)) {
            let (ip, useragent, geoip) = client(&mut rng);
            let google = k == 1 && n == 0;
            let at = when(&mut rng, 30.0);
            events.push(build(
                &org_id,
                &mut rng,
                NewEvent::new(at, "admin_login_attempt", "directory")
                    .with("initiated_by", initiated_by.clone())
                    .with("success", json!(true))
                    .with("mfa", json!(admin.mfa && !google))
                    .with("provider", if google { json!("google") } else { Value::Null })
                    .with("auth_method", json!(if google { "google" } else { "password" }))
                    .with("client_ip", json!(ip))
                    .with("useragent", useragent)
                    .with("geoip", geoip),
            ));
        }
    }
    // Users created in the last 90 days were created by the key owner's integration.
    if let Some(owner) = people.admins.first() {
        for user in &people.users {
            if now - user.created < Duration::days(90) {
                events.push(build(
                    &org_id,
                    &mut rng,
                    NewEvent::new(user.created, "user_create", "directory")
                        .with(
                            "initiated_by",
                            json!({"id": owner.id, "type": "api", "email": owner.email}),
                        )
                        .with("auth_method", json!("api key"))
                        .with(
                            "resource",
                            json!({"id": user.id, "type": "user", "username": user.username}),
                        )
                        .with("client_ip", json!("192.0.2.10")),
                ));
            }
        }
    }
    g.org.events.extend_sorted(events);
}
