//! Entry point of `operator-instance`: the container command on Fargate (locally the
//! `operator` binary runs the same code as `operator instance ...`).

use clap::Parser;

#[tokio::main]
async fn main() {
    operator_instance::cli::init_tracing();
    if let Err(e) = operator_instance::cli::run(operator_instance::cli::Cli::parse()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
