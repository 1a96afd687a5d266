//! The routes instances call with their instance token: `/v1/chat/completions` and
//! `/v1/secrets`. API keys do not open them, and tokens do not open `/api/*`.

use crate::harness::*;
use axum::body::Body;
use axum::http::Method;
use operator_core::ids::InstanceId;
use secrecy::ExposeSecret;
use serde_json::json;

async fn token_for(api: &Api, id: &str) -> String {
    let id = InstanceId::parse(id).unwrap();
    api.platform.instance_token(&id).expose_secret().to_owned()
}

#[tokio::test]
async fn instance_tokens_read_granted_and_global_secrets_only() {
    let api = Api::start().await;
    let inst = api.instance("desk").await;
    let token = token_for(&api, &inst).await;
    // GIVEN a granted secret, a global one and one not granted
    let granted = api
        .post("/api/secrets", json!({"name": "GRANTED", "value": "g1"}))
        .await
        .ok(201)["secret"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.post(
        &format!("/api/secrets/{granted}/grants"),
        json!({"instanceId": inst}),
    )
    .await
    .ok(200);
    api.post(
        "/api/secrets",
        json!({"name": "GLOBAL", "value": "g2", "isGlobal": true}),
    )
    .await
    .ok(201);
    api.post("/api/secrets", json!({"name": "PRIVATE", "value": "p"}))
        .await
        .ok(201);
    // WHEN the instance lists its secrets THEN it gets the granted and global ones
    let v = api.get_as(&token, "/v1/secrets").await.ok(200);
    let mut names: Vec<&str> = v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["GLOBAL", "GRANTED"]);
    // AND reads one by name, but not the private one
    let one = api.get_as(&token, "/v1/secrets/GRANTED").await.ok(200);
    assert_eq!(one["value"], "g1");
    api.get_as(&token, "/v1/secrets/PRIVATE")
        .await
        .error(404, "not_found");
}

#[tokio::test]
async fn the_gateway_refuses_missing_forged_and_api_key_credentials() {
    let api = Api::start().await;
    let inst = api.instance("desk").await;
    let token = token_for(&api, &inst).await;
    let forged = format!("{inst}.{}", "0".repeat(64));
    for path in ["/v1/secrets", "/v1/secrets/ANY", "/v1/models"] {
        // WHEN no token, a forged one, or an API key is sent THEN 401
        api.send(Method::GET, path, None, &[], Body::empty())
            .await
            .error(401, "unauthorized");
        api.get_as(&forged, path).await.error(401, "unauthorized");
        api.get(path).await.error(401, "unauthorized");
    }
    api.send(
        Method::POST,
        "/v1/chat/completions",
        None,
        &[("content-type", "application/json")],
        Body::from(r#"{"messages":[]}"#),
    )
    .await
    .error(401, "unauthorized");
    // AND an instance token does not open the account API
    api.get_as(&token, "/api/instances")
        .await
        .error(401, "unauthorized");
    // WHEN the instance is deleted THEN its token stops working
    api.delete(&format!("/api/instances/{inst}")).await.ok(200);
    api.get_as(&token, "/v1/secrets")
        .await
        .error(401, "unauthorized");
}

#[tokio::test]
async fn without_a_model_the_gateway_is_a_503_llm_unavailable() {
    let api = Api::start().await;
    let inst = api.instance("desk").await;
    let token = token_for(&api, &inst).await;
    // WHEN an instance calls the gateway on a platform with no LLM THEN 503
    api.json_as(
        &token,
        Method::POST,
        "/v1/chat/completions",
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .error(503, "llm_unavailable");
    api.get_as(&token, "/v1/models")
        .await
        .error(503, "llm_unavailable");
}

#[tokio::test]
async fn an_instance_lists_the_model_its_calls_go_to() {
    // GIVEN a platform whose model is `test-model`
    let api = Api::start_with_model().await;
    let inst = api.instance("desk").await;
    let token = token_for(&api, &inst).await;
    // WHEN an OpenAI client inside the instance lists the models (as it does on start)
    let v = api.get_as(&token, "/v1/models").await.ok(200);
    // THEN it gets OpenAI's list shape naming the configured model
    assert_eq!(v["object"], "list", "{v}");
    assert_eq!(v["data"][0]["id"], "test-model", "{v}");
    assert_eq!(v["data"][0]["object"], "model", "{v}");
    assert!(
        v["data"][0]["created"].as_i64().unwrap() > 1_700_000_000,
        "{v}"
    );
}

#[tokio::test]
async fn the_gateway_forwards_to_the_model_and_meters_the_instance() {
    // GIVEN a platform whose model answers once, and an instance's token
    let model = crate::fake_llm::FakeLlm::start(vec![crate::fake_llm::Reply::Text(
        "hello from the model".into(),
    )])
    .await;
    let api = Api::start_with_model_at(&format!("{}/v1", model.url)).await;
    let inst = api.instance("desk").await;
    let token = token_for(&api, &inst).await;
    // WHEN the instance calls the gateway
    let v = api
        .json_as(
            &token,
            Method::POST,
            "/v1/chat/completions",
            json!({"model": "any", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
        .ok(200);
    // THEN it gets the model's OpenAI-shaped answer
    assert_eq!(
        v["choices"][0]["message"]["content"], "hello from the model",
        "{v}"
    );
    let (input, output) = (
        v["usage"]["prompt_tokens"].as_u64().unwrap(),
        v["usage"]["completion_tokens"].as_u64().unwrap(),
    );
    // AND billing counts input + 5 x output tokens against that instance
    let b = api.get("/api/billing").await.ok(200);
    assert_eq!(b["usage"]["tokens"], input + 5 * output, "{b}");
    assert!(b["usage"]["byInstance"].to_string().contains(&inst), "{b}");
    // AND a body that is not a chat request is a 400 naming `messages`
    api.json_as(
        &token,
        Method::POST,
        "/v1/chat/completions",
        json!({"model": "any"}),
    )
    .await
    .invalid("messages");
}
