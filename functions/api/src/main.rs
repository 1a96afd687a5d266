//! The API on Lambda: the one router, hosted by `lambda_http` with a streaming response
//! (Function URL in RESPONSE_STREAM mode, so chat SSE streams). Outside Lambda
//! (`AWS_LAMBDA_RUNTIME_API` unset) the same binary serves HTTP on `OPERATOR_ADDR`.
//! Chat streams follow the event log by polling: another process (the worker) writes it.

use operator_aws::platform::{build, token_key_from_env, AwsSettings};
use operator_core::services::LlmConfig;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .without_time()
        .init();
    if let Err(e) = run().await {
        tracing::error!(error = format!("{e:#}"), "api function failed");
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let platform = build(
        AwsSettings::from_env()?,
        token_key_from_env()?,
        LlmConfig::from_env()?,
    )
    .await?;
    let app = operator_core::http::router(platform);
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        lambda_http::run_with_streaming_response(app)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
    } else {
        let addr = std::env::var("OPERATOR_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("Listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    }
}
