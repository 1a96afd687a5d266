//! The database schema: its versions, applied in order by `PRAGMA user_version` when the
//! database is opened (db.rs).

use anyhow::Context;
use rusqlite::Connection;

/// Schema versions, applied in order; never edit a released step, append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: everything of the first release
    r#"
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL, plan TEXT NOT NULL,
        instance_limit INTEGER, token_limit INTEGER, created_at TEXT NOT NULL);
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), name TEXT,
        prefix TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
        last_used_at TEXT, revoked_at TEXT);
    CREATE INDEX api_keys_account ON api_keys(account_id, id);
    CREATE TABLE instances (
        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
        status TEXT NOT NULL, status_reason TEXT, image_tag TEXT NOT NULL, checkpoint_repo TEXT,
        env TEXT NOT NULL, config TEXT NOT NULL, fqdn TEXT, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL, deleted_at TEXT);
    CREATE UNIQUE INDEX instances_live_name ON instances(account_id, name) WHERE deleted_at IS NULL;
    CREATE INDEX instances_account ON instances(account_id, id);
    CREATE TABLE secrets (
        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT,
        is_global INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        UNIQUE (account_id, name));
    CREATE INDEX secrets_account ON secrets(account_id, id);
    CREATE TABLE secret_grants (
        secret_id TEXT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
        instance_id TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (secret_id, instance_id));
    CREATE TABLE automations (
        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, prompt TEXT NOT NULL,
        cron TEXT NOT NULL, timezone TEXT NOT NULL, enabled INTEGER NOT NULL, next_run_at TEXT,
        chat_id TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE INDEX automations_account ON automations(account_id, id);
    CREATE INDEX automations_due ON automations(next_run_at) WHERE enabled = 1;
    CREATE TABLE automation_runs (
        id TEXT PRIMARY KEY, automation_id TEXT NOT NULL REFERENCES automations(id) ON DELETE CASCADE,
        account_id TEXT NOT NULL, trigger TEXT NOT NULL, status TEXT NOT NULL,
        scheduled_for TEXT NOT NULL, started_at TEXT, finished_at TEXT, chat_id TEXT, error TEXT,
        created_at TEXT NOT NULL);
    CREATE UNIQUE INDEX automation_runs_slot ON automation_runs(automation_id, scheduled_for)
        WHERE trigger = 'schedule';
    CREATE INDEX automation_runs_list ON automation_runs(automation_id, id);
    CREATE INDEX automation_runs_account ON automation_runs(account_id, created_at);
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL,
        prompt_template TEXT NOT NULL, token TEXT NOT NULL UNIQUE, enabled INTEGER NOT NULL,
        chat_id TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE INDEX webhooks_account ON webhooks(account_id, id);
    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        account_id TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL, dedup_key TEXT,
        received_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, chat_id TEXT, error TEXT);
    CREATE UNIQUE INDEX deliveries_dedup ON deliveries(webhook_id, dedup_key) WHERE dedup_key IS NOT NULL;
    CREATE INDEX deliveries_list ON deliveries(webhook_id, id);
    CREATE INDEX deliveries_account ON deliveries(account_id, received_at);
    CREATE TABLE idempotency_keys (
        account_id TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
        status INTEGER, body BLOB, created_at TEXT NOT NULL,
        PRIMARY KEY (account_id, key));
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY, body TEXT NOT NULL, visible_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT, sent_at INTEGER NOT NULL);
    CREATE INDEX jobs_visible ON jobs(visible_at);
    CREATE TABLE dead_jobs (
        id TEXT PRIMARY KEY, body TEXT NOT NULL, receive_count INTEGER NOT NULL,
        dead_at INTEGER NOT NULL);
    CREATE TABLE vault_entries (
        account_id TEXT NOT NULL, secret_id TEXT NOT NULL, wrapped_key BLOB NOT NULL,
        ciphertext BLOB NOT NULL, PRIMARY KEY (account_id, secret_id));
    CREATE TABLE vault_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
    "#,
    // 2: instance runtime state, LLM metering, named job queues
    r#"
    ALTER TABLE instances ADD COLUMN endpoint TEXT;
    ALTER TABLE instances ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE instances ADD COLUMN active_since TEXT;
    ALTER TABLE instances ADD COLUMN active_seconds INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX instances_status ON instances(status) WHERE deleted_at IS NULL;
    CREATE TABLE llm_usage (
        id INTEGER PRIMARY KEY, account_id TEXT NOT NULL, instance_id TEXT NOT NULL,
        input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, weighted INTEGER NOT NULL,
        at TEXT NOT NULL);
    CREATE INDEX llm_usage_instance ON llm_usage(instance_id, at);
    CREATE INDEX llm_usage_account ON llm_usage(account_id, at);
    ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'agent';
    ALTER TABLE dead_jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'agent';
    DROP INDEX jobs_visible;
    CREATE INDEX jobs_visible ON jobs(queue, visible_at);
    "#,
    // 3: chats with the Operator agent
    r#"
    CREATE TABLE chats (
        account_id TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        lease_owner TEXT, lease_until TEXT,
        PRIMARY KEY (account_id, id));
    CREATE TABLE chat_messages (
        account_id TEXT NOT NULL, chat_id TEXT NOT NULL, id TEXT NOT NULL, role TEXT NOT NULL,
        parts TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (account_id, chat_id, id));
    CREATE TABLE chat_turns (
        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, chat_id TEXT NOT NULL, status TEXT NOT NULL,
        source TEXT NOT NULL, user_message_id TEXT NOT NULL, assistant_message_id TEXT NOT NULL,
        error TEXT, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT);
    CREATE INDEX chat_turns_chat ON chat_turns(account_id, chat_id, id);
    CREATE TABLE chat_events (
        account_id TEXT NOT NULL, chat_id TEXT NOT NULL, seq INTEGER NOT NULL,
        turn_id TEXT NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (account_id, chat_id, seq));
    "#,
    // 4: approved CLI logins waiting for their poll
    r#"
    CREATE TABLE cli_logins (
        session TEXT PRIMARY KEY, account_id TEXT NOT NULL,
        approved_at TEXT NOT NULL, expires_at TEXT NOT NULL);
    "#,
    // 5: experiments, their items, the lanes' claims and one result per (variant, item)
    r#"
    CREATE TABLE experiments (
        id TEXT PRIMARY KEY, account_id TEXT NOT NULL, doc TEXT NOT NULL,
        next_pair INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX experiments_account ON experiments(account_id, id);
    CREATE TABLE experiment_items (
        experiment_id TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        item_index INTEGER NOT NULL, doc TEXT NOT NULL,
        PRIMARY KEY (experiment_id, item_index));
    CREATE TABLE experiment_lanes (
        experiment_id TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        lane INTEGER NOT NULL, pair INTEGER NOT NULL,
        PRIMARY KEY (experiment_id, lane));
    CREATE TABLE experiment_results (
        experiment_id TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        pair INTEGER NOT NULL, sort_key TEXT NOT NULL, instance_id TEXT NOT NULL, doc TEXT NOT NULL,
        PRIMARY KEY (experiment_id, pair));
    CREATE INDEX experiment_results_list ON experiment_results(experiment_id, sort_key);
    "#,
    // 6: billing events, kept apart from what they count so that deleting an automation, a
    // webhook or an experiment does not take its usage out of the billing period (as on
    // DynamoDB). Runs, deliveries and turns write theirs by trigger, in their own statement;
    // an experiment's result writes its own in the result's transaction.
    r#"
    CREATE TABLE billing_events (
        account_id TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL,
        PRIMARY KEY (account_id, kind, ref));
    CREATE INDEX billing_events_period ON billing_events(account_id, at);
    INSERT OR IGNORE INTO billing_events SELECT account_id, created_at, 'run', id FROM automation_runs;
    INSERT OR IGNORE INTO billing_events SELECT account_id, received_at, 'delivery', id FROM deliveries;
    INSERT OR IGNORE INTO billing_events SELECT account_id, created_at, 'turn', id FROM chat_turns;
    INSERT OR IGNORE INTO billing_events
        SELECT e.account_id, strftime('%Y-%m-%dT%H:%M:%fZ', json_extract(r.doc, '$.created_at')), 'item', r.experiment_id || '/' || r.pair
        FROM experiment_results r JOIN experiments e ON e.id = r.experiment_id;
    CREATE TRIGGER bill_run AFTER INSERT ON automation_runs BEGIN
        INSERT OR IGNORE INTO billing_events VALUES (NEW.account_id, NEW.created_at, 'run', NEW.id);
    END;
    CREATE TRIGGER bill_delivery AFTER INSERT ON deliveries BEGIN
        INSERT OR IGNORE INTO billing_events VALUES (NEW.account_id, NEW.received_at, 'delivery', NEW.id);
    END;
    CREATE TRIGGER bill_turn AFTER INSERT ON chat_turns BEGIN
        INSERT OR IGNORE INTO billing_events VALUES (NEW.account_id, NEW.created_at, 'turn', NEW.id);
    END;
    "#,
    // 7: indexes for what a backlog made slow (found by scripts/bench.sh's webhook intake):
    // a receive takes the oldest visible job straight from the index (ordering by
    // (visible_at, id) on an index of (queue, visible_at) sorted every visible job each time);
    // an ack or a visibility change finds its job by receipt (each scanned the whole queue);
    // a keyed write's purge of expired idempotency records finds them by age.
    r#"
    DROP INDEX jobs_visible;
    CREATE INDEX jobs_visible ON jobs(queue, visible_at, id);
    CREATE INDEX jobs_receipt ON jobs(receipt) WHERE receipt IS NOT NULL;
    CREATE INDEX idempotency_age ON idempotency_keys(created_at);
    "#,
    // 8: deleted instances stay (soft delete) and pile up; listing the live ones read every
    // deleted row of the account too (found by scripts/bench.sh: 31 rows read for 10 shown).
    r#"
    CREATE INDEX instances_live ON instances(account_id, id) WHERE deleted_at IS NULL;
    "#,
    // 9: a chat's next open turn read every finished turn before it; a webhook's or an
    // automation's chat gains one per delivery or fire, so each turn cost more than the last.
    r#"
    CREATE INDEX chat_turns_open ON chat_turns(account_id, chat_id, id)
        WHERE status IN ('queued', 'running');
    "#,
];

pub(crate) fn migrate(conn: &Connection) -> anyhow::Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    anyhow::ensure!(
        version <= MIGRATIONS.len(),
        "the database schema (version {version}) is newer than this build understands ({}); upgrade operator",
        MIGRATIONS.len()
    );
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(step)
            .with_context(|| format!("migration {}", i + 1))?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}
