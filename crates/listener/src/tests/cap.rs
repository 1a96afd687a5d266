//! The connection cap: room is made by closing the longest-waiting connection, a newcomer
//! finds 503 when every connection is busy, and a burst over the cap is answered in full.

use super::*;

#[tokio::test]
async fn at_the_cap_the_longest_waiting_connection_makes_room() {
    // GIVEN a server capped at 3 connections, all stalled in their request heads
    let server = Server::start(Limits {
        max_connections: 3,
        header_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..quick()
    })
    .await;
    let mut stalled = server.stalled(3).await;
    // WHEN a new client asks THEN it is served
    assert!(server.get("/health").await.ends_with("ok"));
    // AND the connection that waited longest was closed to make room (long before its
    // header timeout)
    assert!(closed_by_server(&mut stalled[0]).await);
}

#[tokio::test]
async fn the_connection_over_the_cap_gets_503_when_all_are_busy() {
    // GIVEN a server capped at 3 connections, each busy with a request
    let (server, mut busy, release) = busy_at_a_cap_of_three().await;
    // WHEN a fourth client sends a request THEN it gets 503 overloaded
    let mut s = server.connect().await;
    let raw = exchange(&mut s, b"GET /work HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!(error_code(&raw, 503), "overloaded");
    assert!(raw.to_ascii_lowercase().contains("retry-after: 1"));
    // AND once the busy requests finish, the next client is served
    for s in &mut busy {
        release.notify_one();
        assert!(read_to_close(s).await.ends_with("done"));
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let raw = server.get("/health").await;
        if raw.ends_with("ok") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never served: {raw}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_burst_over_the_cap_is_answered_in_full_none_dropped_unanswered() {
    // GIVEN a server capped at 3 connections, each busy with a request
    let (server, busy, release) = busy_at_a_cap_of_three().await;
    // WHEN more clients than the listener handles over the cap at once (64) each send a
    // request, all before any reads its answer (so every refusal lingers)
    let mut burst = vec![];
    for _ in 0..100 {
        let mut s = server.connect().await;
        s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        burst.push(s);
    }
    // THEN every one of them gets 503 overloaded: the later ones waited in the backlog
    // instead of being closed without a word
    for s in &mut burst {
        let raw = read_to_close(s).await;
        assert_eq!(error_code(&raw, 503), "overloaded");
    }
    for _ in &busy {
        release.notify_one();
    }
}

/// A server capped at 3 connections, each busy with a request held until `release` is
/// notified (once per request).
async fn busy_at_a_cap_of_three() -> (Server, Vec<TcpStream>, Arc<tokio::sync::Notify>) {
    let (router, mut started, release) = gated();
    let server = Server::start_with(
        router,
        Limits {
            max_connections: 3,
            ..quick()
        },
    )
    .await;
    let mut busy = vec![];
    for _ in 0..3 {
        let mut s = server.connect().await;
        s.write_all(b"GET /work HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        started.recv().await.unwrap();
        busy.push(s);
    }
    (server, busy, release)
}
