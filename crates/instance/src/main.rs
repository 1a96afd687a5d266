//! Entry point of `operator-instance`: the container command on Fargate (locally the
//! `operator` binary runs the same code as `operator instance-runtime ...`).

use clap::Parser;

#[tokio::main]
async fn main() {
    // Logs go to stderr (CloudWatch on Fargate; `instance.log` locally).
    if let Err(e) = operator_telemetry::init(operator_telemetry::Profile::Instance) {
        eprintln!("warning: {e}");
    }
    if let Err(e) = operator_instance::cli::run(operator_instance::cli::Cli::parse()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
