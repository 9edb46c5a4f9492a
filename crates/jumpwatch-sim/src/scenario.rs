//! Scenarios: realistic batches of changes made on demand (`POST /__sim/scenarios/{name}`), so a
//! test can compare what a client detects with what happened.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use jumpwatch_model::{ResourceId, ResourceKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dataset::Facts;
use crate::dataset::names::{DEPARTMENTS, FIRST_NAMES, LAST_NAMES};
use crate::events::{NewEvent, record};
use crate::graph::Node;
use crate::mutation::{Applied, Mutation};
use crate::store::OrgState;

/// A named batch of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scenario {
    /// Everyday drift across kinds: hires, department moves, a suspension, an OS upgrade, a retired
    /// and a new device, group membership changes, a policy setting, a new command, an IP list
    /// and an application edited.
    Drift,
    /// Changes that should trip security rules: sudo and passwordless sudo granted, MFA no longer
    /// required, a leaver reactivated, organization settings weakened, disk encryption turned
    /// off, SSH root login allowed, a conditional access policy disabled, an IP list opened to
    /// the internet, a member added to an admin group, RADIUS MFA disabled, a disk encryption
    /// policy unbound, a group granted passwordless sudo, a command with a pasted secret, and a
    /// device binding with sudo.
    Risky,
    /// Sign-ins now: users with and without MFA, an administrator without MFA, and a burst of
    /// six failed sign-ins by another administrator. Makes events only.
    Logins,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: &'static [Scenario] = &[Scenario::Drift, Scenario::Risky, Scenario::Logins];

    /// The scenario's name in the admin API.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Drift => "drift",
            Self::Risky => "risky",
            Self::Logins => "logins",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a scenario.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scenario {0:?} (known: drift, risky, logins)")]
pub struct UnknownScenario(pub String);

impl FromStr for Scenario {
    type Err = UnknownScenario;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|s| s.name() == text)
            .ok_or_else(|| UnknownScenario(text.to_owned()))
    }
}

/// What a scenario did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScenarioReport {
    /// The scenario's name.
    pub scenario: String,
    /// The changes made (kind, id, op, fields, from and to).
    pub changes: Vec<Applied>,
    /// Directory Insights events made without a change (sign-ins).
    pub events: Vec<Value>,
}

/// The administrator a scenario acts as by default.
pub(crate) fn default_actor(scenario: Scenario, facts: &Facts) -> Option<String> {
    let index = match scenario {
        Scenario::Drift => 1,
        Scenario::Risky => 2,
        Scenario::Logins => return None,
    };
    facts.admins.get(index).or_else(|| facts.admins.first()).map(|(_, email)| email.clone())
}

/// A stored document with its id.
struct Item {
    id: ResourceId,
    doc: Value,
}

impl std::ops::Index<&str> for Item {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        &self.doc[key]
    }
}

/// The documents of a scenario's kinds, parsed once.
struct Snapshot(std::collections::BTreeMap<ResourceKind, Vec<Item>>);

impl Snapshot {
    fn of(org: &OrgState) -> Self {
        Self(
            org.kinds
                .iter()
                .filter(|(kind, _)| kind.meta().api != jumpwatch_model::catalog::Api::Insights)
                .map(|(kind, c)| {
                    let items = c.iter().map(|(id, d)| Item { id: id.clone(), doc: d.value() });
                    (*kind, items.collect())
                })
                .collect(),
        )
    }

    fn docs(&self, kind: ResourceKind) -> Vec<&Item> {
        self.0.get(&kind).map(|docs| docs.iter().collect()).unwrap_or_default()
    }
}

fn text<'v>(item: &'v Item, field: &str) -> &'v str {
    item.doc.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn choose<'v, T>(rng: &mut fastrand::Rng, candidates: &'v [T]) -> Option<&'v T> {
    (!candidates.is_empty()).then(|| &candidates[rng.usize(..candidates.len())])
}

fn is(item: &Item, path: &str, value: &Value) -> bool {
    crate::store::lookup(&item.doc, path) == Some(value)
}

fn group_id(snap: &Snapshot, kind: ResourceKind, name: &str) -> Option<ResourceId> {
    snap.docs(kind).into_iter().find(|g| g["name"] == name).map(|g| g.id.clone())
}

/// The mutations of a scenario (and the events it records directly).
pub(crate) fn plan(
    scenario: Scenario,
    org: &mut OrgState,
    facts: &Facts,
    seed: u64,
    now: DateTime<Utc>,
) -> Result<(Vec<Mutation>, Vec<Value>), String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    match scenario {
        Scenario::Drift => Ok((drift(org, facts, &mut rng), Vec::new())),
        Scenario::Risky => Ok((risky(org, &mut rng), Vec::new())),
        Scenario::Logins => Ok((Vec::new(), logins(org, facts, &mut rng, now))),
    }
}

fn new_user(rng: &mut fastrand::Rng, domain: &str, org_id: &str) -> Value {
    let first = FIRST_NAMES[rng.usize(..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.usize(..LAST_NAMES.len())];
    let (department, titles) = DEPARTMENTS[rng.usize(..DEPARTMENTS.len())];
    let username = format!(
        "{}.{}{}",
        first.to_ascii_lowercase(),
        last.to_ascii_lowercase().replace([' ', '-'], ""),
        rng.u16(100..1000)
    );
    json!({
        "username": username,
        "email": format!("{username}@{domain}"),
        "firstname": first,
        "lastname": last,
        "displayname": format!("{first} {last}"),
        "department": department,
        "jobTitle": titles[rng.usize(..titles.len())],
        "organization": org_id,
        "activated": false,
        "state": "STAGED",
        "suspended": false,
        "account_locked": false,
        "sudo": false,
        "passwordless_sudo": false,
        "enable_user_portal_multifactor": true,
        "totp_enabled": false,
        "ldap_binding_user": false,
        "password_never_expires": false,
        "mfa": {"configured": false, "exclusion": true, "exclusionDays": 7},
        "mfaEnrollment": {"overallStatus": "PRE_ENROLLMENT", "totpStatus": "NOT_ENROLLED", "webAuthnStatus": "NOT_ENROLLED", "pushStatus": "NOT_ENROLLED", "jcGoStatus": "NOT_ENROLLED"},
        "creationSource": "manual",
        "attributes": [],
        "ssh_keys": [],
    })
}

#[allow(clippy::too_many_lines)]
fn drift(org: &OrgState, facts: &Facts, rng: &mut fastrand::Rng) -> Vec<Mutation> {
    let mut out = Vec::new();
    let snap = Snapshot::of(org);
    let users = snap.docs(ResourceKind::User);
    let active: Vec<&Item> = users
        .iter()
        .copied()
        .filter(|u| u["state"] == "ACTIVATED" && u["ldap_binding_user"] != true)
        .collect();
    for _ in 0..2 {
        out.push(Mutation::create(ResourceKind::User, new_user(rng, &facts.domain, &org.id)));
    }
    for _ in 0..2 {
        if let Some(user) = choose(rng, &active) {
            let (department, titles) = DEPARTMENTS[rng.usize(..DEPARTMENTS.len())];
            out.push(
                Mutation::update(ResourceKind::User, user.id.clone())
                    .set("department", json!(department))
                    .set("jobTitle", json!(titles[rng.usize(..titles.len())])),
            );
        }
    }
    if let Some(user) = choose(rng, &active) {
        out.push(
            Mutation::update(ResourceKind::User, user.id.clone())
                .set("state", json!("SUSPENDED"))
                .set("suspended", json!(true)),
        );
    }
    let systems = snap.docs(ResourceKind::System);
    let macs: Vec<&Item> = systems
        .iter()
        .copied()
        .filter(|s| s["osFamily"] == "darwin" && s["osVersionDetail"]["majorNumber"] == 14)
        .collect();
    if let Some(mac) = choose(rng, &macs) {
        out.push(
            Mutation::update(ResourceKind::System, mac.id.clone())
                .set("version", json!("15.1.0"))
                .set("osVersionDetail.version", json!("15.1.0"))
                .set("osVersionDetail.major", json!("15"))
                .set("osVersionDetail.minor", json!("1"))
                .set("osVersionDetail.patch", json!("0"))
                .set("osVersionDetail.majorNumber", json!(15))
                .set("osVersionDetail.minorNumber", json!(1))
                .set("osVersionDetail.patchNumber", json!(0))
                .set("osVersionDetail.revision", json!("24B83"))
                .set("osVersionDetail.releaseName", json!("Sequoia")),
        );
    }
    if let Some(system) = choose(rng, &systems) {
        let name = format!("{}-renamed", text(system, "hostname"));
        out.push(
            Mutation::update(ResourceKind::System, system.id.clone())
                .set("displayName", json!(name)),
        );
    }
    // The longest-silent device is retired.
    let stale = systems
        .iter()
        .copied()
        .filter(|s| s["lastContact"].is_string())
        .min_by_key(|s| text(s, "lastContact").to_owned());
    if let Some(stale) = stale {
        out.push(Mutation::delete(ResourceKind::System, stale.id.clone()));
    }
    // A new laptop enrolls.
    if let Some(template) = choose(
        rng,
        &macs.iter().copied().filter(|s| s["lastContact"].is_string()).collect::<Vec<_>>(),
    ) {
        let mut doc = template.doc.clone();
        if let Some(object) = doc.as_object_mut() {
            object.remove("_id");
            object.remove("created");
            let host = format!("new-mbp-{}", rng.u16(100..1000));
            object.insert("hostname".into(), json!(host));
            object.insert("displayName".into(), json!(host));
            object
                .insert("serialNumber".into(), json!(crate::ids::hex(rng, 5).to_ascii_uppercase()));
        }
        out.push(Mutation::create(ResourceKind::System, doc));
    }
    // Membership changes.
    let groups = snap.docs(ResourceKind::UserGroup);
    if let (Some(group), Some(user)) = (choose(rng, &groups), choose(rng, &active)) {
        let node = Node::new("user_group", group.id.clone());
        if org.graph.neighbours(&node, "user").all(|(id, _)| *id != user.id) {
            out.push(Mutation::link(
                ResourceKind::UserGroupMember,
                group.id.clone(),
                user.id.clone(),
            ));
        }
        if let Some((member, _)) =
            org.graph.neighbours(&node, "user").find(|(id, _)| **id != user.id)
        {
            out.push(Mutation::unlink(
                ResourceKind::UserGroupMember,
                group.id.clone(),
                member.clone(),
            ));
        }
    }
    // A policy setting.
    let policies = snap.docs(ResourceKind::Policy);
    if let Some(policy) = policies.iter().find(|p| p["template"]["name"] == "lock_screen_darwin") {
        let values: Vec<Value> = policy["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                let mut v = v.clone();
                v["value"] = json!("600");
                v
            })
            .collect();
        out.push(
            Mutation::update(ResourceKind::Policy, policy.id.clone()).set("values", json!(values)),
        );
    }
    out.push(Mutation::create(
        ResourceKind::Command,
        json!({
            "name": format!("Clear browser caches {}", rng.u16(100..1000)),
            "command": "#!/bin/zsh\nrm -rf ~/Library/Caches/Google/Chrome/Default/Cache\n",
            "commandType": "mac",
            "launchType": "manual",
            "schedule": "immediate",
            "sudo": false,
            "shell": "/bin/zsh",
            "timeout": "60",
            "files": [],
            "commandRunners": [],
        }),
    ));
    if let Some(list) =
        snap.docs(ResourceKind::IpList).into_iter().find(|l| l["name"] == "Office egress")
    {
        let mut ips: Vec<Value> = list["ips"].as_array().cloned().unwrap_or_default();
        ips.push(json!(format!("198.51.100.{}", rng.u8(100..200))));
        out.push(Mutation::update(ResourceKind::IpList, list.id.clone()).set("ips", json!(ips)));
    }
    if let Some(app) = choose(rng, &snap.docs(ResourceKind::Application)) {
        let label = format!("{} (SSO)", text(app, "displayLabel"));
        out.push(
            Mutation::update(ResourceKind::Application, app.id.clone())
                .set("displayLabel", json!(label)),
        );
    }
    out
}

#[allow(clippy::too_many_lines)]
fn risky(org: &OrgState, rng: &mut fastrand::Rng) -> Vec<Mutation> {
    let mut out = Vec::new();
    let snap = Snapshot::of(org);
    let users = snap.docs(ResourceKind::User);
    let active: Vec<&Item> = users
        .iter()
        .copied()
        .filter(|u| u["state"] == "ACTIVATED" && u["ldap_binding_user"] != true)
        .collect();
    let plain: Vec<&Item> =
        active.iter().copied().filter(|u| u["sudo"] != true && u["department"] != "IT").collect();
    if let Some(user) = choose(rng, &plain) {
        out.push(
            Mutation::update(ResourceKind::User, user.id.clone())
                .set("sudo", json!(true))
                .set("passwordless_sudo", json!(true)),
        );
    }
    let required: Vec<&Item> =
        active.iter().copied().filter(|u| u["enable_user_portal_multifactor"] == true).collect();
    if let Some(user) = choose(rng, &required) {
        out.push(
            Mutation::update(ResourceKind::User, user.id.clone())
                .set("enable_user_portal_multifactor", json!(false)),
        );
    }
    let suspended: Vec<&Item> =
        users.iter().copied().filter(|u| u["state"] == "SUSPENDED").collect();
    if let Some(user) = choose(rng, &suspended) {
        out.push(
            Mutation::update(ResourceKind::User, user.id.clone())
                .set("state", json!("ACTIVATED"))
                .set("suspended", json!(false)),
        );
    }
    if let Some(organization) = snap.docs(ResourceKind::Organization).first() {
        let length = organization["settings"]["passwordPolicy"]["minLength"].as_i64().unwrap_or(8);
        out.push(
            Mutation::update(ResourceKind::Organization, organization.id.clone())
                .set("settings.requireAdminMFA", json!(false))
                .set("settings.passwordPolicy.minLength", json!((length - 2).max(4)))
                .set("settings.passwordPolicy.enableMaxLoginAttempts", json!(false))
                .set("settings.passwordPolicy.allowUnenrolledMFAPasswordReset", json!(true)),
        );
    }
    let systems = snap.docs(ResourceKind::System);
    let encrypted: Vec<&Item> = systems
        .iter()
        .copied()
        .filter(|s| s["osFamily"] == "darwin" && is(s, "fde.active", &json!(true)))
        .collect();
    if let Some(mac) = choose(rng, &encrypted) {
        out.push(
            Mutation::update(ResourceKind::System, mac.id.clone()).set("fde.active", json!(false)),
        );
    }
    let hardened: Vec<&Item> = systems
        .iter()
        .copied()
        .filter(|s| s["osFamily"] == "linux" && s["allowSshRootLogin"] == false)
        .collect();
    if let Some(linux) = choose(rng, &hardened) {
        out.push(
            Mutation::update(ResourceKind::System, linux.id.clone())
                .set("allowSshRootLogin", json!(true))
                .set("sshRootEnabled", json!(true)),
        );
    }
    let enforced: Vec<&Item> = snap
        .docs(ResourceKind::AuthnPolicy)
        .into_iter()
        .filter(|p| {
            p["disabled"] == false && is(p, "effect.obligations.mfa.required", &json!(true))
        })
        .collect();
    if let Some(policy) = enforced.first() {
        out.push(
            Mutation::update(ResourceKind::AuthnPolicy, policy.id.clone())
                .set("disabled", json!(true)),
        );
    }
    if let Some(list) = snap
        .docs(ResourceKind::IpList)
        .into_iter()
        .find(|l| !l["ips"].as_array().is_some_and(|ips| ips.contains(&json!("0.0.0.0/0"))))
    {
        let mut ips: Vec<Value> = list["ips"].as_array().cloned().unwrap_or_default();
        ips.push(json!("0.0.0.0/0"));
        out.push(Mutation::update(ResourceKind::IpList, list.id.clone()).set("ips", json!(ips)));
    }
    if let (Some(group), Some(user)) =
        (group_id(&snap, ResourceKind::UserGroup, "IT Admins"), choose(rng, &plain))
    {
        out.push(Mutation::link(ResourceKind::UserGroupMember, group, user.id.clone()));
    }
    if let Some(radius) =
        snap.docs(ResourceKind::RadiusServer).into_iter().find(|r| r["mfa"] == "REQUIRED")
    {
        out.push(
            Mutation::update(ResourceKind::RadiusServer, radius.id.clone())
                .set("mfa", json!("DISABLED")),
        );
    }
    let filevault = snap
        .docs(ResourceKind::Policy)
        .into_iter()
        .find(|p| p["template"]["name"] == "filevault_darwin")
        .map(|p| p.id.clone());
    if let (Some(policy), Some(group)) =
        (filevault, group_id(&snap, ResourceKind::SystemGroup, "Managed Macs"))
    {
        out.push(Mutation::unlink(ResourceKind::PolicySystemGroupBinding, policy, group));
    }
    let plain_groups: Vec<&Item> = snap
        .docs(ResourceKind::UserGroup)
        .into_iter()
        .filter(|g| !is(g, "attributes.sudo.enabled", &json!(true)))
        .collect();
    if let Some(group) = choose(rng, &plain_groups) {
        out.push(
            Mutation::update(ResourceKind::UserGroup, group.id.clone())
                .set("attributes.sudo", json!({"enabled": true, "withoutPassword": true})),
        );
    }
    out.push(Mutation::create(
        ResourceKind::Command,
        json!({
            "name": format!("Deploy database credentials {}", rng.u16(100..1000)),
            "command": "#!/bin/bash\necho 'DB_PASSWORD=Sup3rS3cret-Prod!' >> /etc/app.env\n",
            "commandType": "linux",
            "launchType": "manual",
            "schedule": "immediate",
            "user": "000000000000000000000000",
            "sudo": true,
            "shell": "/bin/bash",
            "timeout": "60",
            "files": [],
            "commandRunners": [],
        }),
    ));
    let reporting: Vec<&Item> =
        systems.iter().copied().filter(|s| s["lastContact"].is_string()).collect();
    if let (Some(system), Some(user)) = (choose(rng, &reporting), choose(rng, &plain)) {
        let node = Node::new("system", system.id.clone());
        if org.graph.neighbours(&node, "user").all(|(id, _)| *id != user.id) {
            out.push(
                Mutation::link(ResourceKind::SystemUserBinding, system.id.clone(), user.id.clone())
                    .attributes(json!({"sudo": {"enabled": true, "withoutPassword": true}})),
            );
        }
    }
    out
}

fn logins(
    org: &mut OrgState,
    facts: &Facts,
    rng: &mut fastrand::Rng,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let snap = Snapshot::of(org);
    let users: Vec<&Item> =
        snap.docs(ResourceKind::User).into_iter().filter(|u| u["state"] == "ACTIVATED").collect();
    let mut out = Vec::new();
    for _ in 0..users.len().min(5) {
        let user = users[rng.usize(..users.len())];
        let mfa = is(user, "mfa.configured", &json!(true));
        let event = NewEvent::new(now, "user_login_attempt", "directory")
            .with("initiated_by", json!({"id": user["_id"], "type": "user", "username": user["username"], "email": user["email"]}))
            .with("username", user["username"].clone())
            .with("success", json!(true))
            .with("mfa", json!(mfa))
            .with("auth_method", json!("password"))
            .with("client_ip", json!(format!("198.51.100.{}", rng.u8(1..254))));
        out.push(record(&mut org.events, &org.id, event));
    }
    if let Some((id, email)) = facts.admins.get(2).or_else(|| facts.admins.first()) {
        let event = NewEvent::new(now, "admin_login_attempt", "directory")
            .with("initiated_by", json!({"id": id, "type": "admin", "email": email}))
            .with("success", json!(true))
            .with("mfa", json!(false))
            .with("auth_method", json!("password"))
            .with("client_ip", json!("203.0.113.66"));
        out.push(record(&mut org.events, &org.id, event));
    }
    // Password guessing against another administrator: a burst of failed sign-ins.
    if let Some((id, email)) = facts.admins.get(1).or_else(|| facts.admins.first()) {
        for _ in 0..FAILED_ADMIN_LOGINS {
            let event = NewEvent::new(now, "admin_login_attempt", "directory")
                .with("initiated_by", json!({"id": id, "type": "admin", "email": email}))
                .with("success", json!(false))
                .with("mfa", json!(false))
                .with("auth_method", json!("password"))
                .with("client_ip", json!("203.0.113.77"));
            out.push(record(&mut org.events, &org.id, event));
        }
    }
    out
}

/// The failed administrator sign-ins of the `logins` scenario.
const FAILED_ADMIN_LOGINS: usize = 6;
