//! `/mcp`: the MCP endpoint in process, as raw JSON-RPC: initialize and its signed session
//! (missing, forged, expired, another account's), version negotiation and the
//! `MCP-Protocol-Version` check, the Operator agent's tools listed with their schemas and
//! called (a created instance shows in REST; bad arguments come back as a tool error naming
//! the field), and the JSON-RPC and HTTP errors of the transport.

use crate::harness::*;
use axum::body::Body;
use axum::http::{header, Method};
use operator_core::agent::tools::{self, Effect};
use operator_core::http::routes::mcp::session;
use serde_json::{json, Value};

const LATEST: &str = "2025-11-25";

/// POSTs one JSON-RPC message to /mcp as an MCP client does, with `session` (if any) and
/// `extra` headers.
async fn rpc(api: &Api, session: Option<&str>, extra: &[(&str, &str)], body: Value) -> Reply {
    raw(api, session, extra, body.to_string()).await
}

async fn raw(api: &Api, session: Option<&str>, extra: &[(&str, &str)], body: String) -> Reply {
    // `extra` replaces a default header of the same name.
    let mut headers: Vec<(&str, &str)> = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ]
    .into_iter()
    .filter(|(name, _)| !extra.iter().any(|(n, _)| n == name))
    .collect();
    if let Some(s) = session {
        headers.push(("mcp-session-id", s));
    }
    headers.extend_from_slice(extra);
    api.send(
        Method::POST,
        "/mcp",
        Some(api.key.as_str()),
        &headers,
        Body::from(body),
    )
    .await
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// GIVEN an initialized session; returns its id.
async fn initialize(api: &Api, version: &str) -> (String, Value) {
    let r = rpc(
        api,
        None,
        &[],
        request(
            1,
            "initialize",
            json!({"protocolVersion": version, "capabilities": {},
                "clientInfo": {"name": "router-test", "version": "0"}}),
        ),
    )
    .await;
    let v = r.ok(200);
    let session = r.headers["mcp-session-id"].to_str().unwrap().to_owned();
    let ready = rpc(
        api,
        Some(&session),
        &[],
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(ready.status.as_u16(), 202, "{ready:?}");
    assert!(ready.body.is_empty(), "a 202 has no body");
    (session, v)
}

/// The result of a successful JSON-RPC answer with `id`.
#[track_caller]
fn result(r: &Reply, id: u64) -> Value {
    let v = r.ok(200);
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["id"], id, "{v}");
    assert!(v.get("error").is_none(), "{v}");
    v["result"].clone()
}

/// The JSON-RPC error of an answer (HTTP 200), with its id.
#[track_caller]
fn rpc_error(r: &Reply, code: i64) -> (Value, String) {
    let v = r.ok(200);
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v.get("result").is_none(), "{v}");
    (
        v["id"].clone(),
        v["error"]["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn initialize_negotiates_the_version_and_issues_a_session() {
    let api = Api::start().await;
    // WHEN a client initializes with the newest version
    let (session, v) = initialize(&api, LATEST).await;
    // THEN the server speaks it, names itself and offers tools
    let init = &v["result"];
    assert_eq!(v["id"], 1);
    assert_eq!(init["protocolVersion"], LATEST);
    assert_eq!(init["serverInfo"]["name"], "operator");
    assert!(init["serverInfo"]["version"].is_string(), "{init}");
    assert!(init["capabilities"]["tools"].is_object(), "{init}");
    // AND the session is visible ASCII and carries no key
    assert!(
        session.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "{session}"
    );
    assert!(!session.contains(&api.key));
    // AND ping works in it
    let pong = rpc(&api, Some(&session), &[], request(2, "ping", json!({}))).await;
    assert_eq!(result(&pong, 2), json!({}));
    // WHEN a client asks for an older version this server speaks THEN it gets that one
    let (_, v) = initialize(&api, "2025-06-18").await;
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    // AND for a version it does not speak, the newest one
    let (_, v) = initialize(&api, "1999-01-01").await;
    assert_eq!(v["result"]["protocolVersion"], LATEST);
    // AND initialize without a protocolVersion is invalid params
    let r = rpc(&api, None, &[], request(5, "initialize", json!({}))).await;
    let (id, msg) = rpc_error(&r, -32602);
    assert_eq!(id, 5);
    assert!(msg.contains("protocolVersion"), "{msg}");
}

#[tokio::test]
async fn a_message_needs_a_session_this_server_issued_to_this_account_and_not_expired() {
    let api = Api::start().await;
    let list = request(2, "tools/list", json!({}));
    // WHEN there is no session THEN 400
    rpc(&api, None, &[], list.clone())
        .await
        .error(400, "invalid_request");
    rpc(
        &api,
        None,
        &[],
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await
    .error(400, "invalid_request");
    // WHEN the session is forged, altered, made up or expired THEN 404 (initialize again)
    let (good, _) = initialize(&api, LATEST).await;
    let flipped = format!(
        "{}{}",
        &good[..good.len() - 1],
        if good.ends_with('0') { '1' } else { '0' }
    );
    let other_version = good.replace(LATEST, "2025-06-18");
    let expired = session::issue(
        &api.platform,
        &api.account,
        LATEST,
        chrono::Utc::now() - chrono::Duration::seconds(1),
    );
    for bad in [
        flipped.as_str(),
        &other_version,
        "not-a-session",
        "v1.x.y.z.w",
        &expired,
    ] {
        rpc(&api, Some(bad), &[], list.clone())
            .await
            .error(404, "not_found");
    }
    // WHEN another account's valid session comes with this account's key THEN 404 too
    let other_key = api.other_account().await;
    let theirs = rpc_as(
        &api,
        &other_key,
        request(1, "initialize", json!({"protocolVersion": LATEST})),
    )
    .await;
    let theirs = theirs.headers["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    rpc(&api, Some(&theirs), &[], list.clone())
        .await
        .error(404, "not_found");
    // AND a session still valid an hour from now works
    let fresh = session::issue(
        &api.platform,
        &api.account,
        LATEST,
        chrono::Utc::now() + chrono::Duration::hours(1),
    );
    result(&rpc(&api, Some(&fresh), &[], list).await, 2);
}

async fn rpc_as(api: &Api, key: &str, body: Value) -> Reply {
    api.send(
        Method::POST,
        "/mcp",
        Some(key),
        &[
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ],
        Body::from(body.to_string()),
    )
    .await
}

#[tokio::test]
async fn the_protocol_version_header_must_be_the_negotiated_one() {
    let api = Api::start().await;
    let (session, _) = initialize(&api, "2025-06-18").await;
    let list = request(3, "tools/list", json!({}));
    // WHEN the header is the negotiated version, or absent THEN the request is answered
    for extra in [&[("mcp-protocol-version", "2025-06-18")][..], &[]] {
        result(&rpc(&api, Some(&session), extra, list.clone()).await, 3);
    }
    // WHEN it is a version this server does not speak THEN 400 naming the supported ones
    let v = rpc(
        &api,
        Some(&session),
        &[("mcp-protocol-version", "2099-01-01")],
        list.clone(),
    )
    .await
    .error(400, "invalid_request");
    assert!(v.to_string().contains(LATEST), "{v}");
    // WHEN it is a version spoken here but not this session's THEN 400 too
    rpc(
        &api,
        Some(&session),
        &[("mcp-protocol-version", LATEST)],
        list,
    )
    .await
    .error(400, "invalid_request");
}

#[tokio::test]
async fn tools_list_serves_the_operator_agents_tools_with_their_schemas() {
    let api = Api::start().await;
    let (session, _) = initialize(&api, LATEST).await;
    // WHEN the tools are listed
    let r = rpc(
        &api,
        Some(&session),
        &[],
        request(2, "tools/list", json!({})),
    )
    .await;
    let listed = result(&r, 2)["tools"].as_array().unwrap().clone();
    // THEN they are exactly the agent's tools, in order, with the same descriptions and schemas
    let names: Vec<&str> = listed.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> = tools::ALL.iter().map(|t| t.name()).collect();
    assert_eq!(names, expected);
    for (t, tool) in listed.iter().zip(tools::ALL) {
        assert_eq!(t["description"], tool.description(), "{}", tool.name());
        assert_eq!(t["inputSchema"], tool.input_schema(), "{}", tool.name());
        // AND the hints its declared effect gives: reads are read-only, only changes destroy
        let effect = tool.effect();
        assert_eq!(
            t["annotations"],
            json!({"readOnlyHint": effect == Effect::Reads, "destructiveHint": effect == Effect::Changes}),
            "{}",
            tool.name()
        );
        assert_eq!(t["inputSchema"]["type"], "object", "{}", tool.name());
    }
    let create = listed
        .iter()
        .find(|t| t["name"] == "create_instance")
        .unwrap();
    assert!(create["inputSchema"]["required"]
        .as_array()
        .unwrap()
        .contains(&json!("name")));
    // AND a cursor this server never handed out is invalid params
    let r = rpc(
        &api,
        Some(&session),
        &[],
        request(3, "tools/list", json!({"cursor": "x"})),
    )
    .await;
    rpc_error(&r, -32602);
}

#[tokio::test]
async fn tools_call_creates_an_instance_that_rest_then_lists() {
    let api = Api::start().await;
    let (session, _) = initialize(&api, LATEST).await;
    // WHEN create_instance is called through MCP
    let r = rpc(
        &api,
        Some(&session),
        &[],
        request(
            4,
            "tools/call",
            json!({"name": "create_instance", "arguments": {"name": "mcp-router"}}),
        ),
    )
    .await;
    // THEN the result is the tool's output, as text and as structured content
    let res = result(&r, 4);
    assert_eq!(res["isError"], false, "{res}");
    let out = &res["structuredContent"];
    assert_eq!(out["instance"]["name"], "mcp-router", "{res}");
    assert_eq!(out["instance"]["status"], "provisioning", "{res}");
    assert_eq!(res["content"][0]["type"], "text");
    let text: Value = serde_json::from_str(res["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, out);
    // AND REST shows the instance, under this account
    let id = out["instance"]["id"].as_str().unwrap();
    let got = api.get(&format!("/api/instances/{id}")).await.ok(200);
    assert_eq!(got["instance"]["name"], "mcp-router");
    let listed = api.get("/api/instances").await.ok(200);
    assert_eq!(listed["instances"][0]["id"], id);
    // WHEN the same name is created again THEN the service's conflict is the tool's error
    let r = rpc(
        &api,
        Some(&session),
        &[],
        request(
            5,
            "tools/call",
            json!({"name": "create_instance", "arguments": {"name": "mcp-router"}}),
        ),
    )
    .await;
    let res = result(&r, 5);
    assert_eq!(res["isError"], true, "{res}");
    assert_eq!(
        res["structuredContent"]["error"]["code"], "conflict",
        "{res}"
    );
}

#[tokio::test]
async fn bad_tool_calls_are_tool_errors_or_invalid_params_naming_the_fault() {
    let api = Api::start().await;
    let (session, _) = initialize(&api, LATEST).await;
    let call = |id: u64, params: Value| request(id, "tools/call", params);
    // WHEN an argument has the wrong type THEN a tool error (the model can fix it) naming it
    let r = rpc(
        &api,
        Some(&session),
        &[],
        call(
            2,
            json!({"name": "create_instance", "arguments": {"name": 5}}),
        ),
    )
    .await;
    let res = result(&r, 2);
    assert_eq!(res["isError"], true, "{res}");
    let err: Value = serde_json::from_str(res["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(err["error"]["code"], "invalid_request", "{err}");
    assert!(err["error"]["details"]["name"].is_string(), "{err}");
    // AND a missing required argument, and a rule broken, too
    for (id, args) in [(3, json!({})), (4, json!({"name": "Not Valid"}))] {
        let r = rpc(
            &api,
            Some(&session),
            &[],
            call(id, json!({"name": "create_instance", "arguments": args})),
        )
        .await;
        let res = result(&r, id);
        assert_eq!(res["isError"], true, "{res}");
        assert!(
            res["structuredContent"]["error"]["details"]["name"].is_string(),
            "{res}"
        );
    }
    // WHEN the tool does not exist THEN JSON-RPC invalid params naming it
    let r = rpc(
        &api,
        Some(&session),
        &[],
        call(5, json!({"name": "no_such_tool"})),
    )
    .await;
    let (id, msg) = rpc_error(&r, -32602);
    assert_eq!(id, 5);
    assert!(msg.contains("no_such_tool"), "{msg}");
    // WHEN the call itself is malformed THEN invalid params naming the member
    let r = rpc(
        &api,
        Some(&session),
        &[],
        call(6, json!({"name": "list_instances", "arguments": [1]})),
    )
    .await;
    assert!(rpc_error(&r, -32602).1.contains("arguments"));
    let r = rpc(&api, Some(&session), &[], call(7, json!({"arguments": {}}))).await;
    assert!(rpc_error(&r, -32602).1.contains("name"));
    // AND nothing was created
    let listed = api.get("/api/instances").await.ok(200);
    assert_eq!(listed["instances"], json!([]));
}

#[tokio::test]
async fn a_secret_goes_in_through_mcp_and_never_comes_back_out() {
    let api = Api::start().await;
    let (session, _) = initialize(&api, LATEST).await;
    const VALUE: &str = "ghp_mcp_value_never_shown_0123456789";
    let r = rpc(
        &api,
        Some(&session),
        &[],
        request(
            2,
            "tools/call",
            json!({"name": "create_secret", "arguments": {"name": "GH_TOKEN", "value": VALUE}}),
        ),
    )
    .await;
    let res = result(&r, 2);
    assert_eq!(res["isError"], false, "{res}");
    assert_eq!(res["structuredContent"]["secret"]["name"], "GH_TOKEN");
    assert!(
        !res.to_string().contains(VALUE),
        "the result shows the value: {res}"
    );
    let listed = rpc(
        &api,
        Some(&session),
        &[],
        request(3, "tools/call", json!({"name": "list_secrets"})),
    )
    .await;
    assert!(!listed.json().to_string().contains(VALUE));
}

#[tokio::test]
async fn an_older_session_gets_results_without_structured_content() {
    let api = Api::start().await;
    // GIVEN a 2025-03-26 session (structuredContent came in 2025-06-18)
    let (session, _) = initialize(&api, "2025-03-26").await;
    let r = rpc(
        &api,
        Some(&session),
        &[],
        request(
            2,
            "tools/call",
            json!({"name": "list_instances", "arguments": {}}),
        ),
    )
    .await;
    let res = result(&r, 2);
    assert!(res.get("structuredContent").is_none(), "{res}");
    let text: Value = serde_json::from_str(res["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, json!({"instances": []}));
}

#[tokio::test]
async fn json_rpc_faults_are_json_rpc_errors() {
    let api = Api::start().await;
    let (session, _) = initialize(&api, LATEST).await;
    // WHEN the method is unknown THEN -32601 with the request's id
    let r = rpc(
        &api,
        Some(&session),
        &[],
        request(9, "resources/list", json!({})),
    )
    .await;
    let (id, msg) = rpc_error(&r, -32601);
    assert_eq!(id, 9);
    assert!(msg.contains("resources/list"), "{msg}");
    // AND a string id comes back as it was sent
    let r = rpc(
        &api,
        Some(&session),
        &[],
        json!({"jsonrpc": "2.0", "id": "abc", "method": "nope"}),
    )
    .await;
    assert_eq!(rpc_error(&r, -32601).0, "abc");
    // WHEN the body is not JSON THEN -32700 with a null id
    let r = raw(&api, Some(&session), &[], "{\"jsonrpc\": \"2.0\", ".into()).await;
    assert_eq!(rpc_error(&r, -32700).0, Value::Null);
    // WHEN it is a batch, not an object, or not a valid message THEN -32600
    let batch = json!([request(1, "ping", json!({}))]);
    let (id, msg) = rpc_error(&rpc(&api, Some(&session), &[], batch).await, -32600);
    assert_eq!(id, Value::Null);
    assert!(msg.contains("batch"), "{msg}");
    rpc_error(&rpc(&api, Some(&session), &[], json!("ping")).await, -32600);
    let (id, msg) = rpc_error(
        &rpc(
            &api,
            Some(&session),
            &[],
            json!({"jsonrpc": "1.0", "id": 4, "method": "ping"}),
        )
        .await,
        -32600,
    );
    assert_eq!(id, 4);
    assert!(msg.contains("jsonrpc"), "{msg}");
    rpc_error(
        &rpc(
            &api,
            Some(&session),
            &[],
            json!({"jsonrpc": "2.0", "id": null, "method": "ping"}),
        )
        .await,
        -32600,
    );
    // AND a notification or a client's response is accepted without a body
    for msg in [
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
        json!({"jsonrpc": "2.0", "id": 7, "result": {}}),
    ] {
        let r = rpc(&api, Some(&session), &[], msg).await;
        assert_eq!(r.status.as_u16(), 202);
        assert!(r.body.is_empty());
    }
}

#[tokio::test]
async fn transport_faults_are_api_errors() {
    let api = Api::start().await;
    let (session, _) = initialize(&api, LATEST).await;
    let ping = request(1, "ping", json!({}));
    // WHEN there is no key THEN 401 with the error body
    api.assert_requires_key(Method::POST, "/mcp").await;
    api.assert_requires_key(Method::GET, "/mcp").await;
    // WHEN the body is not declared JSON THEN 415
    let r = api
        .send(
            Method::POST,
            "/mcp",
            Some(api.key.as_str()),
            &[("content-type", "text/plain"), ("mcp-session-id", &session)],
            Body::from(ping.to_string()),
        )
        .await;
    r.error(415, "unsupported_media_type");
    // WHEN Accept rules out JSON THEN 406
    rpc(
        &api,
        Some(&session),
        &[("accept", "text/event-stream")],
        ping.clone(),
    )
    .await
    .error(406, "not_acceptable");
    // WHEN a browser on another origin sends it THEN 403 (DNS-rebinding guard)
    rpc(
        &api,
        Some(&session),
        &[("origin", "http://evil.example")],
        ping.clone(),
    )
    .await
    .error(403, "forbidden");
    // AND this server's own origin is fine
    result(
        &rpc(&api, Some(&session), &[("origin", PUBLIC_URL)], ping).await,
        1,
    );
    // WHEN a client asks for a server stream or to end the session THEN 405, Allow: POST
    for method in [Method::GET, Method::DELETE] {
        let r = api
            .send(
                method,
                "/mcp",
                Some(api.key.as_str()),
                &[
                    ("accept", "text/event-stream"),
                    ("mcp-session-id", &session),
                ],
                Body::empty(),
            )
            .await;
        r.error(405, "method_not_allowed");
        assert_eq!(r.headers[header::ALLOW], "POST");
    }
}
