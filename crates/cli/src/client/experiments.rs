//! `experiments ...`: `/api/experiments` (a dataset sent to several variants, each answer
//! scored, the variants ranked). The create body is the server's own type
//! ([`CreateExperimentBody`]); a local `--items` file is read with the server's own dataset
//! parser, so a file the CLI accepts is one the server accepts. `run --wait` follows the
//! experiment until it ends and prints the leaderboard; Ctrl-C stops following, never the
//! experiment.

use super::http::seg;
use super::output::{ago, cell, clean_line, print_json};
use super::{resolve, Ctx};
use crate::exit::{Exit, Failure};
use clap::{ArgGroup, Subcommand};
use operator_core::domain::experiment::{dataset, Metric, Scorer};
use operator_core::views::{CreateExperimentBody, DatasetBody, DatasetFile};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

mod show;
use show::{cut, show, sig4};

/// How often `run --wait` looks again.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long `run --wait` waits by default (`--timeout` changes it).
const DEFAULT_WAIT_SECS: u64 = 3600;
/// The widest OUTPUT and ERROR cells of `results`.
const CELL_CHARS: usize = 60;

const EXPERIMENTS: resolve::Kind = resolve::Kind {
    path: "/api/experiments",
    field: "experiments",
    prefix: "exp_",
    noun: "experiment",
};

const SCORER_FORMS: &str =
    "exact, contains, numeric:mae, numeric:rmse, jsonField:FIELD.PATH or llmJudge (with --rubric)";

#[derive(Subcommand)]
pub enum ExperimentsCommand {
    /// List experiments, newest first.
    #[command(visible_alias = "list")]
    Ls {
        /// At most this many (default: all).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show an experiment: status, progress and the leaderboard.
    Get {
        /// exp_... or the name (the newest experiment of that name).
        experiment: String,
    },
    /// Start an experiment: every item goes to every variant's agent, each answer is scored.
    #[command(group(ArgGroup::new("dataset").required(true).args(["items", "file", "url"])))]
    Run {
        /// A name for it (need not be unique).
        name: String,
        /// A variant: an instance (name or inst_...) whose agent answers (repeat for each, 1-20).
        #[arg(long = "variant", value_name = "INSTANCE", required = true)]
        variants: Vec<String>,
        /// A local JSONL or CSV file of items ({"input", "expected"}), sent inline.
        #[arg(long, value_name = "FILE")]
        items: Option<std::path::PathBuf>,
        /// A JSONL or CSV file in an instance's workspace, as INSTANCE:PATH.
        #[arg(long, value_name = "INSTANCE:PATH")]
        file: Option<String>,
        /// A JSONL or CSV file the server downloads (http or https).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// How answers are scored: exact, contains, numeric:mae, numeric:rmse,
        /// jsonField:FIELD.PATH, llmJudge (with --rubric).
        #[arg(long, value_name = "SCORER", value_parser = parse_scorer_kind)]
        scorer: ScorerKind,
        /// What the llmJudge scorer grades against.
        #[arg(long, value_name = "TEXT")]
        rubric: Option<String>,
        /// Pairs (item × variant) in flight at once, 1-16 (default 4).
        #[arg(long, value_name = "N")]
        concurrency: Option<u32>,
        /// Follow it until it ends and print the leaderboard (Ctrl-C stops following only).
        #[arg(long)]
        wait: bool,
        /// With --wait: stop waiting after this many seconds (default 3600).
        #[arg(long, value_name = "SECONDS", requires = "wait")]
        timeout: Option<u64>,
    },
    /// List an experiment's per-item results.
    Results {
        /// exp_... or the name (the newest experiment of that name).
        experiment: String,
        /// Only this variant's results (instance name or inst_...).
        #[arg(long, value_name = "INSTANCE")]
        variant: Option<String>,
        /// At most this many (default: all).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Cancel an experiment: items not yet sent are not sent; results so far stay.
    Cancel {
        /// exp_... or the name (the newest experiment of that name).
        experiment: String,
    },
    /// Evolve a succeeded experiment: keep its best variants, add mutations of them up to the
    /// population size, and start the same items on the new generation.
    Evolve {
        /// exp_... or the name (the newest experiment of that name).
        experiment: String,
        /// How many of the best variants to keep.
        #[arg(long)]
        keep: u32,
        /// Variants in the new generation (the kept plus new ones).
        #[arg(long)]
        population: u32,
        /// What the mutations should try.
        #[arg(long)]
        instructions: Option<String>,
    },
    /// Delete an experiment with its items and results.
    #[command(visible_alias = "delete")]
    Rm {
        /// exp_... or the name (the newest experiment of that name).
        experiment: String,
    },
}

/// `--scorer` as typed, before `--rubric` joins it.
#[derive(Debug, Clone, PartialEq)]
pub enum ScorerKind {
    Exact,
    Contains,
    Numeric(Metric),
    JsonField(String),
    LlmJudge,
}

/// `exact`, `contains`, `numeric:mae|rmse`, `jsonField:a.b`, `llmJudge` (type names in any
/// case); the field path is checked as the server checks it.
fn parse_scorer_kind(s: &str) -> Result<ScorerKind, String> {
    let (kind, arg) = match s.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (s, None),
    };
    let kind = kind.trim().to_ascii_lowercase();
    let no_arg = |k: ScorerKind, name: &str| match arg {
        None => Ok(k),
        Some(_) => Err(format!("{name} takes nothing after ':'")),
    };
    match kind.as_str() {
        "exact" => no_arg(ScorerKind::Exact, "exact"),
        "contains" => no_arg(ScorerKind::Contains, "contains"),
        "llmjudge" => no_arg(
            ScorerKind::LlmJudge,
            "llmJudge (give the rubric with --rubric)",
        ),
        "numeric" => match arg.map(|a| a.trim().to_ascii_lowercase()).as_deref() {
            Some("mae") => Ok(ScorerKind::Numeric(Metric::Mae)),
            Some("rmse") => Ok(ScorerKind::Numeric(Metric::Rmse)),
            _ => Err("numeric needs its metric: numeric:mae or numeric:rmse".to_owned()),
        },
        "jsonfield" => {
            let field = arg.unwrap_or_default().to_owned();
            Scorer::JsonField {
                field: field.clone(),
            }
            .validate()
            .map_err(|e| format!("jsonField:FIELD.PATH, e.g. jsonField:answer.city — {e}"))?;
            Ok(ScorerKind::JsonField(field))
        }
        _ => Err(format!("unknown scorer; use one of {SCORER_FORMS}")),
    }
}

/// The scorer of `--scorer` and `--rubric`: a rubric goes with llmJudge only, and llmJudge
/// needs one.
fn scorer_of(kind: ScorerKind, rubric: Option<String>) -> anyhow::Result<Scorer> {
    let scorer = match (kind, rubric) {
        (ScorerKind::LlmJudge, Some(rubric)) => Scorer::LlmJudge { rubric },
        (ScorerKind::LlmJudge, None) => {
            return Err(Failure::usage("--scorer llmJudge needs --rubric TEXT")
                .hint("e.g. --rubric \"Is the answer correct and complete?\"")
                .into())
        }
        (_, Some(_)) => {
            return Err(Failure::usage("--rubric goes with --scorer llmJudge only").into())
        }
        (ScorerKind::Exact, None) => Scorer::Exact,
        (ScorerKind::Contains, None) => Scorer::Contains,
        (ScorerKind::Numeric(metric), None) => Scorer::Numeric { metric },
        (ScorerKind::JsonField(field), None) => Scorer::JsonField { field },
    };
    scorer
        .validate()
        .map_err(|e| Failure::usage(format!("--scorer: {e}")))?;
    Ok(scorer)
}

/// A scorer the way `--scorer` spells it (the rubric aside).
fn scorer_spec(s: &Scorer) -> String {
    match s {
        Scorer::Exact => "exact".to_owned(),
        Scorer::Contains => "contains".to_owned(),
        Scorer::Numeric {
            metric: Metric::Mae,
        } => "numeric:mae".to_owned(),
        Scorer::Numeric {
            metric: Metric::Rmse,
        } => "numeric:rmse".to_owned(),
        Scorer::JsonField { field } => format!("jsonField:{field}"),
        Scorer::LlmJudge { .. } => "llmJudge".to_owned(),
    }
}

/// The items of a local JSONL or CSV file, read with the server's parser.
fn read_items(path: &Path) -> anyhow::Result<Vec<dataset::DatasetItem>> {
    let shown = clean_line(&path.display().to_string());
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(format!("--items {shown}: {e}"))
            .hint("Give a JSONL file ({\"input\": ..., \"expected\": ...} per line) or a CSV file with input and expected columns.")
    })?;
    let format = dataset::format_of(&path.to_string_lossy());
    dataset::parse(&text, format).map_err(|e| {
        let why = e.to_string();
        let why = why.strip_prefix("dataset: ").unwrap_or(&why).to_owned();
        Failure::new(Exit::Invalid, format!("{shown}: {}", clean_line(&why)))
            .hint("Each JSONL line is an object with \"input\" (text) and \"expected\"; a CSV file has a header row with input and expected columns.")
            .into()
    })
}

/// `INSTANCE:PATH` of `--file`.
fn file_of(spec: &str) -> anyhow::Result<DatasetFile> {
    match spec.split_once(':') {
        Some((instance, path)) if !instance.is_empty() && !path.is_empty() => Ok(DatasetFile {
            instance_id: instance.to_owned(),
            path: path.to_owned(),
        }),
        _ => Err(Failure::usage(format!(
            "--file {}: expected INSTANCE:PATH, e.g. aqi-desk:data/last-week.jsonl",
            clean_line(spec)
        ))
        .into()),
    }
}

fn path_of(id: &str) -> String {
    format!("/api/experiments/{}", seg(id))
}

pub async fn run(ctx: &Ctx, cmd: ExperimentsCommand) -> anyhow::Result<()> {
    match cmd {
        ExperimentsCommand::Ls { limit } => {
            ctx.list(
                "/api/experiments",
                "experiments",
                limit,
                &["NAME", "ID", "STATUS", "VARIANTS", "ITEMS", "CREATED"],
                |e| {
                    vec![
                        cell(&e["name"]),
                        cell(&e["id"]),
                        cell(&e["status"]),
                        e["instanceIds"]
                            .as_array()
                            .map_or("-".to_owned(), |v| v.len().to_string()),
                        cell(&e["itemCount"]),
                        ago(&e["createdAt"]),
                    ]
                },
                "No experiments yet. Start one: operator experiments run NAME --variant A --variant B --items items.jsonl --scorer exact",
            )
            .await
        }
        ExperimentsCommand::Get { experiment } => {
            let id = resolve::id(ctx, EXPERIMENTS, &experiment).await?;
            let v = ctx.api.get(&path_of(&id)).await?;
            if ctx.json {
                print_json(&v);
            } else {
                show(&v["experiment"]);
            }
            Ok(())
        }
        ExperimentsCommand::Run {
            name,
            variants,
            items,
            file,
            url,
            scorer,
            rubric,
            concurrency,
            wait,
            timeout,
        } => {
            let scorer = scorer_of(scorer, rubric)?;
            let dataset = match (items, file, url) {
                (Some(path), _, _) => DatasetBody::Items(read_items(&path)?),
                (_, Some(spec), _) => DatasetBody::File(file_of(&spec)?),
                (_, _, Some(url)) => DatasetBody::Url(url),
                // clap's required group makes this unreachable; say so anyway.
                (None, None, None) => {
                    return Err(
                        Failure::usage("give the items: --items FILE, --file INSTANCE:PATH or --url URL").into(),
                    )
                }
            };
            let body = CreateExperimentBody {
                name,
                instance_ids: variants,
                dataset,
                scorer,
                concurrency,
            };
            // Listening for Ctrl-C before the experiment exists: from then on it only stops
            // the waiting.
            let sigint = if wait {
                Some(tokio::signal::unix::signal(
                    tokio::signal::unix::SignalKind::interrupt(),
                )?)
            } else {
                None
            };
            let v = ctx.api.post("/api/experiments", &body).await?;
            let e = &v["experiment"];
            let id = clean_line(e["id"].as_str().unwrap_or_default());
            let Some(mut sigint) = sigint else {
                return ctx.done(
                    &v,
                    &format!(
                        "Started experiment {} ({id}): {} items × {} variants, status {}.\nFollow it: operator experiments get {id}",
                        cell(&e["name"]),
                        cell(&e["itemCount"]),
                        e["instanceIds"].as_array().map_or(0, Vec::len),
                        cell(&e["status"]),
                    ),
                );
            };
            if !ctx.json {
                println!(
                    "Started experiment {} ({id}); waiting for it to end (Ctrl-C stops waiting, not the experiment).",
                    cell(&e["name"])
                );
            }
            let wait_for = Duration::from_secs(timeout.unwrap_or(DEFAULT_WAIT_SECS));
            let v = wait_ended(ctx, &id, wait_for, &mut sigint).await?;
            let e = &v["experiment"];
            if ctx.json {
                print_json(&v);
            } else {
                show(e);
            }
            match e["status"].as_str() {
                Some("succeeded") => Ok(()),
                Some("cancelled") => Err(Failure::new(
                    Exit::Unexpected,
                    format!("experiment {id} was cancelled"),
                )
                .into()),
                _ => Err(Failure::new(
                    Exit::Unexpected,
                    format!("experiment {id} failed: {}", cell(&e["error"])),
                )
                .hint(format!(
                    "Its per-item results: operator experiments results {id}"
                ))
                .into()),
            }
        }
        ExperimentsCommand::Results {
            experiment,
            variant,
            limit,
        } => {
            let id = resolve::id(ctx, EXPERIMENTS, &experiment).await?;
            // The variants' names, from the leaderboard (results carry instance ids).
            let v = ctx.api.get(&path_of(&id)).await?;
            let names: HashMap<String, String> = v["experiment"]["leaderboard"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| {
                    Some((
                        s["instanceId"].as_str()?.to_owned(),
                        s["instanceName"].as_str()?.to_owned(),
                    ))
                })
                .collect();
            let mut path = format!("{}/results", path_of(&id));
            if let Some(var) = &variant {
                path.push_str(&format!("?instanceId={}", seg(var)));
            }
            ctx.list(
                &path,
                "results",
                limit,
                &["ITEM", "VARIANT", "SCORE", "OUTPUT", "ERROR"],
                |r| {
                    let variant = r["instanceId"]
                        .as_str()
                        .and_then(|i| names.get(i))
                        .map_or_else(|| cell(&r["instanceId"]), |n| clean_line(n));
                    vec![
                        cell(&r["itemIndex"]),
                        variant,
                        r["score"].as_f64().map_or("-".to_owned(), sig4),
                        cut(&cell(&r["output"]), CELL_CHARS),
                        cut(&cell(&r["error"]), CELL_CHARS),
                    ]
                },
                "No results yet.",
            )
            .await
        }
        ExperimentsCommand::Cancel { experiment } => {
            let id = resolve::id(ctx, EXPERIMENTS, &experiment).await?;
            let v = ctx.api.post_empty(&format!("{}/cancel", path_of(&id))).await?;
            let e = &v["experiment"];
            let sentence = if e["status"] == "cancelled" {
                format!(
                    "Cancelled experiment {} ({id}): items not yet sent will not be; results so far stay.",
                    cell(&e["name"])
                )
            } else {
                format!(
                    "Experiment {} ({id}) had already ended: {}.",
                    cell(&e["name"]),
                    cell(&e["status"])
                )
            };
            ctx.done(&v, &sentence)
        }
        ExperimentsCommand::Evolve {
            experiment,
            keep,
            population,
            instructions,
        } => {
            let id = resolve::id(ctx, EXPERIMENTS, &experiment).await?;
            let body = operator_core::views::EvolveBody {
                keep,
                population_size: population,
                instructions,
            };
            let v = ctx.api.post(&format!("{}/evolve", path_of(&id)), &body).await?;
            let next = cell(&v["experiment"]["id"]);
            ctx.done(
                &v,
                &format!(
                    "{} Follow it: operator experiments get {next}",
                    clean_line(v["note"].as_str().unwrap_or_default())
                ),
            )
        }
        ExperimentsCommand::Rm { experiment } => {
            let id = resolve::id(ctx, EXPERIMENTS, &experiment).await?;
            let v = ctx.api.delete(&path_of(&id)).await?;
            ctx.done(&v, &format!("Deleted experiment {}.", clean_line(&experiment)))
        }
    }
}

/// Polls until the experiment has ended (its answer). Ctrl-C, or `wait_for` running out,
/// stops following it and says how to look again; the experiment goes on.
async fn wait_ended(
    ctx: &Ctx,
    id: &str,
    wait_for: Duration,
    sigint: &mut tokio::signal::unix::Signal,
) -> anyhow::Result<Value> {
    let follow = format!("Follow it: operator experiments get {id}");
    let deadline = tokio::time::Instant::now() + wait_for;
    let mut last = String::new();
    let path = path_of(id);
    loop {
        let v = tokio::select! {
            v = ctx.api.get(&path) => v?,
            _ = sigint.recv() => return Err(interrupted(id, &follow)),
        };
        let e = &v["experiment"];
        let status = e["status"].as_str().unwrap_or_default();
        if matches!(status, "succeeded" | "failed" | "cancelled") {
            return Ok(v);
        }
        let now = format!(
            "{}: {}/{} done",
            cell(&e["status"]),
            cell(&e["progress"]["done"]),
            cell(&e["progress"]["total"])
        );
        if now != last {
            eprintln!("{now}");
            last = now;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::new(
                Exit::Unexpected,
                format!(
                    "experiment {id} has not ended after {} s; it keeps running on the server",
                    wait_for.as_secs()
                ),
            )
            .hint(follow)
            .into());
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = sigint.recv() => return Err(interrupted(id, &follow)),
        }
    }
}

fn interrupted(id: &str, follow: &str) -> anyhow::Error {
    Failure::new(Exit::Interrupted, "interrupted")
        .hint(format!(
            "Stopped waiting; experiment {id} keeps running on the server.\n{follow}"
        ))
        .into()
}

#[cfg(test)]
mod tests;
