//! Policy templates, policies and policy groups, their bindings, and the results of applying
//! them to the systems they reach.

use std::collections::{HashMap, HashSet};

use chrono::Duration;
use jumpwatch_model::{ResourceId, ResourceKind};
use serde_json::{Value, json};

use super::devices::{Devices, Os};
use super::{Gen, pick};
use crate::graph::{self, Node};
use crate::ids::hash_str;

/// Policy results per system id.
pub(crate) type PolicyStats = HashMap<String, Counts>;

/// How many policy statuses of a system are in each state.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub(crate) total: i64,
    pub(crate) success: i64,
    pub(crate) failed: i64,
    pub(crate) pending: i64,
}

/// A policy template: name, display name, OS family, description, config fields (name, label,
/// display type, default value, sensitive).
type Template = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, &'static str, &'static str, bool)],
);

const TEMPLATES: &[Template] = &[
    (
        "filevault_darwin",
        "FileVault 2",
        "darwin",
        "Encrypts the startup disk with FileVault 2 and escrows the recovery key.",
        &[("escrowRecoveryKey", "Escrow the personal recovery key", "checkbox", "true", false)],
    ),
    (
        "bitlocker_windows",
        "BitLocker Full Disk Encryption",
        "windows",
        "Encrypts the system drive with BitLocker.",
        &[
            ("encryptionMethod", "Encryption method", "select", "XTS_AES_128", false),
            ("recoveryPassword", "Recovery password", "text", "", true),
        ],
    ),
    (
        "lock_screen_darwin",
        "Lock Screen",
        "darwin",
        "Locks the screen after a period of inactivity.",
        &[("timeout", "Idle time before lock (seconds)", "number", "900", false)],
    ),
    (
        "lock_screen_windows",
        "Lock Screen",
        "windows",
        "Locks the screen after a period of inactivity.",
        &[("timeout", "Idle time before lock (seconds)", "number", "900", false)],
    ),
    (
        "lock_screen_linux",
        "Lock Screen",
        "linux",
        "Locks the screen after a period of inactivity.",
        &[("timeout", "Idle time before lock (seconds)", "number", "900", false)],
    ),
    (
        "firewall_darwin",
        "Application Firewall",
        "darwin",
        "Turns on the macOS application firewall.",
        &[("stealthMode", "Stealth mode", "checkbox", "true", false)],
    ),
    (
        "firewall_windows",
        "Windows Firewall",
        "windows",
        "Turns on Windows Defender Firewall for every profile.",
        &[("profiles", "Profiles", "select", "all", false)],
    ),
    (
        "software_update_darwin",
        "Software Updates",
        "darwin",
        "Installs macOS updates automatically.",
        &[("deferralDays", "Deferral (days)", "number", "7", false)],
    ),
    (
        "system_updates_windows",
        "Windows Updates",
        "windows",
        "Configures automatic Windows Update installation.",
        &[("deadlineDays", "Deadline (days)", "number", "7", false)],
    ),
    (
        "usb_storage_windows",
        "Block USB Storage",
        "windows",
        "Prevents the use of removable storage.",
        &[],
    ),
    (
        "gatekeeper_darwin",
        "Gatekeeper",
        "darwin",
        "Allows only signed applications.",
        &[("allowIdentifiedDevelopers", "Allow identified developers", "checkbox", "true", false)],
    ),
    (
        "disable_guest_account_darwin",
        "Disable Guest Account",
        "darwin",
        "Turns off the guest account.",
        &[],
    ),
    ("ssh_root_login_linux", "Disable SSH Root Login", "linux", "Sets PermitRootLogin to no.", &[]),
    (
        "chrome_auto_update_universal",
        "Chrome Auto Update",
        "universal",
        "Keeps Google Chrome up to date.",
        &[],
    ),
];

/// A policy: name, template, values (field, value), where it is bound.
type PolicySpec = (&'static str, &'static str, &'static [(&'static str, &'static str)], Bound);

const POLICIES: &[PolicySpec] = &[
    (
        "FileVault 2",
        "filevault_darwin",
        &[("escrowRecoveryKey", "true")],
        Bound::Group("Managed Macs"),
    ),
    (
        "BitLocker",
        "bitlocker_windows",
        &[
            ("encryptionMethod", "XTS_AES_128"),
            ("recoveryPassword", "482901-559184-102937-448201-774410-190288-330719-601842"),
        ],
        Bound::Group("All Windows"),
    ),
    (
        "Mac screen lock (15 min)",
        "lock_screen_darwin",
        &[("timeout", "900")],
        Bound::PolicyGroup("macOS baseline"),
    ),
    (
        "Windows screen lock (30 min)",
        "lock_screen_windows",
        &[("timeout", "1800")],
        Bound::Group("All Windows"),
    ),
    (
        "Linux screen lock",
        "lock_screen_linux",
        &[("timeout", "600")],
        Bound::Group("Linux Desktops"),
    ),
    (
        "macOS firewall",
        "firewall_darwin",
        &[("stealthMode", "true")],
        Bound::PolicyGroup("macOS baseline"),
    ),
    ("Windows firewall", "firewall_windows", &[("profiles", "all")], Bound::Some("All Windows")),
    (
        "macOS updates",
        "software_update_darwin",
        &[("deferralDays", "14")],
        Bound::Group("Engineering Workstations"),
    ),
    (
        "Windows updates",
        "system_updates_windows",
        &[("deadlineDays", "7")],
        Bound::Group("All Windows"),
    ),
    ("Block USB storage", "usb_storage_windows", &[], Bound::PolicyGroup("Windows hardening")),
    (
        "Gatekeeper",
        "gatekeeper_darwin",
        &[("allowIdentifiedDevelopers", "true")],
        Bound::PolicyGroup("macOS baseline"),
    ),
    ("No guest account", "disable_guest_account_darwin", &[], Bound::Group("All Macs")),
    ("No SSH root login", "ssh_root_login_linux", &[], Bound::Group("Linux Servers")),
    ("Chrome auto update", "chrome_auto_update_universal", &[], Bound::Group("Finance Laptops")),
];

/// Where a policy is bound.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// To a system group.
    Group(&'static str),
    /// Through a policy group.
    PolicyGroup(&'static str),
    /// Directly to about half the members of a system group.
    Some(&'static str),
}

/// A policy group: name, description, the system group it is bound to, and the platform of one
/// device outside that group it is also bound to directly (an exception made by hand), if any.
type PolicyGroupSpec = (&'static str, &'static str, &'static str, Option<Os>);

/// Policy groups and where each is bound. Their member policies are the [`POLICIES`] bound
/// [`Bound::PolicyGroup`].
const POLICY_GROUPS: &[PolicyGroupSpec] = &[
    (
        "macOS baseline",
        "Firewall, screen lock and Gatekeeper for every managed Mac",
        "Managed Macs",
        None,
    ),
    (
        "Windows hardening",
        "Device restrictions for sensitive Windows devices",
        "Finance Laptops",
        Some(Os::Windows),
    ),
];

/// A JumpCloud-wide id (the same in every tenant), derived from a name.
pub(crate) fn global_id(prefix: &str, name: &str) -> String {
    format!("{prefix}{:016x}", hash_str(name))[..24].to_owned()
}

fn template_doc(t: &Template) -> Value {
    let (name, display, family, description, _) = *t;
    let os_name = match family {
        "darwin" => "Mac OS X",
        "windows" => "Windows",
        "linux" => "Linux",
        _ => "Any",
    };
    json!({
        "id": global_id("5f1e2d3c", name),
        "name": name,
        "displayName": display,
        "description": description,
        "activation": "Applies at the next agent check-in.",
        "alert": "",
        "behavior": "",
        "reference": format!("https://support.example.com/policies/{name}"),
        "state": "",
        "osMetaFamily": family,
        "deliveryTypes": if family == "darwin" { json!(["agent", "mdm"]) } else { json!(["agent"]) },
        "osRestrictions": [{
            "osName": os_name,
            "earliestVersion": "",
            "deprecatedVersion": "",
            "isMdmRequired": false,
            "supportedEnrollmentTypes": [],
        }],
    })
}

fn config_fields(t: &Template) -> Vec<Value> {
    t.4.iter()
        .enumerate()
        .map(|(position, (field, label, display, default, sensitive))| {
            json!({
                "id": global_id("5f1e2d3d", &format!("{}.{field}", t.0)),
                "name": field,
                "label": label,
                "defaultValue": if *sensitive { "" } else { default },
                "displayType": display,
                "position": position + 1,
                "readOnly": false,
                "required": !sensitive,
                "sensitive": sensitive,
            })
        })
        .collect()
}

/// Generates templates, policies, policy groups, bindings, statuses and results; returns the
/// counts of statuses per system.
#[allow(clippy::too_many_lines)]
pub(crate) fn generate(g: &mut Gen, devices: &Devices) -> PolicyStats {
    let mut rng = g.rng("policies");
    for template in TEMPLATES {
        g.put(ResourceKind::PolicyTemplate, template_doc(template));
    }
    let created = g.now - Duration::days(700);
    let mut policy_groups = HashMap::new();
    for (name, description, system_group, direct) in POLICY_GROUPS {
        let id = g.id_at(created);
        g.put(
            ResourceKind::PolicyGroup,
            json!({
                "id": id,
                "name": name,
                "description": description,
                "email": "",
                "type": "policy_group",
                "organizationObjectId": g.org.id,
                "attributes": {},
            }),
        );
        let mut members = HashSet::new();
        if let Some(group) = devices.group(system_group) {
            let group = group.to_owned();
            if let Ok(group_id) = ResourceId::new(&group) {
                members = g
                    .org
                    .graph
                    .neighbours(&Node::new("system_group", group_id), "system")
                    .map(|(id, _)| id.as_str().to_owned())
                    .collect();
            }
            g.link(("policy_group", &id), ("system_group", &group), Value::Null);
        }
        // The first device of the platform that checks in and is not in the group.
        let exception = direct.and_then(|os| {
            devices.systems.iter().find(|s| {
                s.os == os && s.last_contact.is_some() && !members.contains(s.id.as_str())
            })
        });
        if let Some(system) = exception {
            let system = system.id.clone();
            g.link(("policy_group", &id), ("system", &system), Value::Null);
        }
        policy_groups.insert(*name, id);
    }
    let mut policies = Vec::new();
    for (name, template_name, values, bound) in POLICIES {
        let Some(template) = TEMPLATES.iter().find(|t| t.0 == *template_name) else { continue };
        let id = g.id_at(created + Duration::days(i64::from(rng.u16(..300))));
        let fields = config_fields(template);
        let values: Vec<Value> = values
            .iter()
            .filter_map(|(field, value)| {
                let spec = template.4.iter().find(|f| f.0 == *field)?;
                Some(json!({
                    "configFieldID": global_id("5f1e2d3d", &format!("{}.{field}", template.0)),
                    "value": value,
                    "sensitive": spec.4,
                }))
            })
            .collect();
        g.put(
            ResourceKind::Policy,
            json!({
                "id": id,
                "name": name,
                "notes": "",
                "template": template_doc(template),
                "configFields": fields,
                "values": values,
            }),
        );
        match bound {
            Bound::Group(group) => {
                if let Some(group) = devices.group(group) {
                    let group = group.to_owned();
                    g.link(("policy", &id), ("system_group", &group), Value::Null);
                }
            }
            Bound::PolicyGroup(group) => {
                if let Some(group) = policy_groups.get(group) {
                    g.link(("policy_group", group), ("policy", &id), Value::Null);
                }
            }
            Bound::Some(group) => {
                let members: Vec<String> = devices
                    .group(group)
                    .and_then(|group| ResourceId::new(group).ok())
                    .map(|group| {
                        g.org
                            .graph
                            .neighbours(&Node::new("system_group", group), "system")
                            .map(|(id, _)| id.as_str().to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                let chosen = pick(&mut rng, members.len(), 0.5, usize::from(!members.is_empty()));
                for (system, chosen) in members.iter().zip(chosen) {
                    if chosen {
                        g.link(("policy", &id), ("system", system), Value::Null);
                    }
                }
            }
        }
        policies.push((id, *template_name));
    }
    statuses(g, devices, &policies)
}

fn statuses(g: &mut Gen, devices: &Devices, policies: &[(String, &str)]) -> PolicyStats {
    let mut rng = g.rng("policy statuses");
    let mut stats = PolicyStats::new();
    for (policy, template) in policies {
        let Ok(policy_id) = ResourceId::new(policy) else { continue };
        let family = TEMPLATES.iter().find(|t| t.0 == *template).map_or("universal", |t| t.2);
        let reached: Vec<String> =
            graph::reach(&g.org.graph, &Node::new("policy", policy_id), "system")
                .into_iter()
                .map(|id| id.as_str().to_owned())
                .collect();
        for system_id in reached {
            let Some(system) = devices.by_id.get(&system_id).map(|&i| &devices.systems[i]) else {
                continue;
            };
            let Some(contact) = system.last_contact else { continue };
            // A policy for another platform is not applied (JumpCloud counts it as unsupported).
            if family != "universal" && family != system.os.family() {
                continue;
            }
            let fde_template =
                template.starts_with("filevault") || template.starts_with("bitlocker");
            let roll = rng.u8(..100);
            let (state, success, exit, stderr) = if fde_template && system.fde == Some(false) {
                let reason = if system.os == Os::Mac {
                    "error: FileVault could not be enabled: no user with a Secure Token is signed in\n"
                } else {
                    "error: BitLocker could not be enabled: TPM not present or not ready\n"
                };
                ("failed", false, 1, reason)
            } else if roll < 3 {
                ("failed", false, 2, "error: the policy script exited with status 2\n")
            } else if roll < 6 {
                ("pending", false, 0, "")
            } else {
                ("success", true, 0, "")
            };
            let started = if state == "pending" {
                contact - Duration::days(8 + i64::from(rng.u8(..20)))
            } else {
                contact - Duration::minutes(i64::from(rng.u16(..3_000)))
            };
            let id = g.id_at(started);
            let mut doc = json!({
                "id": id,
                "policyID": policy,
                "systemID": system_id,
                "success": success,
                "state": state,
                "exitStatus": exit,
                "stdOut": if success { "policy applied\n" } else { "" },
                "stdErr": stderr,
                "detail": "",
                "startedAt": Gen::ts(started),
            });
            if state != "pending" {
                doc["endedAt"] =
                    json!(Gen::ts(started + Duration::seconds(i64::from(rng.u8(1..90)))));
            }
            g.put_child(ResourceKind::PolicyStatus, policy, doc.clone());
            g.put(ResourceKind::PolicyResult, doc.clone());
            // Some devices also have an older result in the history.
            if rng.u8(..10) == 0 {
                let older = started - Duration::days(1 + i64::from(rng.u8(..30)));
                doc["id"] = json!(g.id_at(older));
                doc["startedAt"] = json!(Gen::ts(older));
                doc["endedAt"] = json!(Gen::ts(older + Duration::seconds(40)));
                doc["state"] = json!("success");
                doc["success"] = json!(true);
                doc["exitStatus"] = json!(0);
                doc["stdErr"] = json!("");
                g.put(ResourceKind::PolicyResult, doc);
            }
            let counts = stats.entry(system_id).or_default();
            counts.total += 1;
            match state {
                "success" => counts.success += 1,
                "failed" => counts.failed += 1,
                _ => counts.pending += 1,
            }
        }
    }
    stats
}
