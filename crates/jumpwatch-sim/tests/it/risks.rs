//! The small tenant gives every state and event rule of the rule catalogue something to find
//! (docs/rules: shared/reference/rules-catalogue.md). Change rules are covered by the risky
//! scenario (admin.rs).

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use jumpwatch_model::{Inventory, Resource, ResourceKind, SystemId, UserId};
use jumpwatch_sim::{Dataset, Size, Tenant};
use serde_json::Value;

fn ts(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.to_utc())
}

fn docs(tenant: &Tenant, kind: ResourceKind) -> Vec<Resource> {
    tenant.resources(kind)
}

fn active(u: &Value) -> bool {
    u["state"] == "ACTIVATED" && u["suspended"] != true
}

fn suspended(u: &Value) -> bool {
    u["state"] == "SUSPENDED" || u["suspended"] == true
}

fn mfa_enrolled(u: &Value) -> bool {
    u["mfa"]["configured"] == true || u["mfaEnrollment"]["overallStatus"] == "ENROLLED"
}

struct World {
    tenant: Tenant,
    inventory: Inventory,
    now: DateTime<Utc>,
}

impl World {
    fn new(tenant: Tenant) -> Self {
        let inventory = tenant.inventory();
        Self { tenant, inventory, now: jumpwatch_sim::fixtures::now() }
    }

    fn reporting(&self, s: &Value) -> bool {
        ts(&s["lastContact"]).is_some_and(|t| self.now - t <= Duration::days(30))
    }

    fn end_user(s: &Value) -> bool {
        s["osFamily"] == "darwin"
            || s["osFamily"] == "windows"
            || (s["osFamily"] == "linux" && s["desktopCapable"] == true)
    }

    fn groups_of(&self, user: &str) -> Vec<String> {
        let id = UserId::new(user).unwrap();
        self.inventory.user_groups_of(&id).map(|e| e.from.as_str().to_owned()).collect()
    }

    /// Whether a policy of a template applies to a system: bound to it or to one of its system
    /// groups, or a member of a policy group bound to either.
    fn covered(&self, system: &str, template: &str) -> bool {
        let id = SystemId::new(system).unwrap();
        let policies = docs(&self.tenant, ResourceKind::Policy);
        self.inventory.policies_applying_to(&id).iter().any(|binding| {
            policies.iter().any(|p| {
                p.id == *binding.policy
                    && p.doc["template"]["name"].as_str().is_some_and(|n| n.contains(template))
            })
        })
    }
}

fn check(rule: &str, found: bool, missing: &mut Vec<String>) {
    if !found {
        missing.push(rule.to_owned());
    }
}

#[test]
fn every_rule_has_something_to_find_whatever_the_seed() {
    for seed in [42, 1, 7, 2026, 31_337] {
        let missing = missing_findings(seed);
        assert!(missing.is_empty(), "seed {seed}: nothing to find for {missing:#?}");
    }
}

#[allow(clippy::too_many_lines)]
fn missing_findings(seed: u64) -> Vec<String> {
    let dataset = Dataset::builder()
        .seed(seed)
        .size(Size::Small)
        .now(jumpwatch_sim::fixtures::now())
        .orgs(3)
        .generate();
    let world = World::new(dataset.tenants()[0].clone());
    let t = &world.tenant;
    let now = world.now;
    let users = docs(t, ResourceKind::User);
    let systems = docs(t, ResourceKind::System);
    let admins = docs(t, ResourceKind::Administrator);
    let org = &docs(t, ResourceKind::Organization)[0].doc;
    let events = t.events();
    let authn = docs(t, ResourceKind::AuthnPolicy);
    let mut missing = Vec::new();
    let m = &mut missing;
    let u = |f: &dyn Fn(&Value) -> bool| users.iter().any(|r| f(&r.doc));
    let s = |f: &dyn Fn(&Value) -> bool| systems.iter().any(|r| f(&r.doc));

    // Users.
    let in_grace = |x: &Value| {
        x["mfa"]["exclusion"] == true
            && ts(&x["mfa"]["exclusionUntil"])
                .is_some_and(|until| until > now && until <= now + Duration::days(14))
    };
    check(
        "jc.user.mfa_not_enrolled",
        u(&|x| active(x) && x["ldap_binding_user"] != true && !mfa_enrolled(x) && !in_grace(x)),
        m,
    );
    let included: HashSet<String> = authn
        .iter()
        .filter(|p| {
            p.doc["disabled"] != true && p.doc["effect"]["obligations"]["mfa"]["required"] == true
        })
        .flat_map(|p| {
            p.doc["targets"]["userGroups"]["inclusions"].as_array().cloned().unwrap_or_default()
        })
        .filter_map(|g| g.as_str().map(str::to_owned))
        .collect();
    check(
        "jc.user.mfa_not_required",
        users.iter().any(|r| {
            active(&r.doc)
                && r.doc["enable_user_portal_multifactor"] != true
                && world.groups_of(r.id.as_str()).iter().all(|g| !included.contains(g))
        }),
        m,
    );
    check(
        "jc.user.mfa_grace_excessive",
        u(&|x| {
            x["mfa"]["exclusion"] == true
                && !mfa_enrolled(x)
                && ts(&x["mfa"]["exclusionUntil"])
                    .is_some_and(|until| until > now + Duration::days(14))
        }),
        m,
    );
    let privileged_groups: HashSet<String> = docs(t, ResourceKind::UserGroup)
        .iter()
        .filter(|g| {
            g.doc["attributes"]["sudo"]["enabled"] == true
                || g.doc["name"].as_str().is_some_and(|n| n.to_lowercase().contains("admin"))
        })
        .map(|g| g.id.as_str().to_owned())
        .collect();
    check(
        "jc.user.privileged_without_mfa",
        users.iter().any(|r| {
            let x = &r.doc;
            !suspended(x)
                && !mfa_enrolled(x)
                && (x["admin"].is_object()
                    || x["sudo"] == true
                    || world.groups_of(r.id.as_str()).iter().any(|g| privileged_groups.contains(g)))
        }),
        m,
    );
    check("jc.user.passwordless_sudo", u(&|x| x["passwordless_sudo"] == true && !suspended(x)), m);
    check("jc.user.global_sudo", u(&|x| x["sudo"] == true && !suspended(x)), m);
    check(
        "jc.user.password_never_expires",
        org["settings"]["passwordPolicy"]["enablePasswordExpirationInDays"] == true
            && u(&|x| {
                active(x) && x["password_never_expires"] == true && x["ldap_binding_user"] != true
            }),
        m,
    );
    let authenticated: HashSet<String> = events
        .iter()
        .filter(|e| {
            e["success"] == true
                && e["initiated_by"]["type"] == "user"
                && ts(&e["timestamp"]).is_some_and(|t| now - t <= Duration::days(90))
        })
        .filter_map(|e| e["initiated_by"]["id"].as_str().map(str::to_owned))
        .collect();
    check(
        "jc.user.inactive",
        users.iter().any(|r| {
            active(&r.doc)
                && ts(&r.doc["created"]).is_some_and(|c| now - c > Duration::days(90))
                && !authenticated.contains(r.id.as_str())
        }),
        m,
    );
    check(
        "jc.user.staged_stale",
        u(&|x| {
            x["state"] == "STAGED"
                && ts(&x["created"]).is_some_and(|c| now - c > Duration::days(30))
        }),
        m,
    );
    check(
        "jc.user.suspended_with_access",
        users.iter().any(|r| {
            suspended(&r.doc)
                && (!world.groups_of(r.id.as_str()).is_empty()
                    || world
                        .inventory
                        .systems_bound_to(&UserId::new(r.id.as_str()).unwrap())
                        .next()
                        .is_some())
        }),
        m,
    );
    check(
        "jc.user.ldap_service_account_risky",
        u(&|x| x["ldap_binding_user"] == true && x["sudo"] == true),
        m,
    );

    // Administrators and the organization.
    check(
        "jc.admin.mfa_not_enrolled",
        admins.iter().any(|a| {
            a.doc["suspended"] != true
                && (a.doc["enableMultiFactor"] != true || a.doc["totpEnrolled"] != true)
        }),
        m,
    );
    let billing =
        admins.iter().filter(|a| a.doc["roleName"] == "Administrator With Billing").count();
    check("jc.admin.billing_admin_count", !(2..=4).contains(&billing), m);
    check(
        "jc.admin.api_key_long_lived",
        admins
            .iter()
            .any(|a| a.doc["apiKeySet"] == true && a.doc["apiKeyHash"]["expireAt"].is_null()),
        m,
    );
    let pp = &org["settings"]["passwordPolicy"];
    check("jc.org.admin_mfa_not_required", org["settings"]["requireAdminMFA"] == false, m);
    check(
        "jc.org.password_policy_weak",
        pp["minLength"].as_i64() < Some(12) || pp["disallowCommonlyUsedPasswords"] != true,
        m,
    );
    check("jc.org.lockout_not_enforced", pp["enableMaxLoginAttempts"] != true, m);
    check("jc.org.mfa_optional_password_reset", pp["allowUnenrolledMFAPasswordReset"] == true, m);
    let di_off =
        dataset.tenants().iter().any(|t| {
            docs(t, ResourceKind::Organization)[0].doc["settings"]["features"]["directoryInsights"]
                ["enabled"]
                != true
        });
    check("jc.org.directory_insights_disabled (another organization)", di_off, m);

    // Systems.
    check(
        "jc.system.fde_not_active",
        s(&|x| {
            World::end_user(x)
                && world.reporting(x)
                && x["fde"].is_object()
                && x["fde"]["active"] != true
        }),
        m,
    );
    check(
        "jc.system.fde_key_not_escrowed",
        s(&|x| x["fde"]["active"] == true && x["fde"]["keyPresent"] != true),
        m,
    );
    check(
        "jc.system.not_reporting (stale)",
        s(&|x| ts(&x["lastContact"]).is_some_and(|t| now - t > Duration::days(30))),
        m,
    );
    check(
        "jc.system.not_reporting (never)",
        s(&|x| {
            x["lastContact"].is_null()
                && ts(&x["created"]).is_some_and(|c| now - c > Duration::days(7))
        }),
        m,
    );
    check(
        "jc.system.ssh_root_login_allowed",
        s(&|x| {
            x["osFamily"] == "linux"
                && x["modifySSHDConfig"] == true
                && x["allowSshRootLogin"] == true
        }),
        m,
    );
    check(
        "jc.system.ssh_password_without_mfa",
        s(&|x| {
            x["osFamily"] == "linux"
                && x["allowSshPasswordAuthentication"] == true
                && x["allowMultiFactorAuthentication"] != true
        }),
        m,
    );
    check(
        "jc.system.os_outdated",
        s(&|x| {
            world.reporting(x)
                && ((x["osFamily"] == "darwin"
                    && x["osVersionDetail"]["majorNumber"].as_i64() < Some(13))
                    || (x["os"] == "Ubuntu"
                        && x["osVersionDetail"]["majorNumber"].as_i64() < Some(20)))
        }),
        m,
    );
    check(
        "jc.system.mdm_not_enrolled",
        s(&|x| {
            x["osFamily"] == "darwin"
                && (x["mdm"].is_null()
                    || x["mdm"]["vendor"] == "none"
                    || (x["mdm"]["vendor"] == "internal"
                        && x["mdm"]["userApproved"] != true
                        && x["mdm"]["dep"] != true))
        }),
        m,
    );
    check(
        "jc.system.insights_disabled",
        s(&|x| world.reporting(x) && x["systemInsights"]["state"] != "enabled"),
        m,
    );
    check(
        "jc.system.unmanaged_local_admin",
        s(&|x| {
            x["userMetrics"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["admin"] == true && m["managed"] != true))
        }),
        m,
    );
    check(
        "jc.system.bound_user_sudo",
        docs(t, ResourceKind::SystemUserBinding)
            .iter()
            .any(|b| b.doc["compiledAttributes"]["sudo"]["enabled"] == true),
        m,
    );

    // Policies and their results.
    let gap = |family: &str, template: &str| {
        systems.iter().any(|r| {
            r.doc["osFamily"] == family
                && world.reporting(&r.doc)
                && !world.covered(r.id.as_str(), template)
        })
    };
    check(
        "jc.policy.fde_not_assigned",
        gap("darwin", "filevault") || gap("windows", "bitlocker"),
        m,
    );
    let lock_too_long = docs(t, ResourceKind::Policy).iter().any(|p| {
        p.doc["template"]["name"].as_str().is_some_and(|n| n.starts_with("lock_screen"))
            && p.doc["values"].as_array().is_some_and(|vs| {
                vs.iter()
                    .any(|v| v["value"].as_str().and_then(|v| v.parse::<i64>().ok()) > Some(900))
            })
    });
    check("jc.policy.screen_lock_missing_or_weak", lock_too_long, m);
    check("jc.policy.firewall_not_assigned", gap("windows", "firewall"), m);
    check("jc.policy.os_updates_not_assigned", gap("darwin", "update"), m);
    check(
        "jc.policystatus.failed",
        docs(t, ResourceKind::PolicyStatus)
            .iter()
            .any(|r| r.doc["success"] == false && r.doc["state"] == "failed"),
        m,
    );
    check(
        "jc.policystatus.failed (pending)",
        docs(t, ResourceKind::PolicyStatus).iter().any(|r| {
            r.doc["state"] == "pending"
                && ts(&r.doc["startedAt"]).is_some_and(|t| now - t > Duration::days(7))
        }),
        m,
    );
    check(
        "jc.usergroup.sudo_attribute",
        docs(t, ResourceKind::UserGroup).iter().any(|g| {
            g.doc["attributes"]["sudo"]["enabled"] == true
                && g.doc["attributes"]["sudo"]["withoutPassword"] == true
        }),
        m,
    );

    // Conditional access and IP lists.
    let all_users_mfa = authn.iter().any(|p| {
        let x = &p.doc;
        x["disabled"] != true
            && x["effect"]["action"] == "allow"
            && x["effect"]["obligations"]["mfa"]["required"] == true
            && x["targets"]["users"]["inclusions"]
                .as_array()
                .is_some_and(|i| i.contains(&Value::from("ALL")))
            && x["targets"]["resources"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["type"] == "user_portal"))
    });
    check(
        "jc.authn.no_mfa_policy_for_all_users",
        !all_users_mfa && u(&|x| active(x) && x["enable_user_portal_multifactor"] != true),
        m,
    );
    check(
        "jc.authn.mfa_policy_exclusions",
        authn.iter().any(|p| {
            p.doc["disabled"] != true
                && p.doc["effect"]["obligations"]["mfa"]["required"] == true
                && p.doc["targets"]["userGroups"]["exclusions"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty())
        }),
        m,
    );
    check(
        "jc.iplist.overly_broad",
        docs(t, ResourceKind::IpList).iter().any(|l| {
            l.doc["ips"].as_array().is_some_and(|ips| ips.iter().any(|ip| ip == "0.0.0.0/0"))
        }),
        m,
    );

    // Applications, commands, RADIUS, directories.
    check(
        "jc.app.sso_cert_expiring",
        docs(t, ResourceKind::Application).iter().any(|a| {
            ts(&a.doc["sso"]["idpCertExpirationAt"]).is_some_and(|e| e < now + Duration::days(30))
        }),
        m,
    );
    let secret = |text: &str| {
        let lower = text.to_lowercase();
        text.contains("AKIA")
            || ["password=", "secret_access_key=", "token="].iter().any(|k| lower.contains(k))
    };
    check(
        "jc.command.plaintext_secret",
        docs(t, ResourceKind::Command)
            .iter()
            .any(|c| c.doc["command"].as_str().is_some_and(secret)),
        m,
    );
    check(
        "jc.radius.mfa_not_enforced",
        docs(t, ResourceKind::RadiusServer)
            .iter()
            .any(|r| r.doc["mfa"] == "DISABLED" || r.doc["mfa"] == "ENABLED"),
        m,
    );
    let maintain = |kind| {
        docs(t, kind).iter().any(|x| {
            x.doc["userLockoutAction"].as_str().is_some_and(|a| a.eq_ignore_ascii_case("maintain"))
        })
    };
    check(
        "jc.directory.lockout_not_propagated",
        maintain(ResourceKind::Gsuite) || maintain(ResourceKind::RadiusServer),
        m,
    );
    check(
        "jc.directory.ad_sync_agent_unhealthy",
        docs(t, ResourceKind::ActiveDirectory).iter().any(|a| a.doc["primaryAgent"] == ""),
        m,
    );

    // System Insights.
    check(
        "jc.si.macos_firewall_off",
        docs(t, ResourceKind::SiAlf).iter().any(|r| r.doc["global_state"] == 0),
        m,
    );
    check(
        "jc.si.windows_security_center_unhealthy",
        docs(t, ResourceKind::SiWindowsSecurityCenter).iter().any(|r| {
            ["antivirus", "firewall", "autoupdate", "user_account_control"]
                .iter()
                .any(|c| r.doc[*c] != "Good")
        }),
        m,
    );
    check(
        "jc.si.bitlocker_os_volume_unprotected",
        docs(t, ResourceKind::SiBitlockerInfo).iter().any(|r| {
            r.doc["drive_letter"] == "C:"
                && (r.doc["protection_status"] != 1 || r.doc["conversion_status"] != 1)
        }),
        m,
    );
    check(
        "jc.si.macos_sip_disabled",
        docs(t, ResourceKind::SiSipConfig)
            .iter()
            .any(|r| r.doc["config_flag"] == "sip" && r.doc["enabled"] == 0),
        m,
    );
    check(
        "jc.si.root_ssh_authorized_keys",
        docs(t, ResourceKind::SiAuthorizedKeys).iter().any(|r| {
            r.doc["uid"] == "0"
                || r.doc["key_file"].as_str().is_some_and(|f| f.starts_with("/root/"))
        }),
        m,
    );
    // A Mac with FileVault off has a matching disk encryption row.
    let unencrypted: HashSet<String> = docs(t, ResourceKind::SiDiskEncryption)
        .iter()
        .filter(|r| r.doc["encrypted"] == 0)
        .map(|r| r.doc["system_id"].as_str().unwrap().to_owned())
        .collect();
    check(
        "consistency: FileVault off ⇒ unencrypted disk row",
        systems
            .iter()
            .filter(|r| {
                r.doc["osFamily"] == "darwin"
                    && r.doc["fde"]["active"] == false
                    && r.doc["systemInsights"]["state"] == "enabled"
            })
            .all(|r| unencrypted.contains(r.id.as_str())),
        m,
    );

    // Directory Insights.
    check(
        "jc.event.admin_login_without_mfa",
        events.iter().any(|e| {
            e["event_type"] == "admin_login_attempt" && e["success"] == true && e["mfa"] != true
        }),
        m,
    );

    missing
}
