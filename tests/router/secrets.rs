//! `/api/secrets` and grants: the value is returned once, never listed; names are
//! environment-variable names; grants name instances of the same account.

use crate::harness::*;
use axum::http::Method;
use serde_json::json;

#[tokio::test]
async fn a_secret_value_is_returned_once_and_never_again() {
    let api = Api::start().await;
    // WHEN a secret is created
    let v = api
        .post(
            "/api/secrets",
            json!({"name": "GITHUB_TOKEN", "value": "ghp_secretvalue", "description": "CI"}),
        )
        .await
        .ok(201);
    // THEN the value comes back this once, with the metadata
    let s = &v["secret"];
    assert_id(&s["id"], "sec_");
    assert_eq!(s["name"], "GITHUB_TOKEN");
    assert_eq!(s["description"], "CI");
    assert_eq!(s["isGlobal"], false);
    assert_eq!(s["value"], "ghp_secretvalue");
    assert_time(&s["createdAt"]);
    // AND reading or listing it never shows the value
    let id = s["id"].as_str().unwrap();
    let got = api.get(&format!("/api/secrets/{id}")).await.ok(200);
    assert_eq!(got["secret"]["grants"], json!([]));
    assert_time(&got["secret"]["updatedAt"]);
    let list = api.get("/api/secrets").await.ok(200);
    assert_eq!(list["secrets"].as_array().unwrap().len(), 1);
    for body in [&got, &list] {
        assert!(!body.to_string().contains("ghp_secretvalue"), "{body}");
    }
    // WHEN it is rotated THEN the answer holds no value either
    let rotated = api
        .put(
            &format!("/api/secrets/{id}"),
            json!({"value": "ghp_rotated", "isGlobal": true}),
        )
        .await
        .ok(200);
    assert_eq!(rotated["secret"]["isGlobal"], true);
    assert!(!rotated.to_string().contains("ghp_rotated"), "{rotated}");
    // WHEN it is deleted THEN it is gone
    assert_eq!(
        api.delete(&format!("/api/secrets/{id}")).await.ok(200),
        json!({"ok": true})
    );
    api.get(&format!("/api/secrets/{id}"))
        .await
        .error(404, "not_found");
    api.assert_page_errors("/api/secrets").await;
}

#[tokio::test]
async fn secret_names_are_validated_and_unique() {
    let api = Api::start().await;
    api.post("/api/secrets", json!({"name": "API_KEY", "value": "v"}))
        .await
        .ok(201);
    // WHEN the name is taken THEN 409
    api.post("/api/secrets", json!({"name": "API_KEY", "value": "w"}))
        .await
        .error(409, "conflict");
    // WHEN it is not an environment-variable name THEN 400 naming `name`
    for bad in ["github-token", "1ABC", "lower", ""] {
        api.post("/api/secrets", json!({"name": bad, "value": "v"}))
            .await
            .invalid("name");
    }
    // AND a missing value is a 400 naming `value`
    api.post("/api/secrets", json!({"name": "NO_VALUE"}))
        .await
        .invalid("value");
}

#[tokio::test]
async fn grants_name_the_accounts_own_instances() {
    let api = Api::start().await;
    let inst = api.instance("desk").await;
    let sec = api
        .post("/api/secrets", json!({"name": "TOKEN", "value": "v"}))
        .await
        .ok(201)["secret"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN the secret is granted to an instance THEN the grant is listed
    let v = api
        .post(
            &format!("/api/secrets/{sec}/grants"),
            json!({"instanceId": inst}),
        )
        .await
        .ok(200);
    assert_eq!(v["secret"]["grants"], json!([inst]));
    // AND revoking it removes it
    api.delete(&format!("/api/secrets/{sec}/grants/{inst}"))
        .await
        .ok(200);
    let v = api.get(&format!("/api/secrets/{sec}")).await.ok(200);
    assert_eq!(v["secret"]["grants"], json!([]));
    // WHEN the instance belongs to another account THEN 404
    let other = api.other_account().await;
    let theirs = api
        .json_as(
            &other,
            Method::POST,
            "/api/instances",
            json!({"name": "theirs"}),
        )
        .await
        .ok(201)["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.post(
        &format!("/api/secrets/{sec}/grants"),
        json!({"instanceId": theirs}),
    )
    .await
    .error(404, "not_found");
    // AND a grant without instanceId is a 400 naming it
    api.post(&format!("/api/secrets/{sec}/grants"), json!({}))
        .await
        .invalid("instanceId");
}

#[tokio::test]
async fn another_accounts_secret_is_a_404() {
    let api = Api::start().await;
    let other = api.other_account().await;
    let theirs = api
        .json_as(
            &other,
            Method::POST,
            "/api/secrets",
            json!({"name": "THEIRS", "value": "v"}),
        )
        .await
        .ok(201)["secret"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN this account reads, rotates, deletes or grants it THEN 404
    api.get(&format!("/api/secrets/{theirs}"))
        .await
        .error(404, "not_found");
    api.put(&format!("/api/secrets/{theirs}"), json!({"value": "mine"}))
        .await
        .error(404, "not_found");
    api.delete(&format!("/api/secrets/{theirs}"))
        .await
        .error(404, "not_found");
    let mine = api.instance("mine").await;
    api.post(
        &format!("/api/secrets/{theirs}/grants"),
        json!({"instanceId": mine}),
    )
    .await
    .error(404, "not_found");
    // AND the secret routes need a key
    api.assert_requires_key(Method::GET, "/api/secrets").await;
    api.assert_requires_key(Method::GET, &format!("/api/secrets/{theirs}"))
        .await;
}
