//! kill -9 during mixed load, round after round on one data directory. Each round starts the
//! server, gives a fresh account webhooks and chats, then runs clients side by side — creates
//! (secrets, webhooks, automations, each with an `Idempotency-Key`), webhook triggers (each
//! with its own `Idempotency-Key`) and chat turns against the fake model — and kills the
//! server with SIGKILL at a random moment once every kind of write has been acknowledged.
//! The database must then pass `PRAGMA integrity_check`; the next start must show every
//! acknowledged effect exactly once, after clients retried what they never heard back about.

mod load;
mod verify;

pub use verify::list_all;

use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::*;
use load::{Log, RoundSetup};
use rand::Rng;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the model answers every turn (streamed word by word).
pub const ANSWER: &str = "Handled it, all done.";

/// Acknowledged writes of each kind a round needs before the kill may come.
pub const MIN_CREATES: usize = 20;
pub const MIN_TRIGGERS: usize = 10;
pub const MIN_CHAT_TURNS: usize = 3;

/// The server as every round starts it: model at the fake, no rate limits in the way.
fn options<'a>(dir: &'a std::path::Path, admin: &str, llm: &FakeLlm) -> Options<'a> {
    let mut env = llm.openai_env();
    env.push(("OPERATOR_RATE_LIMIT_PER_KEY", "off".into()));
    env.push(("OPERATOR_RATE_LIMIT_PER_WEBHOOK", "off".into()));
    Options {
        data_dir: Some(dir),
        key: Some(admin.to_owned()),
        env,
    }
}

/// `PRAGMA integrity_check` on the database of a stopped server (the open replays its WAL,
/// as the server's next start would).
pub fn integrity_check(data_dir: &std::path::Path) -> String {
    let db = rusqlite::Connection::open(data_dir.join("operator.db")).expect("open the database");
    let rows: Vec<String> = db
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("run integrity_check");
    rows.join("; ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "soak: scripts/soak.sh, or the soak step of scripts/test.sh"]
async fn kill_9_under_mixed_load_loses_and_duplicates_nothing() {
    let rounds = crate::rounds();
    // GIVEN one data directory kept across rounds and a model that answers every turn,
    // streaming its answer in a few pieces
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, _cleanup) = match std::env::var_os("SOAK_KEEP_DATA") {
        // For a look after a failure: the data directory (and its server.log) stays.
        Some(_) => (tmp.keep(), None),
        None => (tmp.path().to_owned(), Some(tmp)),
    };
    println!("data directory: {}", dir.display());
    let admin = random_key();
    let llm = FakeLlm::start(vec![]).await;
    llm.set_fallback(Reply::SlowText(ANSWER.into(), 3));
    let mut done: Vec<(RoundSetup, Arc<Log>)> = vec![];
    let started = Instant::now();
    for round in 1..=rounds {
        let app = App::spawn_with(options(&dir, &admin, &llm)).await;
        // THEN (for the round before) the restart shows every acknowledged effect once
        if let Some((setup, log)) = done.last() {
            let counts = verify::round(&app, setup, log).await;
            println!("round {}/{rounds}: {counts}", setup.round);
        }
        // WHEN a fresh account's clients load the server and it is killed mid-load
        let setup = load::setup(&app, round).await;
        let log = Arc::new(Log::default());
        let clients = load::start(&app, &setup, &log);
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(120);
        while !log.enough() {
            assert!(
                Instant::now() < deadline,
                "round {round}: the load never reached the minimum before the kill: {}\n{}",
                log.summary(),
                tail(&app.server_log(), 40)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let extra = rand::thread_rng().gen_range(0..2000);
        tokio::time::sleep(Duration::from_millis(extra)).await;
        let at_kill = log.summary();
        operator_local::signal::send_signal(app.pid(), operator_local::signal::Signal::Kill)
            .expect("SIGKILL the server");
        let killed_after = t0.elapsed();
        for c in clients {
            tokio::time::timeout(Duration::from_secs(60), c)
                .await
                .expect("every client ends once the server is gone")
                .expect("a client failed");
        }
        drop(app.kill9());
        // THEN the kill landed in the middle of requests, after the minimum was acknowledged
        assert!(
            log.cut.load(Ordering::SeqCst) >= 1,
            "round {round}: no request was in flight at the kill: {}",
            log.summary()
        );
        // AND the database is sound
        assert_eq!(integrity_check(&dir), "ok", "round {round}");
        log.note_kill(killed_after, at_kill);
        done.push((setup, log));
    }
    // THEN the last round checks out after one more start, and every round's acknowledged
    // creates are still there once, after all the kills that followed them
    let app = App::spawn_with(options(&dir, &admin, &llm)).await;
    if let Some((setup, log)) = done.last() {
        let counts = verify::round(&app, setup, log).await;
        println!("round {}/{rounds}: {counts}", setup.round);
    }
    let mut creates = 0;
    for (setup, log) in &done {
        creates += verify::creates_still_there(&app, setup, log).await;
    }
    drop(app);
    assert_eq!(integrity_check(&dir), "ok", "after the last round");
    println!(
        "{rounds} rounds in {:.1} s: {creates} acknowledged creates of every round present once at the end; model requests served: {}",
        started.elapsed().as_secs_f64(),
        llm.request_count()
    );
}
