//! Systems, system groups, user bindings, and the System Insights rows of each system.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use jumpwatch_model::ResourceKind;
use serde_json::{Value, json};

use super::names::{LOCATIONS, MAC_APPS, WINDOWS_PROGRAMS};
use super::people::{People, UserState};
use super::policies::PolicyStats;
use super::{Gen, one, pick};
use crate::ids::hex;

/// A system's platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Os {
    Mac,
    Windows,
    Linux,
}

impl Os {
    pub(crate) fn family(self) -> &'static str {
        match self {
            Self::Mac => "darwin",
            Self::Windows => "windows",
            Self::Linux => "linux",
        }
    }
}

/// An operating system release.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Release {
    /// The system's `os` field.
    os: &'static str,
    /// The name System Insights reports.
    name: &'static str,
    version: &'static str,
    major: i64,
    minor: i64,
    patch: i64,
    build: &'static str,
    release: &'static str,
    platform: &'static str,
    platform_like: &'static str,
    weight: u32,
}

const MAC_RELEASES: &[Release] = &[
    Release {
        os: "Mac OS X",
        name: "macOS",
        version: "12.7.6",
        major: 12,
        minor: 7,
        patch: 6,
        build: "21H1320",
        release: "Monterey",
        platform: "darwin",
        platform_like: "darwin",
        weight: 5,
    },
    Release {
        os: "Mac OS X",
        name: "macOS",
        version: "13.7.1",
        major: 13,
        minor: 7,
        patch: 1,
        build: "22H221",
        release: "Ventura",
        platform: "darwin",
        platform_like: "darwin",
        weight: 15,
    },
    Release {
        os: "Mac OS X",
        name: "macOS",
        version: "14.7.1",
        major: 14,
        minor: 7,
        patch: 1,
        build: "23H222",
        release: "Sonoma",
        platform: "darwin",
        platform_like: "darwin",
        weight: 40,
    },
    Release {
        os: "Mac OS X",
        name: "macOS",
        version: "15.1.0",
        major: 15,
        minor: 1,
        patch: 0,
        build: "24B83",
        release: "Sequoia",
        platform: "darwin",
        platform_like: "darwin",
        weight: 40,
    },
];

const WINDOWS_RELEASES: &[Release] = &[
    Release {
        os: "Windows",
        name: "Microsoft Windows 10 Pro",
        version: "10.0.19045",
        major: 10,
        minor: 0,
        patch: 19045,
        build: "19045.5011",
        release: "22H2",
        platform: "windows",
        platform_like: "windows",
        weight: 35,
    },
    Release {
        os: "Windows",
        name: "Microsoft Windows 11 Pro",
        version: "10.0.22631",
        major: 10,
        minor: 0,
        patch: 22631,
        build: "22631.4391",
        release: "23H2",
        platform: "windows",
        platform_like: "windows",
        weight: 40,
    },
    Release {
        os: "Windows",
        name: "Microsoft Windows 11 Enterprise",
        version: "10.0.26100",
        major: 10,
        minor: 0,
        patch: 26100,
        build: "26100.2161",
        release: "24H2",
        platform: "windows",
        platform_like: "windows",
        weight: 25,
    },
];

const LINUX_RELEASES: &[Release] = &[
    Release {
        os: "Ubuntu",
        name: "Ubuntu",
        version: "18.04.6 LTS (Bionic Beaver)",
        major: 18,
        minor: 4,
        patch: 6,
        build: "",
        release: "bionic",
        platform: "ubuntu",
        platform_like: "debian",
        weight: 5,
    },
    Release {
        os: "Ubuntu",
        name: "Ubuntu",
        version: "20.04.6 LTS (Focal Fossa)",
        major: 20,
        minor: 4,
        patch: 6,
        build: "",
        release: "focal",
        platform: "ubuntu",
        platform_like: "debian",
        weight: 20,
    },
    Release {
        os: "Ubuntu",
        name: "Ubuntu",
        version: "22.04.5 LTS (Jammy Jellyfish)",
        major: 22,
        minor: 4,
        patch: 5,
        build: "",
        release: "jammy",
        platform: "ubuntu",
        platform_like: "debian",
        weight: 45,
    },
    Release {
        os: "Ubuntu",
        name: "Ubuntu",
        version: "24.04.1 LTS (Noble Numbat)",
        major: 24,
        minor: 4,
        patch: 1,
        build: "",
        release: "noble",
        platform: "ubuntu",
        platform_like: "debian",
        weight: 20,
    },
    Release {
        os: "Rocky Linux",
        name: "Rocky Linux",
        version: "9.4 (Blue Onyx)",
        major: 9,
        minor: 4,
        patch: 0,
        build: "",
        release: "Blue Onyx",
        platform: "rocky",
        platform_like: "rhel centos fedora",
        weight: 10,
    },
];

fn release(rng: &mut fastrand::Rng, releases: &'static [Release]) -> &'static Release {
    let total: u32 = releases.iter().map(|r| r.weight).sum();
    let mut roll = rng.u32(..total);
    for r in releases {
        if roll < r.weight {
            return r;
        }
        roll -= r.weight;
    }
    &releases[0]
}

/// What the other generators need to know about a system.
#[derive(Debug, Clone)]
pub(crate) struct SystemFacts {
    pub(crate) id: String,
    pub(crate) os: Os,
    pub(crate) desktop: bool,
    pub(crate) hostname: String,
    pub(crate) display_name: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) last_contact: Option<DateTime<Utc>>,
    pub(crate) primary_user: Option<usize>,
    pub(crate) fde: Option<bool>,
    pub(crate) key_present: bool,
    pub(crate) insights: &'static str,
    pub(crate) release: &'static Release,
    pub(crate) mdm: Option<(&'static str, bool, bool)>,
    pub(crate) ssh_root: bool,
    pub(crate) ssh_password: bool,
    pub(crate) local_admin: bool,
    pub(crate) binding_sudo: Option<bool>,
    pub(crate) firewall_off: bool,
    pub(crate) sip_off: bool,
    pub(crate) root_key: bool,
    pub(crate) wsc_unhealthy: bool,
}

impl SystemFacts {
    /// The system checks in and sends System Insights rows.
    pub(crate) fn reports_insights(&self) -> bool {
        self.last_contact.is_some() && self.insights == "enabled"
    }
}

/// The devices of the tenant.
#[derive(Debug, Clone, Default)]
pub(crate) struct Devices {
    pub(crate) systems: Vec<SystemFacts>,
    /// System group ids by name.
    pub(crate) groups: BTreeMap<String, String>,
    pub(crate) by_id: HashMap<String, usize>,
}

impl Devices {
    pub(crate) fn group(&self, name: &str) -> Option<&str> {
        self.groups.get(name).map(String::as_str)
    }
}

/// Decides every system, makes the system groups and the bindings; the system documents are
/// written by [`write`] once policies are known.
#[allow(clippy::too_many_lines)]
pub(crate) fn plan(g: &mut Gen, count: usize, people: &People) -> Devices {
    let mut rng = g.rng("systems");
    let os: Vec<Os> = (0..count)
        .map(|i| match (i % 20, rng.u8(..100)) {
            (0, _) => Os::Linux,
            (1, _) => Os::Windows,
            (2, _) => Os::Mac,
            (_, r) if r < 55 => Os::Mac,
            (_, r) if r < 88 => Os::Windows,
            _ => Os::Linux,
        })
        .collect();
    // Every twentieth system is a Linux server, so even a small tenant has one.
    let desktop: Vec<bool> =
        (0..count).map(|i| os[i] != Os::Linux || (i % 20 != 0 && rng.u8(..10) < 3)).collect();
    let stale = pick(&mut rng, count, 0.08, 1);
    let never = pick(&mut rng, count, 0.03, 1);
    let fde_off = pick(&mut rng, count, 0.14, 2);
    let no_key = pick(&mut rng, count, 0.05, 1);
    let insights_off = pick(&mut rng, count, 0.08, 1);
    let local_admin = pick(&mut rng, count, 0.10, 1);
    let binding_sudo = pick(&mut rng, count, 0.20, 1);
    let ssh_root = pick(&mut rng, count, 0.10, 1);
    let ssh_password = pick(&mut rng, count, 0.12, 1);
    let unhealthy = pick(&mut rng, count, 0.08, 1);
    let outdated = pick(&mut rng, count, 0.04, 1);
    let assignable: Vec<usize> = (0..people.users.len())
        .filter(|&i| people.users[i].state != UserState::Staged && !people.users[i].ldap_bind)
        .collect();
    let mut next_user = 0;
    let mut role_counters: HashMap<&str, usize> = HashMap::new();
    let mut names_taken: HashSet<String> = HashSet::new();
    let mut systems = Vec::with_capacity(count);
    let mut specs: Vec<(DateTime<Utc>, usize)> =
        (0..count).map(|i| (g.days_ago(&mut rng, 1.0, 900.0), i)).collect();
    // Never-contacted systems registered recently (more than a week ago, so they are late).
    for spec in &mut specs {
        if never[spec.1] {
            spec.0 = g.days_ago(&mut rng, 8.0, 60.0);
        }
    }
    specs.sort();
    // Each platform-specific risk is guaranteed once, on a device that reports System Insights.
    let reporting = |i: usize| !never[i] && !stale[i] && !insights_off[i];
    let first_linux =
        specs.iter().map(|s| s.1).find(|&i| os[i] == Os::Linux && !desktop[i] && reporting(i));
    let first_mac = specs.iter().map(|s| s.1).find(|&i| os[i] == Os::Mac && reporting(i));
    let first_windows = specs.iter().map(|s| s.1).find(|&i| os[i] == Os::Windows && reporting(i));
    for &(created, i) in &specs {
        let os_i = os[i];
        let desktop = desktop[i];
        let primary_user = if desktop && !assignable.is_empty() {
            let user = assignable[next_user % assignable.len()];
            next_user += 1;
            Some(user)
        } else {
            None
        };
        let first = primary_user.map_or("shared", |u| people.users[u].first).to_ascii_lowercase();
        let (hostname, display_name) = match (os_i, desktop) {
            (Os::Mac, _) => {
                let model = if rng.bool() { "mbp" } else { "mba" };
                let host = unique(&mut names_taken, &format!("{first}-{model}"));
                let display = match primary_user {
                    Some(u) => format!(
                        "{}'s MacBook {}",
                        capitalise(people.users[u].first),
                        if model == "mbp" { "Pro" } else { "Air" }
                    ),
                    None => host.clone(),
                };
                (host, display)
            }
            (Os::Windows, _) => {
                let host = unique(
                    &mut names_taken,
                    &format!("DESKTOP-{}", hex(&mut rng, 4).to_ascii_uppercase()),
                );
                (host.clone(), host)
            }
            (Os::Linux, true) => {
                let host = unique(&mut names_taken, &format!("{first}-thinkpad"));
                (host.clone(), host)
            }
            (Os::Linux, false) => {
                let role = *one(
                    &mut rng,
                    &["web", "api", "db", "worker", "build-runner", "bastion", "k8s-node"],
                );
                let n = role_counters.entry(role).or_default();
                *n += 1;
                let host = format!("{role}-{n:02}");
                names_taken.insert(host.clone());
                (host.clone(), host)
            }
        };
        let last_contact = if never[i] {
            None
        } else if stale[i] {
            Some(g.days_ago(&mut rng, 31.0, 200.0).max(created))
        } else {
            Some(g.days_ago(&mut rng, 0.0, 2.0).max(created))
        };
        let releases = match os_i {
            Os::Mac => MAC_RELEASES,
            Os::Windows => WINDOWS_RELEASES,
            Os::Linux => LINUX_RELEASES,
        };
        // Out-of-date devices run the oldest release.
        let release = if outdated[i] || Some(i) == first_linux {
            &releases[0]
        } else {
            release(&mut rng, releases)
        };
        let fde = if last_contact.is_none() || (os_i == Os::Linux && !desktop) {
            None
        } else {
            Some(!fde_off[i] && Some(i) != first_mac && Some(i) != first_windows)
        };
        let mdm = match os_i {
            Os::Mac if rng.u8(..10) == 0 => Some(("none", false, false)),
            Os::Mac if rng.u8(..20) == 0 => Some(("internal", false, false)),
            Os::Mac => Some(("internal", rng.u8(..10) < 7, true)),
            Os::Windows if rng.u8(..10) < 4 => Some(("none", false, false)),
            Os::Windows => Some(("internal", false, false)),
            Os::Linux => None,
        };
        systems.push(SystemFacts {
            id: g.id_at(created),
            os: os_i,
            desktop,
            hostname,
            display_name,
            created,
            last_contact,
            primary_user,
            fde,
            key_present: fde == Some(true) && !no_key[i],
            insights: if insights_off[i] {
                if rng.bool() { "disabled" } else { "deferred" }
            } else {
                "enabled"
            },
            release,
            mdm,
            ssh_root: os_i == Os::Linux && (ssh_root[i] || Some(i) == first_linux),
            ssh_password: os_i == Os::Linux && (ssh_password[i] || Some(i) == first_linux),
            local_admin: desktop && local_admin[i],
            binding_sudo: primary_user.map(|_| binding_sudo[i]),
            firewall_off: os_i == Os::Mac && (unhealthy[i] || Some(i) == first_mac),
            sip_off: os_i == Os::Mac && (unhealthy[i] && rng.bool() || Some(i) == first_mac),
            root_key: os_i == Os::Linux && (ssh_root[i] || Some(i) == first_linux),
            wsc_unhealthy: os_i == Os::Windows && (unhealthy[i] || Some(i) == first_windows),
        });
    }
    // At least one encrypted disk has no recovery key escrowed.
    if !systems.iter().any(|s| s.fde == Some(true) && !s.key_present)
        && let Some(system) = systems.iter_mut().find(|s| s.fde == Some(true))
    {
        system.key_present = false;
    }
    let by_id = systems.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
    let mut devices = Devices { systems, groups: BTreeMap::new(), by_id };
    system_groups(g, &mut devices, people);
    bindings(g, &devices, people);
    devices
}

fn unique(taken: &mut HashSet<String>, base: &str) -> String {
    let mut name = base.to_owned();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

fn system_groups(g: &mut Gen, devices: &mut Devices, people: &People) {
    let mut rng = g.rng("system groups");
    let systems = &devices.systems;
    let by_dept = |depts: &[usize]| -> Vec<usize> {
        (0..systems.len())
            .filter(|&i| {
                systems[i].primary_user.is_some_and(|u| depts.contains(&people.users[u].dept))
            })
            .collect()
    };
    let macs: Vec<usize> = (0..systems.len()).filter(|&i| systems[i].os == Os::Mac).collect();
    // Managed Macs leaves a few reporting Macs out, so some are covered by no FileVault policy.
    let reporting: Vec<usize> =
        macs.iter().copied().filter(|&i| systems[i].reports_insights()).collect();
    let left_out: HashSet<usize> = pick(&mut rng, reporting.len(), 0.08, 1)
        .into_iter()
        .zip(&reporting)
        .filter(|(chosen, _)| *chosen)
        .map(|(_, &i)| i)
        .collect();
    let managed: Vec<usize> = macs.iter().copied().filter(|i| !left_out.contains(i)).collect();
    let mut plan: Vec<(String, &str, &str, Vec<usize>)> = vec![
        ("All Macs".into(), "Every Mac", "DYNAMIC_AUTOMATED", macs.clone()),
        ("Managed Macs".into(), "Macs under the security baseline", "STATIC", managed),
        (
            "All Windows".into(),
            "Every Windows device",
            "DYNAMIC_AUTOMATED",
            (0..systems.len()).filter(|&i| systems[i].os == Os::Windows).collect(),
        ),
        (
            "Linux Servers".into(),
            "Production and build servers",
            "STATIC",
            (0..systems.len())
                .filter(|&i| systems[i].os == Os::Linux && !systems[i].desktop)
                .collect(),
        ),
        (
            "Linux Desktops".into(),
            "Engineering Linux workstations",
            "STATIC",
            (0..systems.len())
                .filter(|&i| systems[i].os == Os::Linux && systems[i].desktop)
                .collect(),
        ),
        (
            "Finance Laptops".into(),
            "Devices of the finance team",
            "DYNAMIC_REVIEW_REQUIRED",
            by_dept(&[6]),
        ),
        ("Engineering Workstations".into(), "Devices of engineers", "STATIC", by_dept(&[0, 1])),
    ];
    let sites = systems.len() / 200;
    let mut site_members: Vec<Vec<usize>> = vec![Vec::new(); sites];
    if sites > 0 {
        for i in 0..systems.len() {
            if rng.bool() {
                site_members[rng.usize(..sites)].push(i);
            }
        }
    }
    for (n, members) in site_members.into_iter().enumerate() {
        plan.push((
            format!("{} devices {}", LOCATIONS[n % LOCATIONS.len()], n + 1),
            "Devices of one site",
            "STATIC",
            members,
        ));
    }
    let base = g.now - Duration::days(1_400);
    for (name, description, method, members) in plan {
        let id = g.id_at(base);
        let query = if method.starts_with("DYNAMIC") {
            json!({"queryType": "FilterQuery", "filters": [format!("{{\"field\":\"osFamily\",\"operator\":\"eq\",\"value\":\"{}\"}}", if name.contains("Mac") { "darwin" } else { "windows" })], "searchFilters": ""})
        } else {
            Value::Null
        };
        g.put(
            ResourceKind::SystemGroup,
            json!({
                "id": id,
                "name": name,
                "description": description,
                "email": "",
                "type": "system_group",
                "organizationObjectId": g.org.id,
                "membershipMethod": method,
                "memberQuery": query,
                "memberQueryExemptions": [],
                "memberQueryErrorFlags": [],
                "memberSuggestionsNotify": false,
                "attributes": {},
            }),
        );
        for &m in &members {
            let system = devices.systems[m].id.clone();
            g.link(("system_group", &id), ("system", &system), Value::Null);
        }
        devices.groups.insert(name, id);
    }
}

fn bindings(g: &mut Gen, devices: &Devices, people: &People) {
    for system in &devices.systems {
        if let (Some(user), Some(sudo)) = (system.primary_user, system.binding_sudo) {
            let without_password = sudo && system.os == Os::Linux;
            g.link(
                ("system", &system.id),
                ("user", &people.users[user].id),
                json!({"sudo": {"enabled": sudo, "withoutPassword": without_password}}),
            );
        }
    }
    let pairs = [
        (people.sre.as_ref(), "Linux Servers"),
        (people.it_admins.as_ref(), "All Windows"),
        (people.it_admins.as_ref(), "Managed Macs"),
    ];
    for (group, system_group) in pairs {
        if let (Some(group), Some(system_group)) = (group, devices.group(system_group)) {
            let system_group = system_group.to_owned();
            g.link(("user_group", &group.id), ("system_group", &system_group), Value::Null);
        }
    }
}

/// Writes the system documents and their System Insights rows.
pub(crate) fn write(g: &mut Gen, devices: &Devices, people: &People, stats: &PolicyStats) {
    let mut rng = g.rng("system documents");
    for system in &devices.systems {
        let doc = system_doc(g, &mut rng, system, people, stats);
        g.put(ResourceKind::System, doc);
    }
    let mut rng = g.rng("system insights");
    for system in &devices.systems {
        if system.reports_insights() {
            insights(g, &mut rng, system, people);
        }
    }
}

#[allow(clippy::too_many_lines)]
fn system_doc(
    g: &Gen,
    rng: &mut fastrand::Rng,
    s: &SystemFacts,
    people: &People,
    stats: &PolicyStats,
) -> Value {
    let r = s.release;
    let primary = s.primary_user.map(|u| &people.users[u]);
    let agent = if rng.u8(..10) == 0 {
        "1.152.1"
    } else if rng.bool() {
        "1.182.0"
    } else {
        "1.181.2"
    };
    let active = s.last_contact.is_some_and(|at| g.now - at < Duration::minutes(30))
        || (s.last_contact.is_some()
            && rng.u8(..3) == 0
            && s.last_contact.is_some_and(|at| g.now - at < Duration::days(1)));
    let private_ip = format!("10.{}.{}.{}", rng.u8(1..200), rng.u8(..255), rng.u8(2..250));
    let remote_ip = format!("203.0.113.{}", rng.u8(1..254));
    let (template, arch, arch_family, vendor, fs) = match s.os {
        Os::Mac => ("macosx-darwin-arm64", "arm64", "arm", "Apple Inc.", "apfs"),
        Os::Windows => (
            "windows-windows-x86_64",
            "x86_64",
            "x86",
            *one(rng, &["Dell Inc.", "LENOVO", "HP"]),
            "NTFS",
        ),
        Os::Linux => (
            "linux-linux-x86_64",
            "x86_64",
            "x86",
            if s.desktop { "LENOVO" } else { "VMware, Inc." },
            "ext4",
        ),
    };
    let serial = hex(rng, 5).to_ascii_uppercase();
    let stats = stats.get(&s.id).copied().unwrap_or_default();
    let mut user_metrics = Vec::new();
    if let Some(user) = primary {
        user_metrics.push(json!({
            "userName": user.username,
            "admin": s.binding_sudo == Some(true) || user.sudo,
            "managed": true,
            "secureTokenEnabled": s.os == Os::Mac,
            "suspended": user.state == UserState::Suspended,
        }));
    }
    if s.local_admin {
        user_metrics.push(json!({"userName": "localadmin", "admin": true, "managed": false, "secureTokenEnabled": s.os == Os::Mac, "suspended": false}));
    }
    let sshd = if s.os == Os::Windows {
        json!([])
    } else {
        json!([
            {"name": "PermitRootLogin", "value": if s.ssh_root { "yes" } else { "no" }},
            {"name": "PasswordAuthentication", "value": if s.ssh_password { "yes" } else { "no" }},
        ])
    };
    let mut doc = json!({
        "_id": s.id,
        "displayName": s.display_name,
        "hostname": s.hostname,
        "serialNumber": serial,
        "description": "",
        "organization": g.org.id,
        "templateName": template,
        "created": Gen::ts(s.created),
        "lastContact": s.last_contact.map_or(Value::Null, |at| json!(Gen::ts(at))),
        "active": active,
        "agentVersion": if s.last_contact.is_some() { agent } else { "" },
        "remoteAssistAgentVersion": if s.desktop { "0.48.1" } else { "" },
        "os": r.os,
        "osFamily": s.os.family(),
        "version": match s.os { Os::Linux => r.version.split(' ').next().unwrap_or(r.version), _ => r.version },
        "osVersionDetail": {
            "osName": r.name,
            "version": r.version,
            "major": r.major.to_string(),
            "minor": r.minor.to_string(),
            "patch": r.patch.to_string(),
            "majorNumber": r.major,
            "minorNumber": r.minor,
            "patchNumber": r.patch,
            "revision": r.build,
            "releaseName": r.release,
            "distributionName": if s.os == Os::Linux { r.name } else { "" },
        },
        "arch": arch,
        "archFamily": arch_family,
        "hwVendor": vendor,
        "amazonInstanceID": "",
        "fileSystem": fs,
        "displayManager": if s.os == Os::Linux && s.desktop { "gdm3" } else { "" },
        "systemTimezone": 0,
        "desktopCapable": s.desktop,
        "remoteIP": remote_ip,
        "azureAdJoined": false,
        "allowSshRootLogin": s.ssh_root,
        "allowSshPasswordAuthentication": s.ssh_password,
        "allowPublicKeyAuthentication": true,
        "allowMultiFactorAuthentication": s.os != Os::Linux || !s.ssh_password,
        "sshRootEnabled": s.ssh_root,
        "modifySSHDConfig": s.os == Os::Linux,
        "secureLoginEnabled": false,
        "agentHasFullDiskAccess": s.os == Os::Mac,
        "hasServiceAccount": s.os == Os::Mac,
        "isPolicyBound": stats.total > 0,
        "tags": [],
        "connectionHistory": s.last_contact.map_or(json!([]), |at| json!([{"ip": remote_ip, "connectedAt": Gen::ts(at - Duration::minutes(5))}])),
        "fde": s.fde.map_or(Value::Null, |active| json!({"active": active, "keyPresent": s.key_present})),
        "systemInsights": {"state": s.insights},
        "secureLogin": {"enabled": false, "supported": s.os == Os::Mac},
        "domainInfo": {"domainName": "", "partOfDomain": false},
        "mdm": s.mdm.map_or(Value::Null, |(vendor, dep, approved)| json!({
            "vendor": vendor,
            "dep": dep,
            "userApproved": approved,
            "enrollmentType": if vendor == "none" { "unknown" } else if dep { "automated device" } else { "device" },
            "profileIdentifier": if vendor == "none" { "" } else { "com.jumpcloud.mdm" },
            "providerId": "",
            "lostModeStatus": "",
        })),
        "policyStats": {
            "total": stats.total,
            "success": stats.success,
            "failed": stats.failed,
            "pending": stats.pending,
            "duplicate": 0,
            "unsupportedOs": 0,
        },
        "primarySystemUser": {"id": primary.map_or(Value::Null, |u| json!(u.id))},
        "provisionMetadata": {"provisioner": {"provisionerId": "", "type": if s.mdm.is_some_and(|m| m.1) { "mdm" } else { "user" }}},
        "networkInterfaces": [
            {"name": match s.os { Os::Mac => "en0", Os::Windows => "Ethernet", Os::Linux => "eth0" }, "address": private_ip, "family": "IPv4", "internal": false},
            {"name": match s.os { Os::Mac => "lo0", Os::Windows => "Loopback Pseudo-Interface 1", Os::Linux => "lo" }, "address": "127.0.0.1", "family": "IPv4", "internal": true},
        ],
        "sshdParams": sshd,
        "userMetrics": user_metrics,
        "builtInCommands": [
            {"name": "lock", "type": "security"},
            {"name": "erase", "type": "security"},
            {"name": "restart", "type": "security"},
            {"name": "shutdown", "type": "security"},
        ],
        "attributes": [{"name": "assetTag", "value": format!("LT-{}", &s.id[18..])}],
    });
    if s.os == Os::Mac {
        doc["serviceAccountState"] = json!({"hasSecureToken": s.key_present || s.fde != Some(true), "passwordAPFSValid": true, "passwordODValid": true});
    }
    doc
}

#[allow(clippy::too_many_lines)]
fn insights(g: &mut Gen, rng: &mut fastrand::Rng, s: &SystemFacts, people: &People) {
    let Some(contact) = s.last_contact else { return };
    let collected = |minutes: i64| Gen::ts(contact - Duration::minutes(minutes));
    let r = s.release;
    g.put(
        ResourceKind::SiOsVersion,
        json!({
            "system_id": s.id,
            "collection_time": collected(3),
            "name": r.name,
            "version": r.version,
            "major": r.major,
            "minor": r.minor,
            "patch": r.patch,
            "build": r.build,
            "platform": r.platform,
            "platform_like": r.platform_like,
            "codename": if s.os == Os::Linux { r.release } else { "" },
            "install_date": "",
        }),
    );
    let encrypted = s.fde == Some(true);
    match s.os {
        Os::Mac | Os::Linux => {
            let (name, kind) = if s.os == Os::Mac {
                ("/dev/disk3s1", "AES-XTS")
            } else {
                ("/dev/nvme0n1p3", "aes-xts-plain64")
            };
            g.put(ResourceKind::SiDiskEncryption, json!({
                "system_id": s.id,
                "collection_time": collected(4),
                "name": name,
                "uuid": uuid(rng),
                "encrypted": i64::from(encrypted),
                "encryption_status": if encrypted { "encrypted" } else { "not encrypted" },
                "type": if encrypted { kind } else { "" },
                "uid": if s.os == Os::Mac && encrypted { "501" } else { "" },
                "user_uuid": if s.os == Os::Mac && encrypted { uuid(rng) } else { String::new() },
            }));
        }
        Os::Windows => {
            let drives: &[&str] = if rng.u8(..3) == 0 { &["C:", "D:"] } else { &["C:"] };
            for drive in drives {
                let on = encrypted && (*drive == "C:" || rng.bool());
                g.put(ResourceKind::SiBitlockerInfo, json!({
                    "system_id": s.id,
                    "collection_time": collected(4),
                    "drive_letter": drive,
                    "device_id": format!("\\\\?\\Volume{{{}}}\\", uuid(rng).to_ascii_lowercase()),
                    "persistent_volume_id": if on { format!("{{{}}}", uuid(rng)) } else { String::new() },
                    "conversion_status": i64::from(on),
                    "protection_status": i64::from(on),
                    "percentage_encrypted": if on { 100 } else { 0 },
                    "encryption_method": if on { "XTS_AES_128" } else { "None" },
                }));
            }
        }
    }
    if s.os == Os::Mac {
        g.put(
            ResourceKind::SiAlf,
            json!({
                "system_id": s.id,
                "collection_time": collected(2),
                "global_state": if s.firewall_off { 0 } else { i64::from(rng.u8(..5) == 0) + 1 },
                "stealth_enabled": i64::from(rng.bool()),
                "logging_enabled": 1,
                "logging_option": 0,
                "allow_signed_enabled": 1,
                "firewall_unload": 0,
                "version": "1.6",
            }),
        );
        for (flag, enabled) in [
            ("sip", !s.sip_off),
            ("allow_untrusted_kexts", !s.sip_off),
            ("allow_task_for_pid", true),
        ] {
            g.put(
                ResourceKind::SiSipConfig,
                json!({
                    "system_id": s.id,
                    "collection_time": collected(2),
                    "config_flag": flag,
                    "enabled": i64::from(enabled),
                    "enabled_nvram": i64::from(enabled),
                }),
            );
        }
        let count = 3 + rng.usize(..3);
        let start = rng.usize(..MAC_APPS.len());
        for k in 0..count {
            let (bundle, display, id, version) = MAC_APPS[(start + k) % MAC_APPS.len()];
            #[allow(clippy::cast_precision_loss)]
            let opened =
                (contact - Duration::hours(i64::from(rng.u16(..2_000)))).timestamp() as f64 + 0.5;
            g.put(
                ResourceKind::SiApps,
                json!({
                    "system_id": s.id,
                    "collection_time": collected(5),
                    "name": bundle,
                    "display_name": display,
                    "path": format!("/Applications/{bundle}"),
                    "bundle_identifier": id,
                    "bundle_name": display,
                    "bundle_executable": display,
                    "bundle_package_type": "APPL",
                    "bundle_short_version": version,
                    "bundle_version": version,
                    "category": "public.app-category.productivity",
                    "compiler": "com.apple.compilers.llvm.clang.1_0",
                    "copyright": "",
                    "development_region": "en",
                    "element": "",
                    "environment": "",
                    "info_string": "",
                    "minimum_system_version": "12.0",
                    "applescript_enabled": "0",
                    "last_opened_time": opened,
                }),
            );
        }
    }
    if s.os == Os::Windows {
        g.put(
            ResourceKind::SiWindowsSecurityCenter,
            json!({
                "system_id": s.id,
                "collection_time": collected(2),
                "antivirus": if s.wsc_unhealthy { "Poor" } else { "Good" },
                "firewall": if s.wsc_unhealthy && rng.bool() { "Snoozed" } else { "Good" },
                "autoupdate": "Good",
                "user_account_control": "Good",
                "antispyware": "Good",
                "internet_settings": "Good",
                "windows_security_center_service": "Good",
            }),
        );
        let count = 3 + rng.usize(..3);
        let start = rng.usize(..WINDOWS_PROGRAMS.len());
        for k in 0..count {
            let (name, version, publisher) = WINDOWS_PROGRAMS[(start + k) % WINDOWS_PROGRAMS.len()];
            let code = format!("{{{}}}", uuid(rng));
            g.put(ResourceKind::SiPrograms, json!({
                "system_id": s.id,
                "collection_time": collected(5),
                "name": name,
                "version": version,
                "publisher": publisher,
                "install_date": (s.created + Duration::days(2)).format("%Y%m%d").to_string(),
                "install_location": format!("C:\\Program Files\\{}\\", name.split(' ').next().unwrap_or(name)),
                "install_source": "",
                "identifying_number": code,
                "uninstall_string": format!("MsiExec.exe /X{code}"),
                "language": "1033",
            }));
        }
    }
    if s.os == Os::Linux {
        let key = |rng: &mut fastrand::Rng| format!("AAAAC3NzaC1lZDI1NTE5AAAAI{}", hex(rng, 16));
        if !s.desktop {
            g.put(
                ResourceKind::SiAuthorizedKeys,
                json!({
                    "system_id": s.id,
                    "collection_time": collected(3),
                    "uid": "1001",
                    "algorithm": "ssh-ed25519",
                    "key": key(rng),
                    "key_file": "/home/deploy/.ssh/authorized_keys",
                }),
            );
        }
        if s.root_key {
            g.put(
                ResourceKind::SiAuthorizedKeys,
                json!({
                    "system_id": s.id,
                    "collection_time": collected(3),
                    "uid": "0",
                    "algorithm": "ssh-rsa",
                    "key": format!("AAAAB3NzaC1yc2EAAAADAQABAAABAQ{}", hex(rng, 24)),
                    "key_file": "/root/.ssh/authorized_keys",
                }),
            );
        }
    }
    // Local accounts.
    let (home, shell) = match s.os {
        Os::Mac => ("/Users", "/bin/zsh"),
        Os::Windows => ("C:\\Users", ""),
        Os::Linux => ("/home", "/bin/bash"),
    };
    let mut accounts: Vec<(String, String, bool, bool, bool)> = Vec::new();
    if let Some(user) = s.primary_user.map(|u| &people.users[u]) {
        accounts.push((
            user.username.clone(),
            "502".into(),
            s.binding_sudo == Some(true) || user.sudo,
            true,
            true,
        ));
    }
    if s.local_admin {
        accounts.push(("localadmin".into(), "501".into(), true, false, true));
    }
    match s.os {
        Os::Linux => accounts.push(("root".into(), "0".into(), true, false, false)),
        Os::Windows => accounts.push(("Administrator".into(), "500".into(), true, false, false)),
        Os::Mac => {
            accounts.push(("_jumpcloudserviceaccount".into(), "499".into(), true, true, false))
        }
    }
    for (username, uid, admin, managed, real) in accounts {
        g.put(ResourceKind::SiUsers, json!({
            "system_id": s.id,
            "collection_time": collected(4),
            "username": username,
            "uid": uid,
            "gid": if s.os == Os::Mac { "20" } else { uid.as_str() },
            "uid_signed": uid,
            "gid_signed": if s.os == Os::Mac { "20" } else { uid.as_str() },
            "admin": admin,
            "managed": managed,
            "ad_managed": false,
            "real_user": real,
            "suspended": false,
            "last_login": if real { (contact - Duration::hours(i64::from(rng.u8(..48)))).timestamp().to_string() } else { String::new() },
            "description": "",
            "directory": if username == "root" { "/root".to_owned() } else { format!("{home}{}{username}", if s.os == Os::Windows { "\\" } else { "/" }) },
            "shell": shell,
            "type": if s.os == Os::Windows { "local" } else { "" },
            "uuid": uuid(rng),
        }));
    }
}

fn uuid(rng: &mut fastrand::Rng) -> String {
    let h = hex(rng, 16).to_ascii_uppercase();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}
