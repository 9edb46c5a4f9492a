//! Applications, commands and their results, RADIUS servers, directories, authentication
//! policies, IP lists, Apple MDM and managed software.

use chrono::Duration;
use jumpwatch_model::ResourceKind;
use serde_json::{Value, json};

use super::devices::{Devices, Os};
use super::names::{APPLICATIONS, SOFTWARE};
use super::people::People;
use super::{Gen, one};
use crate::ids::hex;

/// What the activity generator needs to know about services.
#[derive(Debug, Clone, Default)]
pub(crate) struct Services {
    /// Applications: (id, label).
    pub(crate) applications: Vec<(String, String)>,
    /// Commands: (id, name, script, platform, runs with sudo, system group).
    pub(crate) commands: Vec<(String, String, String, &'static str, bool, String)>,
    /// RADIUS servers: (id, name).
    pub(crate) radius: Vec<(String, String)>,
}

/// Commands: name, platform, script, launch type, system group it is bound to, sudo.
const COMMANDS: &[(&str, &str, &str, &str, &str, bool)] = &[
    (
        "Rotate log files",
        "linux",
        "#!/bin/bash\nlogrotate -f /etc/logrotate.d/app\n",
        "repeated",
        "Linux Servers",
        true,
    ),
    (
        "Install security updates",
        "linux",
        "#!/bin/bash\napt-get update && apt-get -y upgrade\n",
        "repeated",
        "Linux Servers",
        true,
    ),
    (
        "Collect diagnostics",
        "mac",
        "#!/bin/zsh\nsysdiagnose -f /tmp -b\n",
        "manual",
        "All Macs",
        true,
    ),
    (
        "Map finance share",
        "windows",
        "net use Z: \\\\files.corp.example\\finance /user:CORP\\svc-files password=Winter2024!Finance /persistent:yes\r\n",
        "manual",
        "Finance Laptops",
        false,
    ),
    (
        "Configure AWS CLI",
        "linux",
        "#!/bin/bash\nexport AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nexport AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\naws configure set region eu-west-1\n",
        "manual",
        "Linux Servers",
        false,
    ),
    (
        "Restart JumpCloud agent",
        "windows",
        "Restart-Service -Name jumpcloud-agent -Force\r\n",
        "manual",
        "All Windows",
        false,
    ),
    (
        "Flush DNS cache",
        "mac",
        "#!/bin/zsh\ndscacheutil -flushcache; killall -HUP mDNSResponder\n",
        "manual",
        "Managed Macs",
        true,
    ),
    ("Check disk space", "linux", "#!/bin/bash\ndf -h /\n", "trigger", "Linux Servers", false),
];

#[allow(clippy::too_many_lines)]
pub(crate) fn generate(g: &mut Gen, people: &People, devices: &Devices) -> Services {
    let mut services = Services::default();
    let mut rng = g.rng("services");
    // Applications, bound to department groups.
    let apps = (8 + people.users.len() / 1_000).min(60);
    for i in 0..apps {
        let (connector, label, sso) =
            APPLICATIONS.get(i).copied().unwrap_or(("custom-saml", "Internal tool", "saml"));
        let label =
            if i < APPLICATIONS.len() { label.to_owned() } else { format!("{label} {}", i + 1) };
        let created = g.days_ago(&mut rng, 60.0, 1_200.0);
        let id = g.id_at(created);
        // One certificate expires within the month, one has expired.
        let expires = match i {
            2 => g.now + Duration::days(12),
            5 => g.now - Duration::days(9),
            _ => g.now + Duration::days(200 + i64::from(rng.u16(..700))),
        };
        let slug = label.to_ascii_lowercase().replace([' ', '&'], "-");
        let setting = |label: &str, position: i64, kind: &str, value: Value| json!({"label": label, "position": position, "readOnly": false, "required": position < 3, "visible": true, "type": kind, "value": value});
        let mut doc = json!({
            "_id": id,
            "name": connector,
            "displayLabel": label,
            "displayName": label,
            "description": "",
            "organization": g.org.id,
            "created": Gen::ts(created),
            "ssoUrl": format!("https://sso.jumpcloud.com/saml2/{slug}"),
            "learnMore": "",
            "parentApp": "",
            "active": i != 7,
            "beta": false,
            "color": *one(&mut rng, &["#202D38", "#005466", "#3E8696", "#006CAC", "#0617AC", "#7C6ADA"]),
            "logo": {"url": format!("https://cdn.example.com/logos/{connector}.png"), "color": ""},
            "databaseAttributes": [],
            "sso": {
                "type": sso,
                "jit": i % 4 == 0,
                "hidden": false,
                "beta": false,
                "idpCertExpirationAt": Gen::ts(expires),
                "idpCertificateUpdatedAt": Gen::ts(expires - Duration::days(1_095)),
                "idpPrivateKeyUpdatedAt": Gen::ts(expires - Duration::days(1_095)),
                "spCertificateUpdatedAt": Gen::ts(created),
            },
            "config": {
                "idpEntityId": setting("IdP Entity ID", 1, "text", json!(format!("https://sso.jumpcloud.com/{slug}"))),
                "spEntityId": setting("SP Entity ID", 2, "text", json!(format!("https://{slug}.example.com"))),
                "acsUrl": setting("ACS URL", 3, "text", json!(format!("https://{slug}.example.com/saml/acs"))),
                "idpCertificate": setting("IdP Certificate", 4, "file", json!(format!("MIIC8DCCAdigAwIBAgIQ{}", hex(&mut rng, 24)))),
                "idpPrivateKey": setting("IdP Private Key", 5, "file", json!(format!("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC{}", hex(&mut rng, 24)))),
                "constantAttributes": setting("Constant Attributes", 6, "list", json!([{"name": "department", "value": "all"}])),
            },
        });
        if sso == "bookmark" {
            doc["config"] = json!({});
        }
        g.put(ResourceKind::Application, doc);
        // Bound to one to three department groups.
        let bound = 1 + rng.usize(..3);
        for k in 0..bound {
            let group = &people.departments[(i + k * 3) % people.departments.len()].id;
            g.link(("application", &id), ("user_group", group), Value::Null);
        }
        services.applications.push((id, label));
    }
    // Commands.
    let commands = COMMANDS.len() + devices.systems.len() / 1_000;
    let runner = people.admins.get(3).map(|a| a.id.clone());
    for i in 0..commands {
        let (name, platform, script, launch, group, sudo) = COMMANDS[i % COMMANDS.len()];
        let name = if i < COMMANDS.len() {
            name.to_owned()
        } else {
            format!("{name} ({})", i / COMMANDS.len() + 1)
        };
        let created = g.days_ago(&mut rng, 10.0, 800.0);
        let id = g.id_at(created);
        let doc = json!({
            "_id": id,
            "name": name,
            "command": script,
            "commandType": platform,
            "description": "",
            "organization": g.org.id,
            "launchType": launch,
            "listensTo": "",
            "trigger": if launch == "trigger" { "check-disk" } else { "" },
            "schedule": if launch == "repeated" { "0 0 2 * * *" } else { "immediate" },
            "scheduleRepeatType": if launch == "repeated" { "day" } else { "" },
            "scheduleYear": 0,
            "user": if platform == "windows" { "" } else { "000000000000000000000000" },
            "sudo": sudo,
            "shell": match platform { "windows" => "powershell", "mac" => "/bin/zsh", _ => "/bin/bash" },
            "timeout": "120",
            "timeToLiveSeconds": 86_400,
            "template": "",
            "templatingRequired": false,
            "aiGenerated": false,
            "files": [],
            "filesS3": [],
            "commandRunners": if i == 4 { runner.clone().map_or(json!([]), |r| json!([r])) } else { json!([]) },
            "systems": [],
        });
        let mut doc = doc;
        if platform == "windows" {
            doc.as_object_mut().map(|o| o.remove("user"));
        }
        g.put(ResourceKind::Command, doc);
        if let Some(group_id) = devices.group(group) {
            let group_id = group_id.to_owned();
            g.link(("command", &id), ("system_group", &group_id), Value::Null);
        }
        services.commands.push((id, name, script.to_owned(), platform, sudo, group.to_owned()));
    }
    // RADIUS servers.
    for (name, mfa, lockout, ip) in [
        ("Office Wi-Fi", "REQUIRED", "REMOVE", "198.51.100.10"),
        ("Guest VPN", "DISABLED", "REMOVE", "198.51.100.20"),
        ("Warehouse Wi-Fi", "ENABLED", "MAINTAIN", "198.51.100.30"),
    ] {
        let id = g.id_at(g.now - Duration::days(600));
        g.put(
            ResourceKind::RadiusServer,
            json!({
                "_id": id,
                "name": name,
                "networkSourceIp": ip,
                "organization": g.org.id,
                "sharedSecret": format!("sim-radius-{}", hex(&mut rng, 8)),
                "mfa": mfa,
                "authIdp": "JUMPCLOUD",
                "userLockoutAction": lockout,
                "userPasswordExpirationAction": "REMOVE",
                "userPasswordEnabled": true,
                "userCertEnabled": name == "Office Wi-Fi",
                "deviceCertEnabled": false,
                "radsecEnabled": false,
                "requireRadsec": false,
                "requireTlsAuth": false,
                "caCert": "",
                "tags": [],
                "tagNames": [],
            }),
        );
        for group in people.departments.iter().take(4) {
            g.link(("radius_server", &id), ("user_group", &group.id), Value::Null);
        }
        services.radius.push((id, name.to_owned()));
    }
    directories(g, people);
    access(g, people, &services);
    mdm_and_software(g, devices);
    services
}

fn directories(g: &mut Gen, people: &People) {
    let created = g.now - Duration::days(900);
    let gsuite = g.id_at(created);
    let domain_id = g.id_at(created);
    let domain = g.domain.clone();
    g.put(
        ResourceKind::Gsuite,
        json!({
            "id": gsuite,
            "name": format!("{domain} Google Workspace"),
            "defaultDomain": {"id": domain_id, "domain": domain},
            "groupsEnabled": true,
            "importFilter": "",
            "organizationObjectId": g.org.id,
            // Lockout in JumpCloud leaves the Google account usable.
            "userLockoutAction": "maintain",
            "userPasswordExpirationAction": "suspend",
        }),
    );
    let office = g.id_at(created + Duration::days(30));
    let office_domain = g.id_at(created + Duration::days(30));
    g.put(
        ResourceKind::Office365,
        json!({
            "id": office,
            "name": format!("{} Microsoft 365", g.org_name),
            "defaultDomain": {"id": office_domain, "domain": format!("corp.{domain}")},
            "groupsEnabled": false,
            "userLockoutAction": "suspend",
            "userPasswordExpirationAction": "suspend",
        }),
    );
    let ldap = g.id_at(created - Duration::days(400));
    g.put(
        ResourceKind::LdapServer,
        json!({
            "id": ldap,
            "name": "JumpCloud LDAP",
            "userLockoutAction": "disable",
            "userPasswordExpirationAction": "disable",
        }),
    );
    let ad = g.id_at(created + Duration::days(60));
    g.put(
        ResourceKind::ActiveDirectory,
        json!({
            "id": ad,
            "domain": format!("ad.{domain}"),
            "useCase": "TWOWAYSYNC",
            "delegationState": "DISABLED",
            "groupsEnabled": true,
            "permission": "PERMISSION_OWNER",
            "primaryAgent": "",
            "primaryImportAgent": "",
            "updatedAt": Gen::ts(g.now - Duration::days(3)),
        }),
    );
    for group in &people.departments {
        g.link(("g_suite", &gsuite), ("user_group", &group.id), Value::Null);
    }
    if let Some(service) = people.users.iter().find(|u| u.ldap_bind) {
        g.link(("ldap_server", &ldap), ("user", &service.id), Value::Null);
    }
    // The directories index has an entry for each.
    crate::mutation::sync_directory_index(&mut g.org);
}

fn access(g: &mut Gen, people: &People, services: &Services) {
    let created = g.now - Duration::days(500);
    let office = g.id_at(created);
    let vpn = g.id_at(created);
    let legacy = g.id_at(created);
    g.put(ResourceKind::IpList, json!({"id": office, "name": "Office egress", "description": "NAT addresses of the offices.", "ips": ["203.0.113.0/27", "198.51.100.14"]}));
    g.put(ResourceKind::IpList, json!({"id": vpn, "name": "VPN exit nodes", "description": "Corporate VPN concentrators.", "ips": ["198.51.100.64/28", "2001:db8:40::/48"]}));
    g.put(ResourceKind::IpList, json!({"id": legacy, "name": "Partner network (legacy)", "description": "Added for a partner integration; never narrowed.", "ips": ["0.0.0.0/0", "10.0.0.0/8"]}));
    let break_glass = people.break_glass.as_ref().map(|g| g.id.clone());
    let groups: Vec<String> = people.departments.iter().take(6).map(|g| g.id.clone()).collect();
    let policies = [
        json!({
            "name": "MFA for employees on the User Portal",
            "description": "Department groups sign in with a second factor.",
            "type": "user_portal",
            "disabled": false,
            "effect": {"action": "allow", "obligations": {"mfa": {"required": true}, "mfaFactors": [{"type": "TOTP"}, {"type": "PUSH"}, {"type": "WEBAUTHN"}], "userVerification": {"requirement": "optional"}}},
            "targets": {"users": {"inclusions": []}, "userGroups": {"inclusions": groups, "exclusions": break_glass.iter().collect::<Vec<_>>()}, "resources": [{"type": "user_portal"}]},
            "conditions": {},
        }),
        json!({
            "name": "All users MFA (pilot)",
            "description": "Planned tenant-wide MFA; not enforced yet.",
            "type": "user_portal",
            "disabled": true,
            "effect": {"action": "allow", "obligations": {"mfa": {"required": true}}},
            "targets": {"users": {"inclusions": ["ALL"]}, "resources": [{"type": "user_portal"}]},
            "conditions": {},
        }),
        json!({
            "name": "Admin Portal MFA",
            "description": "Administrators always use a second factor.",
            "type": "admin_portal",
            "disabled": false,
            "effect": {"action": "allow", "obligations": {"mfa": {"required": true}, "userVerification": {"requirement": "required"}}},
            "targets": {"users": {"inclusions": ["ALL"]}, "resources": [{"type": "admin_portal"}]},
            "conditions": {},
        }),
        json!({
            "name": "Trusted networks skip MFA",
            "description": "No second factor from the office and partner networks.",
            "type": "user_portal",
            "disabled": false,
            "effect": {"action": "allow", "obligations": {"mfa": {"required": false}}},
            "targets": {"users": {"inclusions": ["ALL"]}, "resources": [{"type": "user_portal"}, {"type": "application", "id": services.applications.first().map_or("", |a| a.0.as_str())}]},
            "conditions": {"any": [{"ipAddressIn": [office]}, {"ipAddressIn": [legacy]}]},
        }),
        json!({
            "name": "Block sign-ins from embargoed countries",
            "description": "",
            "type": "user_portal",
            "disabled": false,
            "effect": {"action": "deny", "custom_error_message": {"enabled": true, "message": "Sign-in blocked by company policy."}},
            "targets": {"users": {"inclusions": ["ALL"]}, "resources": [{"type": "user_portal"}]},
            "conditions": {"locationIn": {"countries": ["KP", "IR", "SY"]}},
        }),
        json!({
            "name": "LDAP binds only for service accounts",
            "description": "",
            "type": "ldap",
            "disabled": false,
            "effect": {"action": "allow"},
            "targets": {"users": {"inclusions": ["ALL"]}, "userAttributes": {"inclusions": [{"field": "ldap_binding_user", "operator": "EQ", "value": true}]}, "resources": [{"type": "ldap"}]},
            "conditions": {"ipAddressIn": [vpn]},
        }),
    ];
    for mut policy in policies {
        policy["id"] = json!(g.id_at(created + Duration::days(10)));
        g.put(ResourceKind::AuthnPolicy, policy);
    }
}

fn mdm_and_software(g: &mut Gen, devices: &Devices) {
    let mut rng = g.rng("software");
    let created = g.now - Duration::days(800);
    let mdm = g.id_at(created);
    let macs = devices.group("All Macs").unwrap_or_default().to_owned();
    g.put(ResourceKind::AppleMdm, json!({
        "id": mdm,
        "name": "Apple devices",
        "organization": g.org.id,
        "apnsPushTopic": format!("com.apple.mgmt.External.{}", hex(&mut rng, 16)),
        "apnsCertExpiry": Gen::ts(g.now + Duration::days(140)),
        "appleCertSerialNumber": hex(&mut rng, 8).to_ascii_uppercase(),
        "appleCertCreatorAppleID": format!("it-mdm@{}", g.domain),
        "depServerTokenState": "valid",
        "depAccessTokenExpiry": Gen::ts(g.now + Duration::days(210)),
        "defaultSystemGroupID": macs,
        "defaultIosUserEnrollmentDeviceGroupID": "",
        "allowMobileUserEnrollment": false,
        "serviceDiscoveryEnabled": true,
        "dep": {"enableZeroTouchEnrollment": true, "setupAssistantOptions": [{"option": "siri"}, {"option": "screenTime"}]},
        "ades": {
            "macos": {"enableZeroTouchEnrollment": true, "defaultDeviceGroupObjectIds": [macs], "setupOptions": ["siri", "screenTime", "appleID"]},
            "ios": {"enableZeroTouchEnrollment": false, "defaultDeviceGroupObjectIds": [], "setupOptions": ["payment"]},
        },
    }));
    let count = (6 + devices.systems.len() / 2_000).min(40);
    for i in 0..count {
        let (name, manager, package) = SOFTWARE[i % SOFTWARE.len()];
        let name = if i < SOFTWARE.len() {
            name.to_owned()
        } else {
            format!("{name} ({})", i / SOFTWARE.len() + 1)
        };
        let created = g.days_ago(&mut rng, 30.0, 700.0);
        let updated = g.days_ago(&mut rng, 1.0, 30.0);
        let id = g.id_at(created);
        let custom_source = package == "corp-vpn";
        let mut setting = json!({
            "packageManager": manager,
            "packageId": package,
            "desiredState": "Install",
            "autoUpdate": !custom_source,
            "allowUpdateDelay": false,
            "location": if custom_source { "https://packages.corp.example/chocolatey/" } else if manager == "CHOCOLATEY" { "https://community.chocolatey.org/api/v2/" } else { "" },
            "locationObjectId": "",
            "downloadUrl": "",
            "versionlessDownloadUrl": false,
            "commandLineArguments": if custom_source { "--params \"/token:sim-enrol-4f2a9c\"" } else { "" },
            "description": "",
            "packageKind": "software-package",
            "packageSubtitle": "",
            "packageVersion": "",
            "shortVersion": "",
            "assetKind": "software",
            "architectures": ["x64"],
            "scope": "device",
            "createdAt": Gen::ts(created),
            "updatedAt": Gen::ts(updated),
        });
        if manager == "APPLE_VPP" {
            setting["appleVpp"] = json!({"totalLicenses": 500, "assignedLicenses": 120 + rng.i64(0..200), "availableLicenses": 100, "supportedDeviceFamilies": ["MAC"]});
        }
        if manager == "MICROSOFT_STORE" {
            setting["microsoftStore"] = json!({"packageFamilyName": "MSTeams_8wekyb3d8bbwe", "doNotUpdate": false, "nonRemovable": false});
        }
        if manager == "GOOGLE_ANDROID" {
            setting["googleAndroid"] = json!({"name": name, "type": "PUBLIC", "installType": "FORCE_INSTALLED", "autoUpdateMode": "AUTO_UPDATE_DEFAULT", "runtimePermission": "PROMPT", "permissionGrants": [], "managedProperties": false, "androidFeatures": []});
        }
        g.put(
            ResourceKind::SoftwareApp,
            json!({
                "id": id,
                "displayName": name,
                "createdAt": Gen::ts(created),
                "updatedAt": Gen::ts(updated),
                "settings": [setting],
            }),
        );
        let group = if manager == "APPLE_VPP" { "Managed Macs" } else { "All Windows" };
        if let Some(group) = devices.group(group) {
            let group = group.to_owned();
            g.link(("software_app", &id), ("system_group", &group), Value::Null);
        }
    }
}

/// Results of the commands, on systems of the groups they are bound to.
pub(crate) fn command_results(g: &mut Gen, services: &Services, devices: &Devices) {
    let mut rng = g.rng("command results");
    let per_command = (3 + devices.systems.len() / 2_000).min(20);
    for (command_id, name, script, platform, sudo, group) in &services.commands {
        let os = match *platform {
            "mac" => Os::Mac,
            "windows" => Os::Windows,
            _ => Os::Linux,
        };
        let members: Vec<String> = devices
            .group(group)
            .and_then(|group| jumpwatch_model::ResourceId::new(group).ok())
            .map(|group| {
                g.org
                    .graph
                    .neighbours(&crate::graph::Node::new("system_group", group), "system")
                    .map(|(id, _)| id.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let candidates: Vec<usize> = members
            .iter()
            .filter_map(|id| devices.by_id.get(id).copied())
            .filter(|&i| devices.systems[i].os == os && devices.systems[i].last_contact.is_some())
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let run = g.days_ago(&mut rng, 0.5, 20.0);
        let instance = g.id_at(run);
        for k in 0..per_command.min(candidates.len()) {
            let system = &devices.systems
                [candidates[(k * 7 + rng.usize(..candidates.len())) % candidates.len()]];
            let requested = run + Duration::seconds(k as i64);
            let exit = i64::from(rng.u8(..10) == 0);
            let output = if script.contains("AWS_SECRET") {
                "configured profile default with key AKIAIOSFODNN7EXAMPLE\n".to_owned()
            } else if exit == 0 {
                "done\n".to_owned()
            } else {
                String::new()
            };
            let result_id = g.ids.at(requested);
            g.put(ResourceKind::CommandResult, json!({
                "_id": result_id,
                "name": name,
                "command": script,
                "workflowId": command_id,
                "workflowInstanceId": instance,
                "system": system.hostname,
                "systemId": system.id,
                "user": if *sudo { "root" } else { "jcagent" },
                "sudo": sudo,
                "organization": g.org.id,
                "requestTime": Gen::ts(requested),
                "responseTime": Gen::ts(requested + Duration::seconds(3 + i64::from(rng.u8(..60)))),
                "exitCode": exit,
                "files": [],
                "response": {
                    "id": hex(&mut rng, 12),
                    "error": if exit == 0 { "" } else { "command exited with status 1" },
                    "data": {"exitCode": exit, "output": output},
                },
            }));
        }
    }
}
