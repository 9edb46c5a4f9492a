//! The organization, its administrators, users and user groups.

use chrono::{DateTime, Duration, Utc};
use jumpwatch_model::ResourceKind;
use serde_json::{Value, json};

use super::names::{DEPARTMENT_WEIGHTS, DEPARTMENTS, FIRST_NAMES, LAST_NAMES, LOCATIONS};
use super::{Gen, one, pick};
use crate::ids::hex;

/// A user's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserState {
    Staged,
    Activated,
    Suspended,
}

/// What the other generators need to know about a user.
#[derive(Debug, Clone)]
pub(crate) struct UserFacts {
    pub(crate) id: String,
    pub(crate) username: String,
    pub(crate) email: String,
    pub(crate) first: &'static str,
    pub(crate) dept: usize,
    pub(crate) location: &'static str,
    pub(crate) state: UserState,
    pub(crate) created: DateTime<Utc>,
    pub(crate) mfa_enrolled: bool,
    pub(crate) sudo: bool,
    /// No sign-in recorded in the last 90 days.
    pub(crate) dormant: bool,
    pub(crate) ldap_bind: bool,
}

impl UserFacts {
    pub(crate) fn active(&self) -> bool {
        self.state == UserState::Activated
    }
}

/// A console administrator.
#[derive(Debug, Clone)]
pub(crate) struct AdminFacts {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) mfa: bool,
}

/// A user group.
#[derive(Debug, Clone)]
pub(crate) struct GroupFacts {
    pub(crate) id: String,
}

/// The people of the tenant.
#[derive(Debug, Clone, Default)]
pub(crate) struct People {
    pub(crate) users: Vec<UserFacts>,
    pub(crate) admins: Vec<AdminFacts>,
    /// One group per department, in `DEPARTMENTS` order.
    pub(crate) departments: Vec<GroupFacts>,
    pub(crate) it_admins: Option<GroupFacts>,
    pub(crate) sre: Option<GroupFacts>,
    pub(crate) break_glass: Option<GroupFacts>,
    pub(crate) contractors: Option<GroupFacts>,
    pub(crate) teams: Vec<GroupFacts>,
}

/// The organization document.
pub(crate) fn organization(g: &mut Gen, created: DateTime<Utc>) {
    let mut rng = g.rng("organization");
    // The first organization is weak in the ways the organization rules look for; the others
    // vary.
    let first = g.org_index == 0;
    let weak = |rng: &mut fastrand::Rng| first || rng.bool();
    let require_admin_mfa = !weak(&mut rng);
    let min_length = if weak(&mut rng) { 8 } else { 14 };
    let block_common = !weak(&mut rng);
    let history = !weak(&mut rng);
    let lockout = !weak(&mut rng);
    let reset_without_mfa = weak(&mut rng);
    // The second organization has no audit log.
    let directory_insights = g.org_index != 1;
    let users_cap = 250 + 50 * rng.i64(0..20);
    let doc = json!({
        "_id": g.org.id,
        "displayName": g.org_name,
        "logoUrl": format!("https://cdn.{}/logo.png", g.domain),
        "created": Gen::ts(created),
        "provider": "",
        "accessRestriction": "",
        "accountsReceivable": "",
        "hasCreditCard": true,
        "hasStripeCustomerId": true,
        "totalBillingEstimate": 1200 + rng.i64(0..9000),
        "lastEstimateCalculationTimeStamp": Gen::ts(g.now - Duration::hours(6)),
        "lastSfdcSyncStatus": {"status": "ok"},
        "customEmailSettings": {"enabled": false},
        "entitlement": {
            "billingModel": "per_user",
            "capUserQuantity": false,
            "isManuallyBilled": false,
            "maxUserQuantity": users_cap,
            "pricePerUserSum": 24,
            "purchaseChannel": "direct",
            "entitlementProducts": [{
                "name": "Platform",
                "productCode": "platform",
                "productCategory": "bundle",
                "contractType": "annual",
                "committedUsers": users_cap - 50,
                "uncommittedUsers": 0,
                "maxUserCount": users_cap,
                "pricePerUser": 24,
            }],
        },
        "settings": {
            "requireAdminMFA": require_admin_mfa,
            "passwordCompliance": "custom",
            "systemUserPasswordExpirationInDays": 90,
            "systemUsersCanEdit": false,
            "disableLdap": false,
            "disableCommandRunner": rng.bool(),
            "disableGoogleLogin": false,
            "disableUM": false,
            "agentVersion": "1.182.0",
            "chromeDTCEnabled": false,
            "deviceIdentificationEnabled": true,
            "duplicateLDAPGroups": false,
            "enableGoogleApps": true,
            "enableManagedUID": false,
            "enableO365": true,
            "enableUserPortalAgentInstall": true,
            "contactEmail": format!("it@{}", g.domain),
            "contactName": "IT Operations",
            "emailDisclaimer": "",
            "logo": "",
            "name": g.org_name,
            "maxSystemUsers": users_cap,
            "systemUsersCap": users_cap,
            "pendingDelete": false,
            "showIntro": false,
            "betaFeatures": {"passwordManager": true},
            "growthData": {"onboardingState": {"step": 7}},
            "passwordPolicy": {
                "enableMinLength": true,
                "minLength": min_length,
                "needsLowercase": true,
                "needsUppercase": true,
                "needsNumeric": true,
                "needsSymbolic": min_length > 8,
                "allowUsernameSubstring": false,
                "disallowCommonlyUsedPasswords": block_common,
                "disallowSequentialOrRepetitiveChars": block_common,
                "enableMaxHistory": history,
                "maxHistory": if history { 10 } else { 0 },
                "enableMaxLoginAttempts": lockout,
                "maxLoginAttempts": if lockout { 8 } else { 0 },
                "enableLockoutTimeInSeconds": lockout,
                "lockoutTimeInSeconds": 900,
                "enableResetLockoutCounter": lockout,
                "resetLockoutCounterMinutes": 15,
                "enablePasswordExpirationInDays": true,
                "passwordExpirationInDays": 90,
                "enableMinChangePeriodInDays": false,
                "minChangePeriodInDays": 0,
                "enableDaysBeforeExpirationToForceReset": true,
                "daysBeforeExpirationToForceReset": 7,
                "enableDaysAfterExpirationToSelfRecover": false,
                "daysAfterExpirationToSelfRecover": 0,
                "enableRecoveryEmail": true,
                "allowUnenrolledMFAPasswordReset": reset_without_mfa,
                "displayComplexityOnResetScreen": true,
                "effectiveDate": Gen::ts(created + Duration::days(30)),
                "gracePeriodDate": "",
            },
            "newSystemUserStateDefaults": {
                "manualEntry": "STAGED",
                "csvImport": "STAGED",
                "applicationImport": "ACTIVATED",
            },
            "userPortal": {"idleSessionDurationMinutes": 60, "cookieExpirationType": "session"},
            "windowsMDM": {"enabled": true, "autoEnroll": false},
            "features": {
                "systemInsights": {
                    "enabled": true,
                    "enableNewDarwin": true,
                    "enableNewWindows": true,
                    "enableNewLinux": false,
                    "createdAt": Gen::ts(created + Duration::days(3)),
                    "updatedAt": Gen::ts(created + Duration::days(400)),
                },
                "directoryInsights": {"enabled": directory_insights},
                "directoryInsightsPremium": {"enabled": false, "createdAt": "", "updatedAt": ""},
            },
            "systemUserDefaults": {"restrictedFields": []},
            "trustedAppConfig": {"checksum": hex(&mut rng, 6), "trustedApps": []},
        },
    });
    g.put(ResourceKind::Organization, doc);
}

/// Administrators, users and user groups.
pub(crate) fn generate(g: &mut Gen, count: usize) -> People {
    let mut people = People { users: users(g, count), ..People::default() };
    if g.org_index == 0 {
        people.admins = administrators(g, &people.users);
    }
    write_users(g, &people);
    groups(g, &mut people);
    people
}

fn weighted_department(rng: &mut fastrand::Rng) -> usize {
    let total: u32 = DEPARTMENT_WEIGHTS.iter().sum();
    let mut roll = rng.u32(..total);
    for (i, weight) in DEPARTMENT_WEIGHTS.iter().enumerate() {
        if roll < *weight {
            return i;
        }
        roll -= weight;
    }
    0
}

fn users(g: &mut Gen, count: usize) -> Vec<UserFacts> {
    let mut rng = g.rng("users");
    let mut taken = std::collections::HashSet::new();
    let staged = pick(&mut rng, count, 0.07, 2);
    let suspended = pick(&mut rng, count, 0.06, 2);
    // Dormant users are active ones (the first few are LDAP service accounts).
    let candidates: Vec<usize> = (0..count).filter(|&i| !staged[i] && !suspended[i]).collect();
    let mut dormant = vec![false; count];
    for (k, chosen) in pick(&mut rng, candidates.len(), 0.08, 2).into_iter().enumerate() {
        dormant[candidates[k]] = chosen;
    }
    // (created, staged, suspended, dormant), made in creation order so that ids sort like
    // creation dates.
    let mut specs: Vec<(DateTime<Utc>, bool, bool, bool)> = (0..count)
        .map(|i| {
            let created = if staged[i] && i % 2 == 0 {
                g.days_ago(&mut rng, 0.5, 20.0)
            } else if staged[i] {
                g.days_ago(&mut rng, 40.0, 200.0)
            } else if dormant[i] {
                g.days_ago(&mut rng, 200.0, 1_100.0)
            } else {
                g.days_ago(&mut rng, 5.0, 1_100.0)
            };
            (created, staged[i], suspended[i] && !staged[i], dormant[i])
        })
        .collect();
    specs.sort_by_key(|spec| spec.0);
    let ldap_accounts = (1 + count / 2_000).min(count);
    let mut users = Vec::with_capacity(count);
    for (i, &(created, staged, suspended, dormant)) in specs.iter().enumerate() {
        let ldap_bind = i < ldap_accounts;
        let (first, username) = if ldap_bind {
            let name = if i == 0 { "svc-ldap".to_owned() } else { format!("svc-ldap-{}", i + 1) };
            ("Service", name)
        } else {
            let first = *one(&mut rng, FIRST_NAMES);
            let last = *one(&mut rng, LAST_NAMES);
            let base = format!(
                "{}.{}",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase().replace([' ', '-'], "")
            );
            let mut username = base.clone();
            let mut n = 2;
            while !taken.insert(username.clone()) {
                username = format!("{base}{n}");
                n += 1;
            }
            (first, username)
        };
        let state = if ldap_bind {
            UserState::Activated
        } else if staged {
            UserState::Staged
        } else if suspended {
            UserState::Suspended
        } else {
            UserState::Activated
        };
        let dept = if ldap_bind { 2 } else { weighted_department(&mut rng) };
        users.push(UserFacts {
            id: g.id_at(created),
            email: format!("{username}@{}", g.domain),
            username,
            first,
            dept,
            location: LOCATIONS[rng.usize(..LOCATIONS.len())],
            state,
            created,
            mfa_enrolled: true,
            sudo: false,
            dormant: dormant && state == UserState::Activated && !ldap_bind,
            ldap_bind,
        });
    }
    // Security traits, over active users.
    let active: Vec<usize> = (0..users.len()).filter(|&i| users[i].active()).collect();
    let no_mfa = pick(&mut rng, active.len(), 0.15, 2);
    let sudo = pick(&mut rng, active.len(), 0.04, 2);
    for (k, &i) in active.iter().enumerate() {
        users[i].mfa_enrolled = !no_mfa[k] && !users[i].ldap_bind;
        users[i].sudo = sudo[k];
    }
    // A privileged user without MFA, and an LDAP service account with sudo.
    if let Some(&i) = active.iter().find(|&&i| !users[i].mfa_enrolled && !users[i].ldap_bind) {
        users[i].sudo = true;
    }
    if let Some(service) = users.iter_mut().find(|u| u.ldap_bind) {
        service.sudo = true;
    }
    users
}

/// Up to `n` users, taken from the departments in order (then from any), for which `keep` holds.
fn staff(
    users: &[UserFacts],
    departments: &[usize],
    n: usize,
    keep: impl Fn(&UserFacts) -> bool,
) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for &dept in departments {
        out.extend(
            (0..users.len())
                .filter(|&i| users[i].dept == dept && !users[i].ldap_bind && keep(&users[i])),
        );
    }
    out.extend((0..users.len()).filter(|&i| {
        !departments.contains(&users[i].dept) && !users[i].ldap_bind && keep(&users[i])
    }));
    out.truncate(n);
    out
}

/// IT first, then security and infrastructure.
const IT_DEPARTMENTS: &[usize] = &[2, 3, 1];

fn administrators(g: &mut Gen, users: &[UserFacts]) -> Vec<AdminFacts> {
    let mut rng = g.rng("administrators");
    let count = 4 + users.len() / 5_000;
    // Administrators are IT people who also have a user account.
    let it_users: Vec<&UserFacts> = staff(users, IT_DEPARTMENTS, count, UserFacts::active)
        .into_iter()
        .map(|i| &users[i])
        .collect();
    let roles =
        ["Administrator With Billing", "Administrator", "Manager", "Help Desk", "Read Only"];
    let mut admins = Vec::with_capacity(count);
    for i in 0..count {
        let linked = it_users.get(i).copied();
        let (first, last, email) = match linked {
            Some(user) => {
                let (first, last) = split_name(&user.username);
                (first, last, user.email.clone())
            }
            None => (
                "IT".to_owned(),
                format!("Admin {}", i + 1),
                format!("it-admin{}@{}", i + 1, g.domain),
            ),
        };
        let created = g.days_ago(&mut rng, 300.0, 1_800.0);
        let id = g.id_at(created);
        let role = if i < roles.len() { roles[i] } else { "Help Desk" };
        // The third administrator never enrolled a TOTP device; the first holds the API key
        // (without expiry).
        let mfa = i != 2 && linked.is_none_or(|u| u.mfa_enrolled);
        let key = i == 0 || i == 3;
        let mut doc = json!({
            "_id": id,
            "email": email,
            "firstname": first,
            "lastname": last,
            "organization": g.org.id,
            "provider": "",
            "created": Gen::ts(created),
            "role": hex(&mut rng, 12),
            "roleName": role,
            "roleNames": [role],
            "roles": [],
            "suspended": false,
            "enableMultiFactor": true,
            "totpEnrolled": mfa,
            "passwordUpdatedAt": Gen::ts(g.days_ago(&mut rng, 10.0, 300.0)),
            "apiKeyAllowed": key,
            "apiKeySet": key,
            "usersTimeZone": "Europe/London",
            "disableIntroduction": true,
            "sessionCount": 20 + rng.i64(0..800),
            "lastWhatsNewChecked": Gen::ts(g.days_ago(&mut rng, 0.0, 20.0)),
            "growthData": {"onboardingState": {"done": true}},
        });
        doc["roles"] = json!([doc["role"].clone()]);
        if mfa {
            doc["totpUpdatedAt"] = json!(Gen::ts(created + Duration::days(1)));
        }
        if key {
            let updated = g.days_ago(&mut rng, 400.0, 700.0);
            doc["apiKeyUpdatedAt"] = json!(Gen::ts(updated));
            doc["apiKeyHash"] = json!({
                "prefix": format!("jca_{}", hex(&mut rng, 2)),
                "createdAt": Gen::ts(updated),
                "expireAt": if i == 0 { Value::Null } else { json!(Gen::ts(g.now + Duration::days(120))) },
            });
        }
        g.put(ResourceKind::Administrator, doc);
        admins.push(AdminFacts { id, email, mfa });
    }
    admins
}

fn split_name(username: &str) -> (String, String) {
    let mut parts = username.split('.');
    let cap = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    };
    let first = parts.next().map(cap).unwrap_or_default();
    let last = parts
        .next()
        .map(|p| cap(p.trim_end_matches(|c: char| c.is_ascii_digit())))
        .unwrap_or_default();
    (first, last)
}

fn enrollment(status: &str, totp: &str, push: &str) -> Value {
    json!({
        "overallStatus": status,
        "totpStatus": totp,
        "webAuthnStatus": "NOT_ENROLLED",
        "pushStatus": push,
        "jcGoStatus": "NOT_ENROLLED",
    })
}

#[allow(clippy::too_many_lines)]
fn write_users(g: &mut Gen, people: &People) {
    let mut rng = g.rng("user documents");
    let users = &people.users;
    let active: Vec<usize> = (0..users.len()).filter(|&i| users[i].active()).collect();
    // A third of the users without MFA are in their enrollment window.
    let unenrolled: Vec<usize> =
        active.iter().copied().filter(|&i| !users[i].mfa_enrolled && !users[i].ldap_bind).collect();
    let grace = pick(&mut rng, unenrolled.len(), 0.34, 2);
    let not_required = pick(&mut rng, active.len(), 0.25, 2);
    let never_expires = pick(&mut rng, active.len(), 0.05, 1);
    let locked = pick(&mut rng, active.len(), 0.01, 1);
    let mut grace_of = vec![false; users.len()];
    let mut not_required_of = vec![false; users.len()];
    let mut never_expires_of = vec![false; users.len()];
    let mut locked_of = vec![false; users.len()];
    for (k, &i) in unenrolled.iter().enumerate() {
        grace_of[i] = grace[k];
    }
    for (k, &i) in active.iter().enumerate() {
        not_required_of[i] = not_required[k];
        never_expires_of[i] = never_expires[k];
        locked_of[i] = locked[k];
    }
    let mut first_passwordless = true;
    let mut first_grace = true;
    // The first user of each department manages it.
    let mut managers: Vec<Option<String>> = vec![None; DEPARTMENTS.len()];
    for (i, user) in users.iter().enumerate() {
        let (first, last) = if user.ldap_bind {
            ("Service".to_owned(), "Account".to_owned())
        } else {
            split_name(&user.username)
        };
        let (department, titles) = DEPARTMENTS[user.dept];
        let title = if user.ldap_bind { "Service account" } else { *one(&mut rng, titles) };
        let state = match user.state {
            UserState::Staged => "STAGED",
            UserState::Activated => "ACTIVATED",
            UserState::Suspended => "SUSPENDED",
        };
        let activated = user.state != UserState::Staged;
        let passwordless = user.sudo && (first_passwordless || rng.u8(..4) == 0) && !user.ldap_bind;
        first_passwordless &= !passwordless;
        let password_date = g.days_ago(&mut rng, 1.0, 85.0).max(user.created);
        let never_expires = never_expires_of[i] || user.ldap_bind;
        let mfa = if user.mfa_enrolled {
            json!({"configured": true, "exclusion": false, "exclusionDays": 0})
        } else if grace_of[i] {
            // One grace window (at least) is far too long.
            let days = if first_grace || rng.u8(..3) == 0 { 60 } else { 7 };
            first_grace = false;
            json!({
                "configured": false,
                "exclusion": true,
                "exclusionDays": days,
                "exclusionUntil": Gen::ts(g.now + Duration::days(days) - Duration::hours(i64::from(rng.u8(..20)))),
            })
        } else if user.state == UserState::Staged {
            json!({"configured": false, "exclusion": true, "exclusionDays": 7})
        } else {
            json!({"configured": false, "exclusion": false, "exclusionDays": 0})
        };
        let mfa_enrollment = if user.mfa_enrolled {
            if rng.bool() {
                enrollment("ENROLLED", "ENROLLED", "NOT_ENROLLED")
            } else {
                enrollment("ENROLLED", "NOT_ENROLLED", "ENROLLED")
            }
        } else if user.state == UserState::Staged {
            enrollment("PRE_ENROLLMENT", "NOT_ENROLLED", "NOT_ENROLLED")
        } else if grace_of[i] {
            enrollment("IN_ENROLLMENT", "PENDING_ACTIVATION", "NOT_ENROLLED")
        } else if rng.u8(..3) == 0 {
            enrollment("ENROLLMENT_EXPIRED", "ENROLLMENT_EXPIRED", "NOT_ENROLLED")
        } else {
            enrollment("NOT_ENROLLED", "NOT_ENROLLED", "NOT_ENROLLED")
        };
        let admin = people.admins.iter().find(|a| a.email == user.email);
        let uid = 5_000 + i64::try_from(i).unwrap_or(0);
        let mut doc = json!({
            "_id": user.id,
            "username": user.username,
            "email": user.email,
            "firstname": first,
            "middlename": "",
            "lastname": last,
            "displayname": format!("{first} {last}"),
            "alternateEmail": "",
            "managedAppleId": "",
            "company": g.org_name,
            "costCenter": format!("CC-{}", 100 + user.dept * 10),
            "department": department,
            "description": "",
            "employeeIdentifier": format!("E{:05}", 1 + i),
            "employeeType": if i % 13 == 5 { "contractor" } else { "full-time" },
            "jobTitle": title,
            "location": user.location,
            "organization": g.org.id,
            "created": Gen::ts(user.created),
            "creationSource": if i % 3 == 0 { "csv" } else { "manual" },
            "activated": activated,
            "state": state,
            "suspended": user.state == UserState::Suspended,
            "account_locked": locked_of[i],
            "account_locked_date": if locked_of[i] { json!(Gen::ts(g.days_ago(&mut rng, 0.1, 2.0))) } else { Value::Null },
            "badLoginAttempts": if locked_of[i] { 10 } else { i64::from(rng.u8(..3)) / 2 },
            "password_expired": false,
            "password_never_expires": never_expires,
            "password_date": if activated { json!(Gen::ts(password_date)) } else { Value::Null },
            "password_expiration_date": if activated && !never_expires {
                json!(Gen::ts(password_date + Duration::days(90)))
            } else {
                Value::Null
            },
            "external_password_expiration_date": "",
            "sudo": user.sudo,
            "passwordless_sudo": passwordless,
            "totp_enabled": user.mfa_enrolled,
            "enable_user_portal_multifactor": user.mfa_enrolled && !not_required_of[i],
            "allow_public_key": true,
            "public_key": "",
            "ldap_binding_user": user.ldap_bind,
            "samba_service_user": false,
            "enable_managed_uid": false,
            "unix_uid": uid,
            "unix_guid": uid,
            "disableDeviceMaxLoginAttempts": false,
            "externally_managed": false,
            "external_dn": "",
            "external_source_type": "",
            "tags": [],
            "mfa": mfa,
            "mfaEnrollment": mfa_enrollment,
            "admin": admin.map_or(Value::Null, |a| json!({
                "id": a.id,
                "roleName": "Administrator",
                "roleNames": ["Administrator"],
            })),
            "delegatedAuthority": Value::Null,
            "ssh_keys": [],
            "attributes": [{"name": "costCenterOwner", "value": department}],
            "addresses": [],
            "phoneNumbers": [{"id": hex(&mut rng, 4), "type": "work", "number": format!("+44 20 7946 {:04}", i % 10_000)}],
            "relationships": [],
            "recoveryEmail": {
                "address": format!("{}@personal.example", user.username),
                "verified": activated,
                "verifiedAt": Gen::ts(user.created + Duration::days(1)),
            },
            "restrictedFields": [],
        });
        if let Some(manager) = &managers[user.dept] {
            doc["manager"] = json!(manager);
        } else if user.active() {
            managers[user.dept] = Some(user.id.clone());
        }
        if matches!(user.dept, 0 | 1) && activated && rng.u8(..3) == 0 {
            doc["ssh_keys"] = json!([{
                "_id": g.ids.at(user.created + Duration::days(2)),
                "name": "laptop",
                "public_key": format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{} {}@laptop", hex(&mut rng, 16), user.username),
                "create_date": Gen::ts(user.created + Duration::days(2)),
            }]);
        }
        g.put(ResourceKind::User, doc);
    }
}

fn group_doc(
    g: &Gen,
    id: &str,
    name: &str,
    description: &str,
    sudo: Option<(bool, bool)>,
    method: &str,
) -> Value {
    let attributes = match sudo {
        Some((enabled, without_password)) => json!({
            "sudo": {"enabled": enabled, "withoutPassword": without_password},
            "ldapGroups": [{"name": name.to_ascii_lowercase().replace(' ', "-")}],
            "posixGroups": [],
            "sambaEnabled": false,
        }),
        None => json!({
            "ldapGroups": [{"name": name.to_ascii_lowercase().replace(' ', "-")}],
            "posixGroups": [],
            "sambaEnabled": false,
        }),
    };
    let query = if method.starts_with("DYNAMIC") {
        json!({"queryType": "FilterQuery", "filters": [format!("{{\"field\":\"department\",\"operator\":\"eq\",\"value\":\"{name}\"}}")], "searchFilters": ""})
    } else {
        Value::Null
    };
    json!({
        "id": id,
        "name": name,
        "description": description,
        "email": "",
        "type": "user_group",
        "organizationObjectId": g.org.id,
        "membershipMethod": method,
        "memberQuery": query,
        "memberQueryExemptions": [],
        "memberQueryErrorFlags": [],
        "memberSuggestionsNotify": false,
        "suggestionCounts": {"add": 0, "remove": 0, "total": 0},
        "attributes": attributes,
    })
}

fn groups(g: &mut Gen, people: &mut People) {
    let mut rng = g.rng("user groups");
    let users = &people.users;
    let base = g.now - Duration::days(1_500);
    let make =
        |g: &mut Gen, name: &str, description: &str, sudo, method: &str, members: Vec<usize>| {
            let id = g.id_at(base);
            let doc = group_doc(g, &id, name, description, sudo, method);
            g.put(ResourceKind::UserGroup, doc);
            for &m in &members {
                g.link(("user_group", &id), ("user", &users[m].id), Value::Null);
            }
            GroupFacts { id }
        };
    for (dept, (name, _)) in DEPARTMENTS.iter().enumerate() {
        let members: Vec<usize> =
            (0..users.len()).filter(|&i| users[i].dept == dept && !users[i].ldap_bind).collect();
        let method = if dept % 3 == 0 { "DYNAMIC_REVIEW_REQUIRED" } else { "STATIC" };
        let group = make(g, name, &format!("Everyone in {name}"), None, method, members);
        people.departments.push(group);
    }
    let it = staff(users, IT_DEPARTMENTS, 5, UserFacts::active);
    people.it_admins = Some(make(
        g,
        "IT Admins",
        "Local administrators on company devices",
        Some((true, false)),
        "STATIC",
        it,
    ));
    let mut sre = staff(users, &[1, 0], 8, |u| u.state != UserState::Staged);
    // A suspended engineer is still in the on-call group.
    if let Some(i) = (0..users.len()).find(|&i| users[i].state == UserState::Suspended) {
        sre.push(i);
    }
    people.sre = Some(make(
        g,
        "SRE On-call",
        "On-call engineers with passwordless sudo on servers",
        Some((true, true)),
        "DYNAMIC_AUTOMATED",
        sre,
    ));
    let glass: Vec<usize> =
        staff(users, IT_DEPARTMENTS, 6, UserFacts::active).into_iter().skip(5).collect();
    people.break_glass =
        Some(make(g, "Break Glass", "Emergency accounts exempt from MFA", None, "STATIC", glass));
    let contractors: Vec<usize> = (0..users.len()).filter(|&i| i % 13 == 5).collect();
    people.contractors =
        Some(make(g, "Contractors", "External contractors", None, "STATIC", contractors));
    let teams = users.len() / 50;
    let mut pools: std::collections::HashMap<(usize, &str), Vec<usize>> =
        std::collections::HashMap::new();
    for (i, user) in users.iter().enumerate() {
        pools.entry((user.dept, user.location)).or_default().push(i);
    }
    for t in 0..teams {
        let dept = rng.usize(..DEPARTMENTS.len());
        let location = *one(&mut rng, LOCATIONS);
        let pool = pools.get(&(dept, location)).map_or(&[][..], Vec::as_slice);
        let mut members: Vec<usize> = Vec::new();
        if !pool.is_empty() {
            let size = 5 + rng.usize(..40);
            for _ in 0..size.min(pool.len()) {
                let m = *one(&mut rng, pool);
                if !members.contains(&m) {
                    members.push(m);
                }
            }
        }
        members.sort_unstable();
        let name = format!("{} {} squad {}", DEPARTMENTS[dept].0, location, t + 1);
        let group = make(g, &name, "Team group", None, "STATIC", members);
        people.teams.push(group);
    }
}
