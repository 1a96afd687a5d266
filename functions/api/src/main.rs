//! The API on Lambda: the one router, hosted by `lambda_http` with a streaming response
//! (Function URL in RESPONSE_STREAM mode, so chat SSE streams). Outside Lambda
//! (`AWS_LAMBDA_RUNTIME_API` unset) the same binary serves HTTP on `OPERATOR_ADDR`.
//! Chat streams follow the event log by polling: another process (the worker) writes it.
//!
//! `OPERATOR_PUBLIC_URL` may be unset on Lambda: a function cannot be configured with its
//! own Function URL, so the platform is then built on the first request, with
//! `https://<Host>` as its public URL.

use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use operator_aws::platform::Startup;
use operator_core::http::cors::Cors;
use operator_core::http::error::ApiError;
use std::sync::Arc;
use tokio::sync::OnceCell;
use tower::ServiceExt;

#[tokio::main]
async fn main() {
    if let Err(e) = operator_telemetry::init(operator_telemetry::Profile::Lambda) {
        eprintln!("warning: {e}");
    }
    if let Err(e) = run().await {
        tracing::error!(error = format!("{e:#}"), "api function failed");
        eprintln!("error: {e:#}");
        report_init_error(&e).await;
        std::process::exit(1);
    }
}

/// On Lambda, tells the runtime why initialisation failed (its `init/error` endpoint), so
/// the invocation fails with that reason rather than a bare exit. Best effort: the process
/// exits either way.
async fn report_init_error(e: &anyhow::Error) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = serde_json::json!({
        "errorMessage": format!("{e:#}"),
        "errorType": "Runtime.InitError",
        "stackTrace": [],
    });
    let sent = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
        .json(&body)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    if let Err(e) = sent {
        eprintln!("could not report the init error to the Lambda runtime: {e}");
    }
}

async fn run() -> anyhow::Result<()> {
    let startup = Startup::load().await?;
    let cors = Cors::from_env()?;
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        if startup.settings.public_url.is_some() {
            let app = operator_core::http::router_with(startup.build(None)?, cors);
            return lambda_http::run_with_streaming_response(app)
                .await
                .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"));
        }
        let startup = Arc::new(startup);
        let cors = Arc::new(cors);
        let app = Arc::new(OnceCell::<axum::Router>::new());
        let service = tower::service_fn(move |req: lambda_http::Request| {
            let (startup, app, cors) = (startup.clone(), app.clone(), cors.clone());
            async move {
                let host = req
                    .headers()
                    .get(axum::http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .filter(|h| !h.is_empty())
                    .map(str::to_owned);
                let router = match (app.get(), host) {
                    (Some(router), _) => router.clone(),
                    // API.md's error body, not a runtime error: the caller's request lacks it.
                    (None, None) => {
                        return Ok(ApiError::bad_request(
                            "the request has no Host header: this API takes its public URL from the first request's Host (or from OPERATOR_PUBLIC_URL)",
                        )
                        .into_response())
                    }
                    (None, Some(host)) => match app
                        .get_or_try_init(|| async {
                            let platform = startup.build(Some(format!("https://{host}")))?;
                            anyhow::Ok(operator_core::http::router_with(platform, (*cors).clone()))
                        })
                        .await
                    {
                        Ok(router) => router.clone(),
                        // Logged with its cause; the caller gets the opaque 500 body.
                        Err(e) => {
                            return Ok(ApiError::from(operator_core::error::Error::Unexpected(
                                e.context("the API could not start"),
                            ))
                            .into_response())
                        }
                    },
                };
                let req: Request<Body> = req.map(Body::new);
                router
                    .oneshot(req)
                    .await
                    .map_err(|e| lambda_http::Error::from(e.to_string()))
            }
        });
        lambda_http::run_with_streaming_response(service)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
    } else {
        let app = operator_core::http::router_with(startup.build(None)?, cors);
        let addr = std::env::var("OPERATOR_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("Listening on http://{}", listener.local_addr()?);
        let limits = operator_listener::Limits::from_env()?;
        operator_listener::serve(listener, app, limits, std::future::pending()).await?;
        Ok(())
    }
}
