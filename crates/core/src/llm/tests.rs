//! Provider streams against a raw TCP fake that controls every byte and every write: a
//! character split across two reads, CRLF line endings, streams cut before their end
//! marker, a 429 with `Retry-After`, and a provider that falls silent.

use super::*;
use futures::StreamExt;
use serde_json::json;
use std::sync::Mutex;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One scripted answer: the bytes of the HTTP response, written as separate TCP writes
/// (with a short pause between them so the client reads them apart). An empty write means
/// silence from there on, with the connection left open.
type Answer = Vec<Vec<u8>>;

struct RawFake {
    base: String,
    /// When each request arrived, with its body.
    requests: Arc<Mutex<Vec<(Instant, String)>>>,
}

async fn raw_fake(answers: Vec<Answer>) -> RawFake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(vec![]));
    let log = requests.clone();
    tokio::spawn(async move {
        for answer in answers {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            sock.set_nodelay(true).unwrap();
            let body = read_request(&mut sock).await;
            log.lock().unwrap().push((Instant::now(), body));
            for (i, part) in answer.iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
                if part.is_empty() {
                    std::future::pending::<()>().await;
                }
                sock.write_all(part).await.unwrap();
                sock.flush().await.unwrap();
            }
            let _ = sock.shutdown().await;
        }
    });
    RawFake { base, requests }
}

/// Reads one HTTP/1.1 request (headers and a Content-Length body); returns the body.
async fn read_request(sock: &mut tokio::net::TcpStream) -> String {
    let mut buf = vec![];
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the client closed before sending a request");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the client closed mid-body");
            buf.extend_from_slice(&chunk[..n]);
        }
        return String::from_utf8_lossy(&buf[end + 4..]).into_owned();
    }
}

/// A streamed 200 whose body ends when the connection closes.
fn sse_head() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n".to_vec()
}

/// `body` as TCP writes, cut inside the first occurrence of `at` (a multi-byte character):
/// after its first byte.
fn split_inside(body: &str, at: char) -> Answer {
    let pos = body.find(at).expect("the character is in the body") + 1;
    assert!(!body.is_char_boundary(pos), "the cut must fall inside {at}");
    let bytes = body.as_bytes();
    vec![sse_head(), bytes[..pos].to_vec(), bytes[pos..].to_vec()]
}

fn config(provider: LlmProvider, base_url: String) -> LlmConfig {
    LlmConfig {
        provider,
        base_url,
        api_key: Some(secrecy::SecretString::from("sk-test".to_owned())),
        model: "m".into(),
        context: ContextBudget::default(),
        idle_timeout: SILENCE,
    }
}

/// The providers' idle timeout in these tests.
const SILENCE: Duration = Duration::from_millis(300);

fn request() -> ModelRequest {
    ModelRequest {
        model: "m".into(),
        system: "s".into(),
        messages: vec![Message::User("hi".into())],
        tools: Default::default(),
        max_tokens: 16,
    }
}

/// Runs the stream to its end: the text, whether `Done` came, and the first error.
fn openai_at(base: &str) -> openai::OpenAi {
    openai::OpenAi::new(
        &config(LlmProvider::OpenAi, base.to_owned()),
        reqwest::Client::new(),
    )
}

fn anthropic_at(base: &str) -> anthropic::Anthropic {
    anthropic::Anthropic::new(
        &config(LlmProvider::Anthropic, base.to_owned()),
        reqwest::Client::new(),
    )
}

/// The provider streams the whole of `TEXT` and ends with its end marker.
async fn assert_whole_reply(p: &dyn ModelProvider) {
    let (text, done, err) = drain(p.stream(&request()).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text, TEXT);
    assert!(done);
}

async fn drain(mut s: EventStream) -> (String, bool, Option<ProviderError>) {
    let (mut text, mut done) = (String::new(), false);
    while let Some(ev) = s.next().await {
        match ev {
            Ok(ModelEvent::TextDelta(d)) => text.push_str(&d),
            Ok(ModelEvent::Done) => done = true,
            Ok(_) => {}
            Err(e) => return (text, done, Some(e)),
        }
    }
    (text, done, None)
}

const TEXT: &str = "Grüße aus 日本 👍";

fn openai_frames(eol: &str) -> String {
    let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
        json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).to_string()
    };
    let mut body = String::new();
    for piece in [
        chunk(json!({"role": "assistant", "content": ""}), json!(null)),
        chunk(json!({"content": "Grüße aus "}), json!(null)),
        chunk(json!({"content": "日本 👍"}), json!(null)),
        chunk(json!({}), json!("stop")),
        json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}).to_string(),
        "[DONE]".to_owned(),
    ] {
        body.push_str(&format!("data: {piece}{eol}{eol}"));
    }
    body
}

fn anthropic_frames(eol: &str, with_stop: bool) -> String {
    let mut frames = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Grüße aus "}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "日本 👍"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "usage": {"output_tokens": 4}}),
        ),
    ];
    if with_stop {
        frames.push(("message_stop", json!({"type": "message_stop"})));
    }
    frames
        .into_iter()
        .map(|(name, data)| format!("event: {name}{eol}data: {data}{eol}{eol}"))
        .collect()
}

#[tokio::test]
async fn openai_text_survives_a_character_split_across_reads_and_crlf_endings() {
    // GIVEN a provider that ends lines with CRLF and splits "日" across two TCP writes
    let fake = raw_fake(vec![split_inside(&openai_frames("\r\n"), '日')]).await;
    let p = openai_at(&fake.base);
    // WHEN the reply is streamed
    // THEN every character arrives intact and the reply ends normally
    assert_whole_reply(&p).await;
}

#[tokio::test]
async fn a_crlf_split_between_its_cr_and_lf_is_one_line_ending() {
    // GIVEN CRLF frames cut after the CR of every event's first line ending
    let body = openai_frames("\r\n");
    let mut answer = vec![sse_head()];
    let mut rest = body.as_str();
    while let Some(i) = rest.find("\r\n") {
        answer.push(rest.as_bytes()[..i + 1].to_vec());
        rest = &rest[i + 1..];
        let Some(j) = rest.find("\r\n\r\n") else {
            break;
        };
        answer.push(rest.as_bytes()[..j + 4].to_vec());
        rest = &rest[j + 4..];
    }
    answer.push(rest.as_bytes().to_vec());
    let fake = raw_fake(vec![answer]).await;
    let p = openai_at(&fake.base);
    // WHEN streamed THEN no event is split or lost
    assert_whole_reply(&p).await;
}

#[tokio::test]
async fn anthropic_text_survives_a_character_split_across_reads_and_crlf_endings() {
    // GIVEN an Anthropic stream with CRLF endings, cut inside "👍"
    let fake = raw_fake(vec![split_inside(&anthropic_frames("\r\n", true), '👍')]).await;
    let p = anthropic_at(&fake.base);
    // WHEN it is streamed THEN the text is whole and the reply ends normally
    assert_whole_reply(&p).await;
}

#[tokio::test]
async fn a_provider_that_sends_nothing_fails_the_call_after_the_idle_timeout() {
    for anthropic in [false, true] {
        // GIVEN a provider that reads the request and never answers
        let fake = raw_fake(vec![vec![vec![]]]).await;
        let p: Box<dyn ModelProvider> = if anthropic {
            Box::new(anthropic_at(&fake.base))
        } else {
            Box::new(openai_at(&fake.base))
        };
        // WHEN called THEN the call fails once the idle timeout passed, as retryable
        let got = tokio::time::timeout(Duration::from_secs(10), p.stream(&request()))
            .await
            .expect("the idle timeout bounds the wait");
        match got {
            Err(ProviderError::Retryable(m)) => assert!(m.contains("sent nothing"), "{m}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a silent provider answered"),
        }
    }
}

#[tokio::test]
async fn a_stream_that_falls_silent_midway_ends_in_an_error() {
    for anthropic in [false, true] {
        // GIVEN a provider that streams the first part of its reply, then nothing more
        let body = if anthropic {
            anthropic_frames("\n", true)
        } else {
            openai_frames("\n")
        };
        let cut = body.find("日本").unwrap();
        let fake = raw_fake(vec![vec![
            sse_head(),
            body.as_bytes()[..cut].to_vec(),
            vec![],
        ]])
        .await;
        let p: Box<dyn ModelProvider> = if anthropic {
            Box::new(anthropic_at(&fake.base))
        } else {
            Box::new(openai_at(&fake.base))
        };
        // WHEN streamed THEN what came arrives, then an error instead of waiting for good
        let stream = p.stream(&request()).await.expect("the answer starts");
        let (text, done, err) = tokio::time::timeout(Duration::from_secs(10), drain(stream))
            .await
            .expect("the idle timeout bounds the wait");
        assert_eq!(text, "Grüße aus ");
        assert!(!done);
        let err = err.expect("an error ends the stream").to_string();
        assert!(err.contains("sent nothing"), "{err}");
    }
}

#[tokio::test]
async fn a_stream_cut_before_its_end_marker_is_an_error_not_an_empty_success() {
    // GIVEN an OpenAI stream that stops after its first delta (no finish_reason, no [DONE])
    // and an Anthropic stream that stops before message_stop
    let cut_openai = {
        let full = openai_frames("\n");
        let first_delta_end = full.find("Grüße aus ").unwrap();
        let end = first_delta_end + full[first_delta_end..].find("\n\n").unwrap() + 2;
        full[..end].to_owned()
    };
    let fake = raw_fake(vec![
        vec![sse_head(), cut_openai.into_bytes()],
        vec![sse_head(), anthropic_frames("\n", false).into_bytes()],
    ])
    .await;
    // WHEN each is streamed
    let openai = openai_at(&fake.base);
    let (text, done, err) = drain(openai.stream(&request()).await.unwrap()).await;
    // THEN the caller gets the text so far and an error naming the missing end, never `Done`
    assert_eq!(text, "Grüße aus ");
    assert!(!done);
    assert!(
        err.is_some_and(|e| e.to_string().contains("end marker")),
        "openai"
    );
    let anthropic = anthropic_at(&fake.base);
    let (text, done, err) = drain(anthropic.stream(&request()).await.unwrap()).await;
    assert_eq!(text, TEXT);
    assert!(!done);
    assert!(
        err.is_some_and(|e| e.to_string().contains("message_stop")),
        "anthropic"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_that_wait() {
    // GIVEN a provider that answers 429 with `Retry-After: 2`, then streams a reply
    let too_many = b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 2\r\ncontent-length: 46\r\nconnection: close\r\n\r\n{\"error\":{\"message\":\"rate limited, slow down\"}}".to_vec();
    let fake = raw_fake(vec![
        vec![too_many],
        vec![sse_head(), openai_frames("\n").into_bytes()],
    ])
    .await;
    let provider = from_config(
        &config(LlmProvider::OpenAi, fake.base.clone()),
        reqwest::Client::new(),
    );
    // WHEN a reply is asked for
    // THEN it arrives from the second call, which came no sooner than Retry-After allowed
    assert_whole_reply(provider.as_ref()).await;
    let reqs = fake.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2);
    let waited = reqs[1].0 - reqs[0].0;
    assert!(
        waited >= Duration::from_secs(2),
        "retried after {waited:?}, before the provider's Retry-After"
    );
}

#[test]
fn the_retry_delay_honours_retry_after_up_to_the_cap_and_backs_off_with_jitter() {
    let p = RetryPolicy {
        attempts: 5,
        base: Duration::from_millis(500),
        max_delay: Duration::from_secs(30),
    };
    // Retry-After wins over a shorter backoff, whatever the jitter
    for jitter in [0.0, 0.5, 0.999] {
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2)), jitter),
            Duration::from_secs(2)
        );
    }
    // ... but never beyond the cap
    assert_eq!(
        p.delay(1, Some(Duration::from_secs(3600)), 0.3),
        Duration::from_secs(30)
    );
    // Without it: exponential steps, each between half and all of 0.5 s x 2^(n-1)
    for retry in 1..=4u32 {
        let step = Duration::from_millis(500) * 2u32.pow(retry - 1);
        assert_eq!(p.delay(retry, None, 0.0), step / 2);
        let high = p.delay(retry, None, 0.999);
        assert!(high > step / 2 && high <= step, "retry {retry}: {high:?}");
    }
    // ... capped too, however many retries
    let late = p.delay(40, None, 0.999);
    assert!(
        late > Duration::from_secs(15) && late <= Duration::from_secs(30),
        "{late:?}"
    );
    // A shorter Retry-After than the backoff does not shorten the backoff
    assert_eq!(
        p.delay(3, Some(Duration::ZERO), 0.0),
        Duration::from_millis(1000)
    );
}

#[test]
fn retry_after_reads_seconds_milliseconds_and_dates() {
    let mut h = reqwest::header::HeaderMap::new();
    assert_eq!(retry_after(&h), None);
    h.insert("retry-after", "2".parse().unwrap());
    assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    h.insert("retry-after-ms", "1500".parse().unwrap());
    assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
    let mut h = reqwest::header::HeaderMap::new();
    let at = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc2822();
    h.insert("retry-after", at.parse().unwrap());
    let d = retry_after(&h).unwrap();
    assert!(
        d > Duration::from_secs(55) && d <= Duration::from_secs(60),
        "{d:?}"
    );
    h.insert("retry-after", "soon".parse().unwrap());
    assert_eq!(retry_after(&h), None);
    // Absurd values are no wait at all (and never a panic); a huge one is a long wait
    for bad in ["-1", "NaN", "inf", "1e400"] {
        h.insert("retry-after", bad.parse().unwrap());
        assert_eq!(retry_after(&h), None, "{bad}");
    }
    h.insert("retry-after", "1e30".parse().unwrap());
    assert!(retry_after(&h).is_some_and(|d| d > Duration::from_secs(3600)));
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("retry-after-ms", "1e30".parse().unwrap());
    assert!(retry_after(&h).is_some());
}

/// Always asks the caller to wait `wait`.
struct Throttling {
    wait: Duration,
    calls: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl ModelProvider for Throttling {
    async fn stream(&self, _req: &ModelRequest) -> Result<EventStream, ProviderError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(ProviderError::Throttled {
            message: "slow down".into(),
            retry_after: self.wait,
        })
    }
}

#[tokio::test]
async fn a_retry_after_beyond_the_longest_wait_is_not_retried_early() {
    // GIVEN a provider that asks for a minute
    let inner = Arc::new(Throttling {
        wait: Duration::from_secs(60),
        calls: Default::default(),
    });
    let retrying = Retrying::new(inner.clone(), RetryPolicy::DEFAULT);
    let req = ModelRequest {
        model: "m".into(),
        system: String::new(),
        messages: vec![],
        tools: Default::default(),
        max_tokens: 1,
    };
    // WHEN called THEN it fails at once with the provider's answer instead of retrying after
    // 30 s (which the provider would refuse again)
    let got = tokio::time::timeout(Duration::from_secs(5), retrying.stream(&req))
        .await
        .expect("no wait");
    assert!(matches!(got, Err(ProviderError::Throttled { .. })));
    assert_eq!(inner.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn each_provider_gets_the_tools_in_its_wire_form_and_none_when_there_are_none() {
    // GIVEN a request offering one tool, shared by two requests
    let tools = Tools::new(vec![ToolSpec {
        name: "create_instance".into(),
        description: "Create an instance".into(),
        schema: json!({"type": "object", "required": ["name"]}),
    }]);
    let req = ModelRequest {
        tools: tools.clone(),
        ..request()
    };
    let again = ModelRequest { tools, ..request() };
    // WHEN each provider writes the body THEN the tool is in that provider's shape
    let openai = serde_json::to_value(openai::body(&req)).unwrap();
    assert_eq!(
        openai["tools"],
        json!([{"type": "function", "function": {"name": "create_instance",
            "description": "Create an instance", "parameters": {"type": "object", "required": ["name"]}}}])
    );
    assert_eq!(openai["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        openai["messages"][0],
        json!({"role": "system", "content": "s"})
    );
    let anthropic = serde_json::to_value(anthropic::body(&req)).unwrap();
    assert_eq!(
        anthropic["tools"],
        json!([{"name": "create_instance", "description": "Create an instance",
            "input_schema": {"type": "object", "required": ["name"]}}])
    );
    assert_eq!(anthropic["system"], "s");
    // AND the second request sharing the tools writes the same
    assert_eq!(serde_json::to_value(openai::body(&again)).unwrap(), openai);
    // AND a request without tools has no `tools` key at all
    for body in [
        serde_json::to_value(openai::body(&request())).unwrap(),
        serde_json::to_value(anthropic::body(&request())).unwrap(),
    ] {
        assert!(body.get("tools").is_none(), "{body}");
    }
}

/// The body as separate reads, cut at `cuts` (byte offsets).
fn reads(body: &[u8], cuts: &[usize]) -> EventStream {
    let mut pieces = vec![];
    let mut at = 0;
    for &cut in cuts.iter().chain([&body.len()]) {
        pieces.push(Ok(bytes::Bytes::copy_from_slice(&body[at..cut])));
        at = cut;
    }
    openai::decode(futures::stream::iter(pieces), Duration::from_secs(60))
}

#[tokio::test]
async fn a_byte_order_mark_is_skipped_even_split_across_reads() {
    // Found by the provider_stream fuzz target: eventsource-stream panicked on a stream
    // starting with U+FEFF (three bytes, sliced as one).
    // GIVEN a reply that starts with the mark, cut inside it and anywhere else
    let body = format!("\u{feff}{}", openai_frames("\n"));
    for cuts in [vec![], vec![1], vec![2], vec![1, 2, 3], vec![3, 10]] {
        // WHEN it is decoded THEN the whole reply arrives
        let (text, done, err) = drain(reads(body.as_bytes(), &cuts)).await;
        assert!(err.is_none(), "{cuts:?}: {err:?}");
        assert_eq!((text.as_str(), done), (TEXT, true), "{cuts:?}");
    }
    // AND a second mark is the first field's name, as the standard says: that event is
    // ignored, the rest arrives
    let body = format!("\u{feff}\u{feff}{}", openai_frames("\n"));
    let (text, done, _) = drain(reads(body.as_bytes(), &[4])).await;
    assert_eq!((text.as_str(), done), (TEXT, true));
    // AND a stream that is only part of a mark ends as a cut stream, not a panic
    let (_, done, err) = drain(reads(b"\xEF\xBB", &[1])).await;
    assert!(!done && err.is_some());
}

/// The body as separate reads, cut at `cuts`, through the Anthropic decoder.
fn anthropic_reads(body: &[u8], cuts: &[usize]) -> EventStream {
    let mut pieces = vec![];
    let mut at = 0;
    for &cut in cuts.iter().chain([&body.len()]) {
        pieces.push(Ok(bytes::Bytes::copy_from_slice(&body[at..cut])));
        at = cut;
    }
    anthropic::decode(futures::stream::iter(pieces), Duration::from_secs(60))
}

#[tokio::test]
async fn cr_line_endings_end_the_last_event_too() {
    // Found by the provider_stream fuzz target: with CR line endings the stream's last
    // byte is a CR, which eventsource-stream held back waiting for a LF, so Anthropic's
    // `message_stop` was never read and every reply failed as cut short.
    // GIVEN replies whose lines end with CR, in one read and cut before the last CR
    let anthropic = anthropic_frames("\r", true);
    let openai = openai_frames("\r");
    for cuts in [vec![], vec![anthropic.len() - 1]] {
        // WHEN decoded THEN the whole reply arrives, and ends normally
        let (text, done, err) = drain(anthropic_reads(anthropic.as_bytes(), &cuts)).await;
        assert!(err.is_none(), "{cuts:?}: {err:?}");
        assert_eq!((text.as_str(), done), (TEXT, true), "{cuts:?}");
    }
    let (text, done, err) = drain(reads(openai.as_bytes(), &[])).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!((text.as_str(), done), (TEXT, true));
}
