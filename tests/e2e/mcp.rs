//! Acceptance 2 of issue 14: the official MCP TypeScript SDK (`Client` with the Streamable
//! HTTP transport, tests/clients/mcp.mjs) against a real `operator serve`: it connects with
//! an API key, lists the Operator agent's tools, and creates an instance through
//! `tools/call`; REST then shows that instance.

use crate::clients::run_client;
use crate::support::*;
use operator_core::agent::tools;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn the_mcp_sdk_lists_the_tools_and_creates_an_instance_through_tools_call() {
    // GIVEN a running server (no model needed: MCP calls the tools directly)
    let app = App::spawn().await;
    // WHEN the SDK client connects, lists the tools and calls create_instance
    let v: Value = tokio::time::timeout(Duration::from_secs(90), run_client(&app, "mcp.mjs"))
        .await
        .expect("mcp.mjs did not finish within 90 s (node was killed)");
    // THEN it negotiated the SDK's newest protocol version with a session
    assert_eq!(v["protocolVersion"], v["sdkLatestProtocolVersion"], "{v}");
    assert_eq!(v["protocolVersion"], "2025-11-25", "{v}");
    assert_eq!(v["session"], true, "{v}");
    assert_eq!(v["server"]["name"], "operator", "{v}");
    // AND it saw every tool of the agent, create_instance with its schema
    let expected: Vec<&str> = tools::ALL.iter().map(|t| t.name()).collect();
    assert_eq!(v["tools"], json!(expected), "{v}");
    let schema = tools::find("create_instance").unwrap().input_schema();
    assert_eq!(v["createInstanceSchema"], schema, "{v}");
    // AND the call created mcp-desk, which REST lists under the key's account
    assert_eq!(v["created"]["name"], "mcp-desk", "{v}");
    let id = v["created"]["id"].as_str().expect("an instance id");
    let (status, got) = app.get(&format!("/api/instances/{id}")).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["instance"]["name"], "mcp-desk", "{got}");
    let (_, list) = app.get("/api/instances").await;
    let names: Vec<&str> = list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, ["mcp-desk"], "{list}");
    // AND a bad argument came back as a tool error naming it; an unknown tool as -32602
    assert_eq!(
        v["badArgument"],
        json!({"isError": true, "code": "invalid_request", "field": ["name"]}),
        "{v}"
    );
    assert_eq!(v["unknownTool"]["code"], -32602, "{v}");
    // AND the server log holds no API key
    assert!(
        !app.server_log().contains(&app.key),
        "the log holds the key"
    );
}
