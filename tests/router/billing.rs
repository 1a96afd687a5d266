//! `/api/billing`: plan, capacity and usage for the caller's account.

use crate::harness::*;
use axum::http::Method;
use operator_core::domain::PlanSlug;

#[tokio::test]
async fn billing_shows_the_plan_capacity_and_usage() {
    let api = Api::start().await;
    api.instance("desk").await;
    // WHEN billing is read
    let v = api.get("/api/billing").await.ok(200);
    // THEN the plan, status, capacity (provisioning counts) and usage are API.md's
    assert_eq!(v["plan"]["slug"], "pro");
    assert!(v["plan"]["name"].is_string(), "{v}");
    assert_eq!(v["plan"]["instanceLimit"], 5);
    assert_eq!(v["plan"]["tokenLimit"], 15_000_000);
    assert_eq!(v["status"], "active");
    assert_eq!(v["capacity"]["used"], 1);
    assert_eq!(v["capacity"]["limit"], 5);
    let u = &v["usage"];
    assert_eq!(u["windowHours"], 6);
    assert_eq!(u["tokens"], 0);
    assert!(u["byInstance"].is_array(), "{v}");
    assert_time(&u["periodStart"]);
    for n in [
        "instanceSeconds",
        "chatTurns",
        "automationRuns",
        "webhookDeliveries",
    ] {
        assert!(u[n].is_number(), "{n}: {v}");
    }
    api.assert_requires_key(Method::GET, "/api/billing").await;
}

#[tokio::test]
async fn billing_is_the_callers_own_plan() {
    // GIVEN a basic account beside a pro one
    let api = Api::start_with_plan(PlanSlug::Basic).await;
    let other = api.other_account().await;
    // WHEN each reads billing THEN each sees its own plan
    assert_eq!(
        api.get("/api/billing").await.ok(200)["plan"]["slug"],
        "basic"
    );
    assert_eq!(
        api.get("/api/billing").await.ok(200)["capacity"]["limit"],
        1
    );
    assert_eq!(
        api.get_as(&other, "/api/billing").await.ok(200)["plan"]["slug"],
        "pro"
    );
}
