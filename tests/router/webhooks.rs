//! `/api/webhooks`, the token-authenticated trigger, and deliveries.

use crate::harness::*;
use axum::body::Body;
use axum::http::Method;
use serde_json::json;

async fn webhook(api: &Api) -> serde_json::Value {
    api.post(
        "/api/webhooks",
        json!({"name": "gh", "promptTemplate": "GitHub says: {{payload}}"}),
    )
    .await
    .ok(201)["webhook"]
        .clone()
}

async fn trigger(api: &Api, token: &str, headers: &[(&str, &str)], body: Body) -> Reply {
    api.send(
        Method::POST,
        &format!("/api/webhooks/trigger/{token}"),
        None,
        headers,
        body,
    )
    .await
}

#[tokio::test]
async fn a_webhook_is_created_with_its_url_and_triggered_without_a_key() {
    let api = Api::start().await;
    // WHEN a webhook is created
    let w = webhook(&api).await;
    // THEN it has API.md's fields and a URL carrying its token
    assert_id(&w["id"], "wh_");
    assert_eq!(w["name"], "gh");
    assert_eq!(w["enabled"], true);
    assert_id(&w["chatId"], "chat_");
    assert_time(&w["createdAt"]);
    let token = w["token"].as_str().unwrap();
    assert_eq!(
        w["url"],
        format!("{PUBLIC_URL}/api/webhooks/trigger/{token}")
    );
    // WHEN it is triggered with a JSON body, and with a GET THEN 202 with a delivery id
    let first = trigger(
        &api,
        token,
        &[("content-type", "application/json")],
        Body::from(r#"{"a":1}"#),
    )
    .await
    .ok(202);
    assert_id(&first["deliveryId"], "dlv_");
    let got = api
        .send(
            Method::GET,
            &format!("/api/webhooks/trigger/{token}"),
            None,
            &[],
            Body::empty(),
        )
        .await
        .ok(202);
    assert_ne!(got["deliveryId"], first["deliveryId"]);
    // AND the deliveries list shows both
    let id = w["id"].as_str().unwrap();
    let d = api
        .get(&format!("/api/webhooks/{id}/deliveries"))
        .await
        .ok(200);
    let list = d["deliveries"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{d}");
    for field in ["id", "status", "receivedAt", "chatId", "error"] {
        assert!(list[0].get(field).is_some(), "{field} missing: {d}");
    }
    api.assert_page_errors(&format!("/api/webhooks/{id}/deliveries"))
        .await;
    api.assert_page_errors("/api/webhooks").await;
}

#[tokio::test]
async fn a_repeated_delivery_id_returns_the_first_delivery() {
    let api = Api::start().await;
    let w = webhook(&api).await;
    let token = w["token"].as_str().unwrap();
    // WHEN a provider delivers the same event twice
    let headers = [
        ("content-type", "application/json"),
        ("x-github-delivery", "abc-123"),
    ];
    let a = trigger(&api, token, &headers, Body::from("{}"))
        .await
        .ok(202);
    let b = trigger(&api, token, &headers, Body::from("{}"))
        .await
        .ok(202);
    // THEN the second is the first delivery, not a new one
    assert_eq!(a["deliveryId"], b["deliveryId"]);
    let id = w["id"].as_str().unwrap();
    let d = api
        .get(&format!("/api/webhooks/{id}/deliveries"))
        .await
        .ok(200);
    assert_eq!(d["deliveries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_repeat_of_a_delivery_whose_job_was_lost_queues_it_again() {
    use operator_core::domain::DeliveryStatus;
    use operator_core::ids::DeliveryId;
    use operator_core::jobs::Job;
    let api = Api::start().await;
    let w = webhook(&api).await;
    let token = w["token"].as_str().unwrap();
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "evt-1"),
    ];
    let queue = api.platform.queue.clone();
    let jobs_for = |id: &serde_json::Value| {
        let (queue, id) = (queue.clone(), id.as_str().unwrap().to_owned());
        async move {
            let got = queue
                .receive(10, std::time::Duration::from_secs(60))
                .await
                .expect("receive");
            for j in &got {
                assert!(
                    matches!(&j.job, Job::WebhookDelivery { delivery_id, .. } if delivery_id.as_str() == id),
                    "{:?}",
                    j.job
                );
            }
            got
        }
    };
    // GIVEN a delivery whose job is gone, as when the server died between storing the
    // delivery and queueing its job
    let first = trigger(&api, token, &headers, Body::from("{}"))
        .await
        .ok(202);
    let lost = jobs_for(&first["deliveryId"]).await;
    assert_eq!(lost.len(), 1);
    queue.ack(&lost[0].receipt).await.expect("drop the job");
    // WHEN the sender repeats it
    let again = trigger(&api, token, &headers, Body::from("{}"))
        .await
        .ok(202);
    // THEN it is the same delivery, and its job is queued again
    assert_eq!(first["deliveryId"], again["deliveryId"]);
    assert_eq!(jobs_for(&first["deliveryId"]).await.len(), 1);
    // WHEN the delivery has started and the sender repeats it once more
    let id = DeliveryId::parse(first["deliveryId"].as_str().unwrap()).unwrap();
    let mut d = api
        .platform
        .store
        .get_delivery(&api.account, &id)
        .await
        .unwrap();
    d.status = DeliveryStatus::Running;
    api.platform.store.update_delivery(&d).await.unwrap();
    trigger(&api, token, &headers, Body::from("{}"))
        .await
        .ok(202);
    // THEN no second job is queued for it
    assert_eq!(jobs_for(&first["deliveryId"]).await.len(), 0);
}

#[tokio::test]
async fn a_delivery_whose_turn_ended_before_a_crash_is_finished_by_its_redelivered_job() {
    use operator_core::domain::{DeliveryStatus, Turn, TurnSource, TurnStatus};
    use operator_core::ids::{ChatId, DeliveryId, TurnId};
    let api = Api::start_with_model().await;
    let w = webhook(&api).await;
    let token = w["token"].as_str().unwrap();
    let sent = trigger(&api, token, &[], Body::from("{}")).await.ok(202);
    let id = DeliveryId::parse(sent["deliveryId"].as_str().unwrap()).unwrap();
    let received = api
        .platform
        .queue
        .receive(1, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let job = received[0].job.clone();
    // GIVEN its turn ended (with an error) but the delivery still says running, as when the
    // server died between the two writes
    let store = &api.platform.store;
    let mut d = store.get_delivery(&api.account, &id).await.unwrap();
    let now = chrono::Utc::now();
    d.status = DeliveryStatus::Running;
    d.started_at = Some(now);
    store.update_delivery(&d).await.unwrap();
    let turn_id = TurnId::for_source(id.body());
    store
        .insert_turn(&Turn {
            chat_id: ChatId::parse(w["chatId"].as_str().unwrap()).unwrap(),
            account_id: api.account.clone(),
            status: TurnStatus::Failed,
            source: TurnSource::Webhook(id.clone()),
            user_message_id: turn_id.user_message(),
            assistant_message_id: turn_id.assistant_message(),
            error: Some("the model broke".into()),
            created_at: now,
            started_at: Some(now),
            finished_at: Some(now),
            id: turn_id,
        })
        .await
        .unwrap();
    // WHEN its job runs again (redelivered after the restart)
    api.platform.run_agent_job(&job).await.expect("the job");
    // THEN the delivery carries the turn's outcome
    let d = store.get_delivery(&api.account, &id).await.unwrap();
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.error.as_deref(), Some("the model broke"));
    assert!(d.finished_at.is_some() && d.chat_id.is_some());
}

#[tokio::test]
async fn trigger_errors_follow_the_contract() {
    let api = Api::start().await;
    let w = webhook(&api).await;
    let (id, token) = (w["id"].as_str().unwrap(), w["token"].as_str().unwrap());
    // WHEN the token is unknown THEN 404
    trigger(&api, "whk_nope", &[], Body::empty())
        .await
        .error(404, "not_found");
    // WHEN the body is over 10 KB THEN 413
    trigger(
        &api,
        token,
        &[("content-type", "application/json")],
        Body::from(format!("\"{}\"", "x".repeat(11 * 1024))),
    )
    .await
    .error(413, "payload_too_large");
    // WHEN the webhook is disabled THEN 409 webhook_disabled
    let v = api
        .put(&format!("/api/webhooks/{id}"), json!({"enabled": false}))
        .await
        .ok(200);
    assert_eq!(v["webhook"]["enabled"], false);
    trigger(&api, token, &[], Body::empty())
        .await
        .error(409, "webhook_disabled");
    // WHEN the token is regenerated THEN the old one is a 404 and the new one works
    let v = api
        .put(
            &format!("/api/webhooks/{id}"),
            json!({"enabled": true, "regenerateToken": true}),
        )
        .await
        .ok(200);
    let new_token = v["webhook"]["token"].as_str().unwrap();
    assert_ne!(new_token, token);
    trigger(&api, token, &[], Body::empty())
        .await
        .error(404, "not_found");
    trigger(&api, new_token, &[], Body::empty()).await.ok(202);
}

#[tokio::test]
async fn templates_need_the_payload_and_other_accounts_webhooks_are_404s() {
    let api = Api::start().await;
    // WHEN the template has no {{payload}} THEN 400 naming it
    api.post(
        "/api/webhooks",
        json!({"name": "x", "promptTemplate": "no placeholder"}),
    )
    .await
    .invalid("promptTemplate");
    // GIVEN another account's webhook
    let other = api.other_account().await;
    let theirs = api
        .json_as(
            &other,
            Method::POST,
            "/api/webhooks",
            json!({"name": "t", "promptTemplate": "{{payload}}"}),
        )
        .await
        .ok(201)["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // WHEN this account touches it THEN 404
    let base = format!("/api/webhooks/{theirs}");
    api.get(&base).await.error(404, "not_found");
    api.put(&base, json!({"name": "mine"}))
        .await
        .error(404, "not_found");
    api.get(&format!("{base}/deliveries"))
        .await
        .error(404, "not_found");
    api.delete(&base).await.error(404, "not_found");
    // AND its owner can delete it
    assert_eq!(
        api.delete_as(&other, &base).await.ok(200),
        json!({"ok": true})
    );
    api.assert_requires_key(Method::GET, "/api/webhooks").await;
}

#[tokio::test]
async fn an_account_has_at_most_200_webhooks() {
    // GIVEN an account with 200 webhooks
    let api = Api::start().await;
    let mut last = String::new();
    for i in 0..200 {
        let v = api
            .post(
                "/api/webhooks",
                json!({"name": format!("w{i}"), "promptTemplate": "Event: {{payload}}"}),
            )
            .await
            .ok(201);
        last = v["webhook"]["id"].as_str().unwrap().to_owned();
    }
    // WHEN it creates one more THEN 409 naming the cap
    let e = api
        .post(
            "/api/webhooks",
            json!({"name": "one-too-many", "promptTemplate": "Event: {{payload}}"}),
        )
        .await
        .error(409, "conflict");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("200 webhooks"),
        "{e}"
    );
    // AND once one is deleted there is room again; another account was never limited by it
    api.delete(&format!("/api/webhooks/{last}")).await.ok(200);
    api.post(
        "/api/webhooks",
        json!({"name": "room-again", "promptTemplate": "Event: {{payload}}"}),
    )
    .await
    .ok(201);
    let other = api.other_account().await;
    api.json_as(
        &other,
        Method::POST,
        "/api/webhooks",
        json!({"name": "theirs", "promptTemplate": "Event: {{payload}}"}),
    )
    .await
    .ok(201);
}
