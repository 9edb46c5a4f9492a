//! The schema and its migrations (`PRAGMA user_version`), and the SQL views generated from the
//! catalog.

use jumpwatch_model::ResourceKind;
use rusqlite::Connection;

use crate::Error;

/// The migrations, in order; the schema version is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: polls, snapshots, resources with their versions, change events, held deletions.
    "
    CREATE TABLE polls (
        poll_id     TEXT PRIMARY KEY,
        tenant      TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        complete    INTEGER NOT NULL,
        reports     TEXT NOT NULL
    );
    CREATE INDEX polls_by_tenant ON polls (tenant, finished_at);

    CREATE TABLE snapshot_kinds (
        tenant     TEXT NOT NULL,
        kind       TEXT NOT NULL,
        first_poll TEXT NOT NULL,
        PRIMARY KEY (tenant, kind)
    );

    CREATE TABLE resources (
        tenant     TEXT NOT NULL,
        kind       TEXT NOT NULL,
        id         TEXT NOT NULL,
        parent_id  TEXT,
        name       TEXT,
        doc        TEXT NOT NULL,
        hash       TEXT NOT NULL,
        version    INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen  TEXT NOT NULL,
        deleted_at TEXT,
        PRIMARY KEY (tenant, kind, id)
    );

    CREATE TABLE resource_versions (
        tenant     TEXT NOT NULL,
        kind       TEXT NOT NULL,
        id         TEXT NOT NULL,
        version    INTEGER NOT NULL,
        parent_id  TEXT,
        name       TEXT,
        doc        TEXT NOT NULL,
        hash       TEXT NOT NULL,
        valid_from TEXT NOT NULL,
        valid_to   TEXT,
        PRIMARY KEY (tenant, kind, id, version)
    );
    CREATE INDEX versions_by_time ON resource_versions (kind, valid_from, valid_to);

    CREATE TABLE change_events (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id    TEXT NOT NULL UNIQUE,
        poll_id     TEXT NOT NULL,
        tenant      TEXT NOT NULL,
        kind        TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        parent_id   TEXT,
        name        TEXT,
        op          TEXT NOT NULL,
        observed_at TEXT NOT NULL,
        changes     TEXT NOT NULL,
        before      TEXT,
        after       TEXT,
        actor       TEXT
    );
    CREATE INDEX events_by_resource ON change_events (tenant, kind, resource_id, seq);
    CREATE INDEX events_by_time ON change_events (observed_at);

    CREATE TABLE held_deletions (
        tenant TEXT NOT NULL,
        kind   TEXT NOT NULL,
        id     TEXT NOT NULL,
        PRIMARY KEY (tenant, kind, id)
    );
    ",
    // 2: a hash of the stored document itself, so unchanged documents are not rewritten; and
    // when each kind was last listed completely (a resource not deleted was seen then).
    "ALTER TABLE resources ADD COLUMN doc_hash TEXT;
     ALTER TABLE snapshot_kinds ADD COLUMN last_complete TEXT;",
    // 3: the rules' findings, their moves between states, and suppressions.
    "
    CREATE TABLE findings (
        fingerprint TEXT PRIMARY KEY,
        tenant      TEXT NOT NULL,
        rule        TEXT NOT NULL,
        rule_type   TEXT NOT NULL,
        severity    TEXT NOT NULL,
        kind        TEXT,
        resource_id TEXT NOT NULL,
        name        TEXT,
        state       TEXT NOT NULL,
        message     TEXT,
        evidence    TEXT NOT NULL,
        first_seen  TEXT NOT NULL,
        last_seen   TEXT NOT NULL,
        resolved_at TEXT,
        reopened    INTEGER NOT NULL,
        suppression TEXT
    );
    CREATE INDEX findings_by_state ON findings (tenant, state);

    CREATE TABLE finding_transitions (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint TEXT NOT NULL,
        tenant      TEXT NOT NULL,
        from_state  TEXT,
        to_state    TEXT NOT NULL,
        reason      TEXT NOT NULL,
        at          TEXT NOT NULL
    );
    CREATE INDEX transitions_by_finding ON finding_transitions (fingerprint, seq);

    CREATE TABLE suppressions (
        id       TEXT PRIMARY KEY,
        tenant   TEXT,
        rule     TEXT NOT NULL,
        resource TEXT,
        reason   TEXT NOT NULL,
        owner    TEXT NOT NULL,
        expires  TEXT NOT NULL,
        created  TEXT NOT NULL
    );
    ",
    // 4: the notifier's outbox (one row an alert and receiver), its groups, its receivers'
    // circuit breakers and silences; and the `notifications` view of the queue.
    "
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        receiver        TEXT NOT NULL,
        group_key       TEXT NOT NULL,
        dedup_key       TEXT NOT NULL,
        fingerprint     TEXT NOT NULL,
        status          TEXT NOT NULL,
        alert           TEXT NOT NULL,
        state           TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        not_before      TEXT NOT NULL,
        attempts        INTEGER NOT NULL,
        notification_id TEXT,
        last_error      TEXT,
        settled_at      TEXT,
        UNIQUE (receiver, dedup_key)
    );
    CREATE INDEX outbox_by_group ON outbox (state, receiver, group_key);
    CREATE INDEX outbox_by_notification ON outbox (notification_id);
    CREATE INDEX outbox_by_settled ON outbox (settled_at) WHERE settled_at IS NOT NULL;

    CREATE TABLE notify_groups (
        receiver           TEXT NOT NULL,
        group_key          TEXT NOT NULL,
        labels             TEXT NOT NULL,
        group_wait_ms      INTEGER NOT NULL,
        group_interval_ms  INTEGER NOT NULL,
        repeat_interval_ms INTEGER NOT NULL,
        last_sent_at       TEXT,
        firing             TEXT NOT NULL,
        lease_until        TEXT,
        current_id         TEXT,
        current_at         TEXT,
        current_attempts   INTEGER,
        PRIMARY KEY (receiver, group_key)
    );

    CREATE TABLE notify_receivers (
        receiver             TEXT PRIMARY KEY,
        consecutive_failures INTEGER NOT NULL,
        open_until           TEXT,
        disabled             TEXT
    );

    CREATE TABLE notify_silences (
        id        TEXT PRIMARY KEY,
        matchers  TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        ends_at   TEXT NOT NULL,
        author    TEXT NOT NULL,
        comment   TEXT NOT NULL
    );

    CREATE VIEW notifications AS
    SELECT id, receiver, group_key, state, status, fingerprint,
           json_extract(alert, '$.title') AS title, json_extract(alert, '$.severity') AS severity,
           created_at, settled_at, attempts, last_error
    FROM outbox;
    ",
    // 5: Directory Insights: the audit events (raw, with the common fields indexed), each
    // tenant's cursor and the gaps that could not be read; and each change's attribution.
    "
    CREATE TABLE audit_events (
        tenant          TEXT NOT NULL,
        id              TEXT NOT NULL,
        timestamp       TEXT,
        event_type      TEXT,
        service         TEXT,
        initiator_id    TEXT,
        initiator_type  TEXT,
        initiator_email TEXT,
        resource_type   TEXT,
        resource_id     TEXT,
        resource_name   TEXT,
        success         INTEGER,
        client_ip       TEXT,
        raw             TEXT NOT NULL,
        poll_id         TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE INDEX audit_events_by_time ON audit_events (tenant, timestamp);
    CREATE INDEX audit_events_by_type ON audit_events (event_type, timestamp);
    CREATE INDEX audit_events_by_initiator ON audit_events (initiator_email, timestamp);
    CREATE INDEX audit_events_by_resource ON audit_events (resource_id);
    CREATE TABLE event_cursors (
        tenant     TEXT PRIMARY KEY,
        read_until TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE event_gaps (
        tenant     TEXT NOT NULL,
        from_at    TEXT NOT NULL,
        to_at      TEXT NOT NULL,
        noticed_at TEXT NOT NULL
    );
    ALTER TABLE change_events ADD COLUMN attribution TEXT;
    CREATE VIEW events AS
    SELECT tenant, id, timestamp, event_type, service, initiator_type, initiator_id,
           initiator_email, resource_type, resource_id, resource_name, success, client_ip, raw
    FROM audit_events;
    ",
    // 6: the start of a finding's current episode (a reopened finding is notified again).
    "
    ALTER TABLE findings ADD COLUMN opened_at TEXT;
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies the migrations a database lacks; refuses one written by a newer Jumpwatch.
pub(crate) fn migrate(db: &mut Connection) -> Result<(), Error> {
    // The version is read under the write lock: two processes opening one new database migrate
    // it once.
    let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::NewerSchema { found: version, supported: SCHEMA_VERSION });
    }
    let pending = usize::try_from(version).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(pending) {
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// The source relation of the current views: resources not deleted.
pub(crate) const CURRENT: &str =
    "(SELECT tenant, kind, id, parent_id, name, doc FROM resources WHERE deleted_at IS NULL)";

/// The source relation of the views as they were at `at` (an RFC 3339 text in UTC).
pub(crate) fn as_of_source(at: &str) -> String {
    let at = at.replace('\'', "''");
    format!(
        "(SELECT tenant, kind, id, parent_id, name, doc FROM resource_versions \
         WHERE valid_from <= '{at}' AND (valid_to IS NULL OR valid_to > '{at}'))"
    )
}

/// The name of a kind's change view: `user_changes`.
#[must_use]
pub fn changes_view(kind: ResourceKind) -> String {
    format!("{}_changes", kind.name())
}

/// The kinds' views, as `CREATE [TEMP] VIEW` statements over `source`.
pub(crate) fn kind_views(source: &str, temp: bool) -> String {
    // Temporary views shadow the stored ones on one connection; never drop the stored ones.
    let (create, schema) =
        if temp { ("CREATE TEMP VIEW", "temp.") } else { ("CREATE VIEW", "main.") };
    let mut sql = String::new();
    for kind in ResourceKind::ALL {
        let view = kind.meta().view;
        sql.push_str(&format!(
            "DROP VIEW IF EXISTS {schema}{};\n{create} {} AS {};\n",
            view.name,
            view.name,
            view.select_from(source)
        ));
    }
    sql
}

/// The change views: `changes` (one row an event), `field_changes` (one row a field change) and
/// one `<kind>_changes` a kind.
pub(crate) fn change_views() -> String {
    let create = "CREATE VIEW";
    let mut sql = String::new();
    sql.push_str(&format!(
        "DROP VIEW IF EXISTS changes;
        {create} changes AS
        SELECT e.seq, e.event_id, e.tenant, e.kind, e.resource_id, e.parent_id, e.name, e.op, e.observed_at,
               json_array_length(e.changes) AS field_count,
               (SELECT group_concat(json_extract(c.value, '$.path'), ', ') FROM json_each(e.changes) AS c) AS fields,
               json_extract(e.actor, '$.email') AS actor_email, json_extract(e.actor, '$.type') AS actor_type,
               json_extract(e.actor, '$.ip') AS actor_ip,
               coalesce(json_extract(e.attribution, '$.status'), 'unknown') AS attribution,
               json_extract(e.attribution, '$.events') AS audit_events, e.poll_id
        FROM change_events AS e;
        DROP VIEW IF EXISTS field_changes;
        {create} field_changes AS
        SELECT e.seq, e.tenant, e.kind, e.resource_id, e.name, e.op, e.observed_at,
               json_extract(c.value, '$.path') AS path, json_extract(c.value, '$.op') AS field_op,
               json_extract(c.value, '$.before') AS before, json_extract(c.value, '$.after') AS after,
               json_extract(e.actor, '$.email') AS actor_email,
               coalesce(json_extract(e.attribution, '$.status'), 'unknown') AS attribution
        FROM change_events AS e LEFT JOIN json_each(e.changes) AS c;
        "
    ));
    for kind in ResourceKind::ALL {
        let name = changes_view(*kind);
        sql.push_str(&format!(
            "DROP VIEW IF EXISTS {name};\n{create} {name} AS SELECT * FROM field_changes WHERE kind = '{}';\n",
            kind.name()
        ));
    }
    sql
}
