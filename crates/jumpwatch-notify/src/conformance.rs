//! The outbox's rules as executable checks, for anyone implementing the [`Outbox`] port:
//! `jumpwatch-store` runs them against SQLite, this crate against [`MemoryOutbox`](crate::MemoryOutbox).
//!
//! ```
//! jumpwatch_notify::conformance::check(&|| Box::new(jumpwatch_notify::MemoryOutbox::new()))
//!     .expect("the memory outbox keeps the rules");
//! ```

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::alert::{Alert, AlertKind, Severity};
use crate::matcher::Matchers;
use crate::notification::Reason;
use crate::outbox::{Batch, EntryState, NewEntry, Outbox, Outcome, ReceiverState, Settlement};
use crate::route::{Destination, Timing};
use crate::silence::Silence;

/// Makes an empty outbox.
pub type Factory<'a> = &'a dyn Fn() -> Box<dyn Outbox>;

const LEASE: Duration = Duration::from_secs(60);

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).single().unwrap_or_default()
}

fn timing() -> Timing {
    Timing {
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(3600),
    }
}

fn destination(receiver: &str, group: &str) -> Destination {
    Destination {
        receiver: receiver.to_owned(),
        group_key: group.to_owned(),
        group_labels: [("tenant".to_owned(), "acme".to_owned())].into(),
        timing: timing(),
    }
}

fn finding(fingerprint: &str, created: i64) -> Alert {
    Alert::new(
        AlertKind::Finding,
        fingerprint,
        crate::Status::Firing,
        Severity::High,
        fingerprint,
        at(created),
    )
    .label("tenant", "acme")
}

fn entry(receiver: &str, group: &str, alert: Alert, created: i64) -> NewEntry {
    NewEntry::new(&destination(receiver, group), alert, at(created))
}

fn ensure(condition: bool, what: &str) -> Result<(), String> {
    if condition { Ok(()) } else { Err(what.to_owned()) }
}

fn claim(outbox: &dyn Outbox, now: i64) -> Result<Vec<Batch>, String> {
    outbox.claim(at(now), LEASE, 100).map_err(|e| e.to_string())
}

fn settle(outbox: &dyn Outbox, batch: &Batch, outcome: Outcome, now: i64) -> Result<(), String> {
    outbox.settle(batch, &Settlement::new(Vec::new(), outcome), at(now)).map_err(|e| e.to_string())
}

fn ids(batch: &Batch) -> Vec<String> {
    batch.entries.iter().map(|e| e.alert.fingerprint.clone()).collect()
}

/// Runs every check on fresh outboxes from `factory`; the first broken rule is the error.
pub fn check(factory: Factory<'_>) -> Result<(), String> {
    for (name, case) in CASES {
        case(factory().as_ref()).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

type Case = fn(&dyn Outbox) -> Result<(), String>;

/// Every check, by name.
pub const CASES: &[(&str, Case)] = &[
    ("enqueue is idempotent", enqueue_is_idempotent),
    ("group_wait holds a new group", group_wait_holds_a_new_group),
    ("a group's entries go together, in order", groups_go_together),
    ("a lease hides a claimed group until it expires", lease_hides_a_group),
    ("group_interval paces a group", group_interval_paces),
    ("a retry keeps its id and its entries", retry_keeps_id_and_entries),
    ("dead letters are final", dead_letters_are_final),
    ("dead letters can be requeued", dead_letters_can_be_requeued),
    ("firing findings repeat", firing_findings_repeat),
    ("unavailable receivers are skipped", unavailable_receivers_are_skipped),
    ("release_all returns in-flight entries", release_all_returns_entries),
    ("muted entries are settled apart", muted_entries_are_settled),
    ("silences are kept and expire", silences_are_kept),
    ("firing reads the latest status", firing_reads_latest_status),
    ("next_due is the earliest pending", next_due_is_earliest),
    ("an idle group is forgotten after group_interval", idle_groups_are_forgotten),
    ("a group with dead letters is kept", dead_letters_keep_their_group),
];

fn enqueue_is_idempotent(outbox: &dyn Outbox) -> Result<(), String> {
    let new = [entry("r", "g", finding("a", 0), 0), entry("r", "g", finding("b", 0), 0)];
    ensure(outbox.enqueue(&new).map_err(|e| e.to_string())? == 2, "two new entries are added")?;
    ensure(outbox.enqueue(&new).map_err(|e| e.to_string())? == 0, "a re-enqueue adds nothing")?;
    let other = [entry("s", "g", finding("a", 0), 0)];
    ensure(
        outbox.enqueue(&other).map_err(|e| e.to_string())? == 1,
        "the same alert for another receiver is added",
    )?;
    let counts = outbox.counts().map_err(|e| e.to_string())?;
    ensure(counts.get(&EntryState::Pending) == Some(&3), "three entries are pending")
}

fn group_wait_holds_a_new_group(outbox: &dyn Outbox) -> Result<(), String> {
    outbox.enqueue(&[entry("r", "g", finding("a", 0), 0)]).map_err(|e| e.to_string())?;
    ensure(claim(outbox, 29)?.is_empty(), "nothing is due before group_wait")?;
    let batches = claim(outbox, 30)?;
    ensure(batches.len() == 1, "the group is due at group_wait")?;
    let batch = &batches[0];
    ensure(batch.reason == Reason::New && batch.attempt == 1, "a first attempt of new alerts")?;
    ensure(
        batch.entries.iter().all(|e| e.state == EntryState::InFlight),
        "claimed entries are in flight",
    )
}

fn groups_go_together(outbox: &dyn Outbox) -> Result<(), String> {
    let new = [
        entry("r", "g", finding("a", 0), 0),
        entry("r", "h", finding("x", 0), 0),
        entry("r", "g", finding("b", 10), 10),
    ];
    outbox.enqueue(&new).map_err(|e| e.to_string())?;
    let mut batches = claim(outbox, 30)?;
    batches.sort_by(|a, b| a.group_key.cmp(&b.group_key));
    ensure(batches.len() == 2, "one batch a group")?;
    ensure(ids(&batches[0]) == ["a", "b"], "a group's entries in enqueue order")?;
    ensure(ids(&batches[1]) == ["x"], "the other group alone")
}

fn lease_hides_a_group(outbox: &dyn Outbox) -> Result<(), String> {
    outbox.enqueue(&[entry("r", "g", finding("a", 0), 0)]).map_err(|e| e.to_string())?;
    let first = claim(outbox, 30)?;
    ensure(first.len() == 1, "claimed")?;
    ensure(claim(outbox, 31)?.is_empty(), "a leased group is not claimed again")?;
    let again = claim(outbox, 30 + 61)?;
    ensure(again.len() == 1, "an expired lease returns the group")?;
    ensure(again[0].notification_id == first[0].notification_id, "with the same notification id")?;
    ensure(ids(&again[0]) == ids(&first[0]), "and the same entries")?;
    ensure(again[0].attempt == 2, "as a second attempt")
}

fn group_interval_paces(outbox: &dyn Outbox) -> Result<(), String> {
    outbox.enqueue(&[entry("r", "g", finding("a", 0), 0)]).map_err(|e| e.to_string())?;
    let batch = claim(outbox, 30)?.pop().ok_or("claimed")?;
    settle(outbox, &batch, Outcome::Delivered { firing: vec![finding("a", 0)] }, 31)?;
    outbox.enqueue(&[entry("r", "g", finding("b", 40), 40)]).map_err(|e| e.to_string())?;
    ensure(claim(outbox, 100)?.is_empty(), "a sent group waits group_interval")?;
    let next = claim(outbox, 31 + 300)?;
    ensure(next.len() == 1 && ids(&next[0]) == ["b"], "then sends what is new")?;
    ensure(next[0].firing.len() == 1, "knowing what it left firing")?;
    let delivered = outbox.entries(Some(EntryState::Delivered), 10).map_err(|e| e.to_string())?;
    ensure(
        delivered.len() == 1 && delivered[0].settled_at == Some(at(31)),
        "the first entry is delivered",
    )
}

fn retry_keeps_id_and_entries(outbox: &dyn Outbox) -> Result<(), String> {
    outbox.enqueue(&[entry("r", "g", finding("a", 0), 0)]).map_err(|e| e.to_string())?;
    let first = claim(outbox, 30)?.pop().ok_or("claimed")?;
    settle(outbox, &first, Outcome::Retry { at: at(90), error: "HTTP 503".into() }, 31)?;
    outbox.enqueue(&[entry("r", "g", finding("b", 40), 40)]).map_err(|e| e.to_string())?;
    ensure(claim(outbox, 89)?.is_empty(), "a retry waits for its time")?;
    let second = claim(outbox, 90)?.pop().ok_or("the retry is due")?;
    ensure(second.notification_id == first.notification_id, "a retry keeps the notification id")?;
    ensure(ids(&second) == ["a"], "a retry sends the first attempt's entries only")?;
    ensure(second.attempt == 2, "a retry is the second attempt")?;
    ensure(
        second.entries[0].last_error.as_deref() == Some("HTTP 503"),
        "the entry keeps its last error",
    )?;
    settle(outbox, &second, Outcome::Delivered { firing: Vec::new() }, 91)?;
    let third = claim(outbox, 91 + 300)?.pop().ok_or("the new entry follows")?;
    ensure(
        ids(&third) == ["b"] && third.notification_id != first.notification_id,
        "in a new notification",
    )
}

fn dead_letters_are_final(outbox: &dyn Outbox) -> Result<(), String> {
    outbox.enqueue(&[entry("r", "g", finding("a", 0), 0)]).map_err(|e| e.to_string())?;
    let batch = claim(outbox, 30)?.pop().ok_or("claimed")?;
    settle(outbox, &batch, Outcome::Dead { error: "HTTP 404".into() }, 31)?;
    ensure(claim(outbox, 10_000)?.is_empty(), "a dead letter is not claimed")?;
    let dead = outbox.entries(Some(EntryState::Dead), 10).map_err(|e| e.to_string())?;
    ensure(
        dead.len() == 1 && dead[0].last_error.as_deref() == Some("HTTP 404"),
        "it is listed with its error",
    )?;
    ensure(outbox.next_due().map_err(|e| e.to_string())?.is_none(), "nothing is due")
}

fn dead_letters_can_be_requeued(outbox: &dyn Outbox) -> Result<(), String> {
    let new = [entry("r", "g", finding("a", 0), 0), entry("s", "g", finding("a", 0), 0)];
    outbox.enqueue(&new).map_err(|e| e.to_string())?;
    for batch in claim(outbox, 30)? {
        settle(outbox, &batch, Outcome::Dead { error: "HTTP 404".into() }, 31)?;
    }
    ensure(
        outbox.requeue_dead(Some("r"), at(100)).map_err(|e| e.to_string())? == 1,
        "one receiver's dead letters",
    )?;
    let again = claim(outbox, 100)?;
    ensure(
        again.len() == 1 && again[0].receiver == "r" && again[0].attempt == 1,
        "are claimed again as new",
    )?;
    ensure(outbox.requeue_dead(None, at(100)).map_err(|e| e.to_string())? == 1, "then the rest")?;
    let state = ReceiverState {
        consecutive_failures: 1,
        open_until: None,
        disabled: Some("HTTP 410".into()),
    };
    outbox.set_receiver_state("s", &state).map_err(|e| e.to_string())?;
    let receivers = outbox.receivers().map_err(|e| e.to_string())?;
    ensure(receivers.get("s") == Some(&state), "receivers lists the recorded states")
}

fn firing_findings_repeat(outbox: &dyn Outbox) -> Result<(), String> {
    outbox.enqueue(&[entry("r", "g", finding("a", 0), 0)]).map_err(|e| e.to_string())?;
    let batch = claim(outbox, 30)?.pop().ok_or("claimed")?;
    settle(outbox, &batch, Outcome::Delivered { firing: vec![finding("a", 0)] }, 30)?;
    ensure(claim(outbox, 30 + 3599)?.is_empty(), "no repeat before repeat_interval")?;
    let repeat = claim(outbox, 30 + 3600)?.pop().ok_or("a repeat is due")?;
    ensure(
        repeat.reason == Reason::Repeat && repeat.entries.is_empty(),
        "a repeat has no entries",
    )?;
    ensure(
        repeat.firing.len() == 1 && repeat.firing[0].fingerprint == "a",
        "it carries the firing alerts",
    )?;
    settle(outbox, &repeat, Outcome::Delivered { firing: Vec::new() }, 30 + 3600)?;
    ensure(claim(outbox, 100_000)?.is_empty(), "nothing fires, nothing repeats")
}

fn unavailable_receivers_are_skipped(outbox: &dyn Outbox) -> Result<(), String> {
    outbox.enqueue(&[entry("r", "g", finding("a", 0), 0)]).map_err(|e| e.to_string())?;
    let open = ReceiverState { consecutive_failures: 5, open_until: Some(at(100)), disabled: None };
    outbox.set_receiver_state("r", &open).map_err(|e| e.to_string())?;
    ensure(outbox.receiver_state("r").map_err(|e| e.to_string())? == open, "the state is kept")?;
    ensure(claim(outbox, 30)?.is_empty(), "an open circuit skips the receiver")?;
    ensure(claim(outbox, 100)?.len() == 1, "until it closes")?;
    outbox.release_all().map_err(|e| e.to_string())?;
    let disabled = ReceiverState { disabled: Some("HTTP 410".into()), ..ReceiverState::default() };
    outbox.set_receiver_state("r", &disabled).map_err(|e| e.to_string())?;
    ensure(claim(outbox, 10_000)?.is_empty(), "a disabled receiver is skipped")
}

fn release_all_returns_entries(outbox: &dyn Outbox) -> Result<(), String> {
    outbox.enqueue(&[entry("r", "g", finding("a", 0), 0)]).map_err(|e| e.to_string())?;
    let first = claim(outbox, 30)?.pop().ok_or("claimed")?;
    ensure(outbox.release_all().map_err(|e| e.to_string())? == 1, "one entry released")?;
    let again = claim(outbox, 31)?.pop().ok_or("claimable at once")?;
    ensure(again.notification_id == first.notification_id, "with the same id")
}

fn muted_entries_are_settled(outbox: &dyn Outbox) -> Result<(), String> {
    let new = [entry("r", "g", finding("a", 0), 0), entry("r", "g", finding("b", 0), 0)];
    outbox.enqueue(&new).map_err(|e| e.to_string())?;
    let batch = claim(outbox, 30)?.pop().ok_or("claimed")?;
    let (a, b) = (batch.entries[0].id, batch.entries[1].id);
    let settlement = Settlement::new(
        vec![(a, EntryState::Silenced)],
        Outcome::Retry { at: at(60), error: "HTTP 500".into() },
    );
    outbox.settle(&batch, &settlement, at(31)).map_err(|e| e.to_string())?;
    let silenced = outbox.entries(Some(EntryState::Silenced), 10).map_err(|e| e.to_string())?;
    ensure(silenced.len() == 1 && silenced[0].id == a, "the muted entry is final")?;
    let retry = claim(outbox, 60)?.pop().ok_or("the rest is retried")?;
    ensure(retry.entries.len() == 1 && retry.entries[0].id == b, "without the muted entry")
}

fn silences_are_kept(outbox: &dyn Outbox) -> Result<(), String> {
    let matchers = Matchers::pairs(&[("rule", "=~jc\\..*")]).map_err(|e| e.to_string())?;
    let silence =
        Silence::new(matchers, at(0), at(3600), "ana", "maintenance").map_err(|e| e.to_string())?;
    outbox.add_silence(&silence).map_err(|e| e.to_string())?;
    let stored = outbox.silences().map_err(|e| e.to_string())?;
    ensure(stored.len() == 1 && stored[0].id == silence.id, "the silence is stored")?;
    ensure(stored[0].matchers.to_table() == silence.matchers.to_table(), "with its matchers")?;
    ensure(
        outbox.expire_silence(&silence.id, at(10)).map_err(|e| e.to_string())?,
        "it can be expired",
    )?;
    ensure(
        !outbox.expire_silence("nope", at(10)).map_err(|e| e.to_string())?,
        "an unknown id is not",
    )?;
    let stored = outbox.silences().map_err(|e| e.to_string())?;
    ensure(stored[0].ends_at == at(10) && !stored[0].is_active(at(11)), "it ends when expired")
}

fn firing_reads_latest_status(outbox: &dyn Outbox) -> Result<(), String> {
    outbox
        .enqueue(&[entry("r", "g", finding("a", 0), 0), entry("r", "g", finding("b", 0), 0)])
        .map_err(|e| e.to_string())?;
    let firing = outbox.firing().map_err(|e| e.to_string())?;
    ensure(firing.len() == 2, "pending firing alerts fire")?;
    outbox
        .enqueue(&[entry("r", "g", finding("a", 0).resolved(at(5)), 5)])
        .map_err(|e| e.to_string())?;
    let firing = outbox.firing().map_err(|e| e.to_string())?;
    ensure(firing.len() == 1 && firing[0].fingerprint == "b", "a later resolution wins")
}

fn next_due_is_earliest(outbox: &dyn Outbox) -> Result<(), String> {
    ensure(
        outbox.next_due().map_err(|e| e.to_string())?.is_none(),
        "an empty outbox has nothing due",
    )?;
    outbox
        .enqueue(&[entry("r", "g", finding("a", 100), 100), entry("r", "h", finding("b", 0), 0)])
        .map_err(|e| e.to_string())?;
    ensure(outbox.next_due().map_err(|e| e.to_string())? == Some(at(30)), "the earliest group_wait")
}

fn idle_groups_are_forgotten(outbox: &dyn Outbox) -> Result<(), String> {
    outbox.enqueue(&[entry("r", "g", finding("a", 0), 0)]).map_err(|e| e.to_string())?;
    let batch = claim(outbox, 30)?.pop().ok_or("claimed")?;
    settle(outbox, &batch, Outcome::Delivered { firing: Vec::new() }, 31)?;
    // Idle, but sent less than group_interval ago: kept, so group_interval still paces it.
    ensure(claim(outbox, 330)?.is_empty(), "nothing is due")?;
    outbox.enqueue(&[entry("r", "g", finding("b", 330), 330)]).map_err(|e| e.to_string())?;
    ensure(claim(outbox, 330)?.is_empty(), "a group sent recently is still paced")?;
    let batch = claim(outbox, 31 + 300)?.pop().ok_or("due at group_interval, not group_wait")?;
    ensure(ids(&batch) == ["b"], "with what is new")?;
    settle(outbox, &batch, Outcome::Delivered { firing: Vec::new() }, 331)?;
    // Idle and sent group_interval ago: forgotten, so a new alert waits group_wait again.
    ensure(claim(outbox, 331 + 300)?.is_empty(), "nothing is due")?;
    outbox.enqueue(&[entry("r", "g", finding("c", 700), 700)]).map_err(|e| e.to_string())?;
    ensure(claim(outbox, 729)?.is_empty(), "a forgotten group waits group_wait again")?;
    let batch = claim(outbox, 730)?.pop().ok_or("then it is due")?;
    ensure(ids(&batch) == ["c"] && batch.attempt == 1, "as a new group's first notification")?;
    ensure(batch.firing.is_empty(), "with nothing firing")?;
    ensure(batch.group_labels == destination("r", "g").group_labels, "and the group's labels")?;
    ensure(
        outbox.counts().map_err(|e| e.to_string())?.get(&EntryState::Delivered) == Some(&2),
        "the delivered entries stay listed",
    )
}

fn dead_letters_keep_their_group(outbox: &dyn Outbox) -> Result<(), String> {
    outbox.enqueue(&[entry("r", "g", finding("a", 0), 0)]).map_err(|e| e.to_string())?;
    let batch = claim(outbox, 30)?.pop().ok_or("claimed")?;
    settle(outbox, &batch, Outcome::Dead { error: "HTTP 404".into() }, 31)?;
    ensure(claim(outbox, 100_000)?.is_empty(), "a dead letter is not claimed")?;
    ensure(
        outbox.requeue_dead(None, at(100_000)).map_err(|e| e.to_string())? == 1,
        "it can be requeued much later",
    )?;
    let again = claim(outbox, 100_000)?.pop().ok_or("and is claimed again")?;
    ensure(ids(&again) == ["a"] && again.attempt == 1, "as new")?;
    ensure(again.group_labels == destination("r", "g").group_labels, "in its group")
}
