//! What the channel tests share: fixed instants and a notification to a receiver, so snapshots
//! never depend on the clock.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use jumpwatch_notify::{Alert, Notification, Reason};

/// 2025-03-01 12:`minute`:00 UTC.
pub(crate) fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, minute, 0).unwrap()
}

/// A new notification `n-1` of `alerts` to `receiver`, grouped by tenant `acme`, made at
/// 12:30.
pub(crate) fn notification(receiver: &str, alerts: Vec<Alert>) -> Notification {
    let labels = BTreeMap::from([("tenant".to_owned(), "acme".to_owned())]);
    Notification::new("n-1", receiver, "{}:{tenant=\"acme\"}", labels, Reason::New, alerts, at(30))
}
