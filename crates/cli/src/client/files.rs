//! `instances files ls|cat|put`: an instance's workspace through `/api/instances/{id}/files`.

use super::instances::{path_of, write_out};
use super::output::{ago, cell, clean_line, print_json, Table};
use super::Ctx;
use crate::exit::{Exit, Failure};
use base64::Engine;
use clap::Subcommand;
use operator_instance_api::FileNode;
use reqwest::Method;
use serde_json::Value;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
#[derive(Subcommand)]
pub enum FilesCommand {
    /// List a folder (default the workspace root).
    #[command(visible_alias = "list")]
    Ls {
        instance: String,
        /// Relative to the workspace root.
        path: Option<String>,
    },
    /// Print a file.
    Cat { instance: String, path: String },
    /// Write a file from a local file, or from stdin without one (or with -).
    Put {
        instance: String,
        /// Where, relative to the workspace root.
        path: String,
        /// The local file to upload.
        source: Option<PathBuf>,
    },
}

pub async fn run(ctx: &Ctx, cmd: FilesCommand) -> anyhow::Result<()> {
    match cmd {
        FilesCommand::Ls { instance, path } => {
            let v = read_node(ctx, &instance, path.as_deref().unwrap_or("")).await?;
            if ctx.json {
                print_json(&v);
                return Ok(());
            }
            match node(&v)? {
                FileNode::Directory { entries, path } => {
                    let mut t = Table::new(&["TYPE", "SIZE", "MODIFIED", "NAME"]);
                    for e in entries {
                        let kind = serde_json::to_value(e.kind).unwrap_or(Value::Null);
                        t.row(vec![
                            cell(&kind),
                            e.size.to_string(),
                            ago(&e.modified_at.map(Value::String).unwrap_or(Value::Null)),
                            clean_line(&e.name),
                        ]);
                    }
                    t.print_or(&format!("{} is empty.", display_path(&path)));
                }
                FileNode::File { path, size, .. } => {
                    println!(
                        "{} is a file ({size} bytes): operator instances files cat {} {}",
                        display_path(&path),
                        clean_line(&instance),
                        clean_line(&path)
                    );
                }
            }
            Ok(())
        }
        FilesCommand::Cat { instance, path } => {
            let v = read_node(ctx, &instance, &path).await?;
            if ctx.json {
                print_json(&v);
                return Ok(());
            }
            match node(&v)? {
                FileNode::File {
                    encoding, content, ..
                } => {
                    let bytes = if encoding == "base64" {
                        base64::engine::general_purpose::STANDARD
                            .decode(content.as_bytes())
                            .map_err(|e| anyhow::anyhow!("the file's base64 is invalid: {e}"))?
                    } else {
                        content.into_bytes()
                    };
                    write_out(&mut std::io::stdout(), &bytes);
                    Ok(())
                }
                FileNode::Directory { path, .. } => Err(Failure::new(
                    Exit::Invalid,
                    format!("{} is a folder", display_path(&path)),
                )
                .hint(format!(
                    "List it: operator instances files ls {} {}",
                    clean_line(&instance),
                    clean_line(&path)
                ))
                .into()),
            }
        }
        FilesCommand::Put {
            instance,
            path,
            source,
        } => {
            let bytes = match source.as_deref() {
                Some(p) if p != std::path::Path::new("-") => std::fs::read(p)
                    .map_err(|e| Failure::usage(format!("cannot read {}: {e}", p.display())))?,
                _ => {
                    if std::io::stdin().is_terminal() {
                        eprintln!("Reading the file's content from stdin (end with Ctrl-D)...");
                    }
                    let mut b = vec![];
                    std::io::stdin().read_to_end(&mut b)?;
                    b
                }
            };
            let rb = ctx
                .api
                .request(Method::PUT, &format!("{}/files", path_of(&instance)))
                .query(&[("path", path.as_str())])
                .body(bytes);
            let v = ctx.api.json(rb).await?;
            ctx.done(
                &v,
                &format!("Wrote {} ({} bytes).", cell(&v["path"]), cell(&v["size"])),
            )
        }
    }
}

async fn read_node(ctx: &Ctx, instance: &str, path: &str) -> anyhow::Result<Value> {
    let rb = ctx
        .api
        .request(Method::GET, &format!("{}/files", path_of(instance)))
        .query(&[("path", path)]);
    ctx.api.json(rb).await
}

fn node(v: &Value) -> anyhow::Result<FileNode> {
    serde_json::from_value(v.clone())
        .map_err(|e| Failure::new(Exit::Unexpected, format!("unexpected files answer: {e}")).into())
}

fn display_path(p: &str) -> String {
    if p.is_empty() {
        "The workspace root".to_owned()
    } else {
        clean_line(p)
    }
}
