//! `operator`: one binary for everyone who touches a deployment.
//! - The command-line client of a running server (`login`, `chat`, `instances`, `secrets`,
//!   `automations`, `webhooks`, `experiments`, `keys`, `billing`), in [`client`].
//! - The embedded all-in-one platform (`serve`), in [`serve`].
//! - Admin commands on a data directory or an AWS deployment's table (`accounts create`,
//!   `keys create --account`), in [`admin`].
//! - The instance runtime the platform starts for each instance (`instance-runtime`, internal,
//!   outside the command tree).
//!
//! This file is the command tree and the dispatch; every failure ends as one of the exit codes
//! of [`exit::Exit`], documented in `--help` and docs/cli.md.

mod admin;
mod client;
mod exit;
mod serve;

use clap::{Parser, Subcommand};
use client::keys::{KeyCreateArgs, KeysCommand};
use exit::Exit;

const AFTER_HELP: &str = "\
Start here:  operator login --url https://your-deployment --key ck_live_...   (or without --key: sign in through the browser)
             operator chat \"Create an instance called my-desk.\"
Settings:    ~/.operator/config.json (written by login); OPERATOR_API_KEY and OPERATOR_URL override it.
Exit codes:  0 ok · 1 unexpected or server error · 2 usage error, or no key / the key was refused ·
             3 not found · 4 invalid request or conflict · 5 server unreachable ·
             6 capacity, quota or rate limit · 130 interrupted (Ctrl-C)
Guide:       docs/cli.md";

#[derive(Parser)]
#[command(
    name = "operator",
    version,
    about = "Operator: an open, self-hostable agent-operations platform — client, server and admin in one binary",
    after_help = AFTER_HELP
)]
struct Cli {
    /// Print the API's JSON instead of tables and sentences.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Client(client::Command),
    /// Admin: manage accounts on a data directory or an AWS deployment's table.
    #[command(subcommand)]
    Accounts(admin::AccountsCommand),
    /// Run the embedded platform: API, console, scheduler and worker in one process.
    Serve(serve::ServeArgs),
}

/// The internal command the platform starts each instance with; kept out of the command
/// tree, so help and "did you mean" never offer it.
const INSTANCE_RUNTIME: &str = "instance-runtime";

/// mimalloc instead of glibc's malloc: a REST read allocates a few hundred small objects on
/// two threads at once, and glibc's arenas (consolidation, contended free lists) were ~15 % of
/// its CPU (scripts/bench.sh).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut argv = std::env::args_os();
    let runtime_args = match argv.nth(1) {
        Some(first) if first == INSTANCE_RUNTIME => Some(argv.collect::<Vec<_>>()),
        _ => None,
    };
    let cli = match runtime_args {
        Some(args) => Err(args),
        None => Ok(Cli::parse()),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            std::process::exit(Exit::Unexpected.code());
        }
    };
    let code = match cli {
        Ok(cli) => runtime.block_on(run(cli)),
        Err(args) => runtime.block_on(instance_runtime(args)),
    };
    // Exit here: a thread still blocked on a terminal read (a hidden prompt that lost a race)
    // must not keep the process alive.
    std::process::exit(code);
}

async fn run(cli: Cli) -> i32 {
    let json = cli.json;
    let result = match cli.command {
        Command::Serve(args) => {
            init_logs(true);
            serve::serve(args).await
        }
        Command::Accounts(cmd) => {
            init_logs(true);
            admin::accounts(cmd).await
        }
        Command::Client(client::Command::Keys(KeysCommand::Create(KeyCreateArgs {
            name,
            admin: Some(account),
            target,
        }))) => {
            init_logs(true);
            admin::create_key(admin::KeyForAccount {
                account,
                name,
                target,
            })
            .await
        }
        Command::Client(command) => {
            init_logs(false);
            client::run(command, json).await
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => exit::report(&e),
    }
}

/// Server and admin commands log at `info` (or `RUST_LOG`); client commands stay quiet
/// unless `RUST_LOG` asks, so their output is only what they print.
fn init_logs(server: bool) {
    if !server && std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    let json = std::env::var("OPERATOR_LOG_FORMAT").as_deref() == Ok("json");
    if let Err(e) = operator_telemetry::init(operator_telemetry::Profile::Cli { json }) {
        eprintln!("warning: {e}");
    }
}

/// The instance runtime: same code as the `operator-instance` container binary. Logs go to
/// stderr, which the local runtime keeps in `instance.log`.
async fn instance_runtime(args: Vec<std::ffi::OsString>) -> i32 {
    if let Err(e) = operator_telemetry::init(operator_telemetry::Profile::Instance) {
        eprintln!("warning: {e}");
    }
    let argv = std::iter::once(std::ffi::OsString::from("operator-instance")).chain(args);
    let icli = operator_instance::cli::Cli::parse_from(argv);
    match operator_instance::cli::run(icli).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}
