//! The `operator` command-line client, each command run as a real process with `HOME` in a
//! temporary folder, against a real `operator serve` (and the scripted fake LLM), and the admin
//! commands against a data directory and the AWS emulator.

use crate::support::aws_env::{provision, sibling_binary};
use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::lambda::RuntimeApi;
use crate::support::*;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// What a finished command left.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
}

/// A user of the CLI: their own `HOME`, and nothing of the test process's settings.
struct User {
    home: tempfile::TempDir,
}

impl User {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn config_path(&self) -> PathBuf {
        self.home.path().join(".operator").join("config.json")
    }

    fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.config_path()).unwrap()).unwrap()
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(BIN);
        c.args(args)
            .env("HOME", self.home.path())
            .env_remove("OPERATOR_API_KEY")
            .env_remove("OPERATOR_URL")
            .env_remove("OPERATOR_DATA_DIR")
            .env_remove("OPERATOR_TABLE")
            .env_remove("OPERATOR_MASTER_KEY")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    async fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, &[], None).await
    }

    async fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Out {
        let mut c = self.command(args, env);
        if stdin.is_some() {
            c.stdin(Stdio::piped());
        }
        let mut child = c.spawn().expect("start operator");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).await.unwrap();
            drop(pipe);
        }
        let out = child.wait_with_output().await.unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Logs in with `key` and returns the result.
    async fn login(&self, app: &App, key: &str) -> Out {
        self.run(&["login", "--url", &app.base, "--key", key]).await
    }
}

/// A command still running, its output lines arriving on channels.
struct Running {
    child: tokio::process::Child,
    stdout: tokio::sync::mpsc::UnboundedReceiver<String>,
    stderr: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen_out: Vec<String>,
    seen_err: Vec<String>,
}

impl Running {
    fn start(mut c: tokio::process::Command) -> Self {
        let mut child = c.spawn().expect("start operator");
        let pipe = |r: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(r).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stdout = pipe(Box::new(child.stdout.take().unwrap()));
        let stderr = pipe(Box::new(child.stderr.take().unwrap()));
        Self {
            child,
            stdout,
            stderr,
            seen_out: vec![],
            seen_err: vec![],
        }
    }

    /// Waits (up to 30 s) for a stderr line containing `needle`.
    async fn stderr_line(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(l) = self.stderr.recv().await {
                self.seen_err.push(l.clone());
                if l.contains(needle) {
                    return Some(l);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(l)) => l,
            _ => panic!("no stderr line with {needle:?}; saw {:?}", self.seen_err),
        }
    }

    /// Waits (up to 30 s) for a stdout line containing `needle`.
    async fn stdout_line(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(l) = self.stdout.recv().await {
                self.seen_out.push(l.clone());
                if l.contains(needle) {
                    return Some(l);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(l)) => l,
            _ => panic!("no stdout line with {needle:?}; saw {:?}", self.seen_out),
        }
    }

    /// Waits (up to 30 s) for the exit; the exit code and all the output.
    async fn finish(mut self) -> Out {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the command did not end")
            .unwrap();
        while let Some(l) = self.stdout.recv().await {
            self.seen_out.push(l);
        }
        while let Some(l) = self.stderr.recv().await {
            self.seen_err.push(l);
        }
        Out {
            code: status.code().unwrap_or(-1),
            stdout: self.seen_out.join("\n"),
            stderr: self.seen_err.join("\n"),
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_chat_and_list_from_the_command_line() {
    // GIVEN a server whose model creates an instance when asked, then answers
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "create_instance".into(),
            json!({"name": "cli-desk"}),
        )]),
        Reply::Text("Created cli-desk for you.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let user = User::new();

    // WHEN the user logs in with a key
    let login = user.login(&app, &app.key).await.ok();
    // THEN the config file holds it, readable by the user only
    assert!(login.stdout.contains("Logged in to"), "{login:?}");
    let config = user.config();
    assert_eq!(config["operatorApiKey"], app.key);
    assert_eq!(config["operatorAppUrl"], app.base);
    assert_eq!(mode(&user.config_path()), 0o600);
    assert_eq!(mode(user.config_path().parent().unwrap()), 0o700);
    assert!(!login.stdout.contains(&app.key) && !login.stderr.contains(&app.key));

    // WHEN they ask the Operator agent for an instance
    let chat = user
        .run(&["chat", "Create an instance called cli-desk."])
        .await
        .ok();
    // THEN the tool step and the answer stream to stdout, in order, and the chat id follows
    let tool = chat
        .stdout
        .find(r#"→ create_instance {"name":"cli-desk"}"#)
        .unwrap_or_else(|| panic!("no tool line: {chat:?}"));
    let done = chat
        .stdout
        .find("✓ create_instance")
        .unwrap_or_else(|| panic!("no tool result: {chat:?}"));
    let answer = chat
        .stdout
        .find("Created cli-desk for you.")
        .unwrap_or_else(|| panic!("no answer: {chat:?}"));
    assert!(tool < done && done < answer, "{chat:?}");
    assert!(
        chat.stderr.contains("operator chat --chat chat_"),
        "{chat:?}"
    );

    // AND `instances ls --json` lists it, as the API's JSON
    let ls = user.run(&["instances", "ls", "--json"]).await.ok().json();
    let names: Vec<&str> = ls["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, ["cli-desk"], "{ls}");
    assert!(ls["nextCursor"].is_null(), "{ls}");
    // while the default is a table
    let table = user.run(&["instances", "ls"]).await.ok();
    let mut lines = table.stdout.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("STATUS"),
        "{table:?}"
    );
    assert!(lines.next().unwrap().starts_with("cli-desk "), "{table:?}");
    assert!(serde_json::from_str::<Value>(&table.stdout).is_err());
    // and `list` is `ls` (never the internal runtime command)
    user.run(&["instances", "list"]).await.ok();

    // WHEN a wrong key is given
    let wrong = user.login(&app, &random_key()).await;
    // THEN it is refused with exit code 2 and what to do, and the saved key stays
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(wrong.stderr.contains("refused"), "{wrong:?}");
    assert!(wrong.stderr.contains("operator login"), "{wrong:?}");
    assert_eq!(user.config()["operatorApiKey"], app.key);
    // and a refused key in the environment says the same
    let refused = user
        .run_with(
            &["instances", "ls"],
            &[("OPERATOR_API_KEY", &random_key())],
            None,
        )
        .await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("operator login"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_overrides_the_config_file_and_logout_forgets_the_key() {
    let app = App::spawn().await;
    let user = User::new();
    // GIVEN no key anywhere: a clear usage error
    let none = user.run(&["whoami"]).await;
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.stderr.contains("operator login"), "{none:?}");

    // GIVEN a config file pointing at nothing
    std::fs::create_dir_all(user.config_path().parent().unwrap()).unwrap();
    std::fs::write(
        user.config_path(),
        json!({"operatorApiKey": random_key(), "operatorAppUrl": "http://127.0.0.1:9"}).to_string(),
    )
    .unwrap();
    let unreachable = user.run(&["whoami"]).await;
    assert_eq!(unreachable.code, 5, "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("http://127.0.0.1:9"),
        "{unreachable:?}"
    );
    // WHEN OPERATOR_URL and OPERATOR_API_KEY are set
    let env = [
        ("OPERATOR_URL", app.base.as_str()),
        ("OPERATOR_API_KEY", app.key.as_str()),
    ];
    let who = user.run_with(&["whoami"], &env, None).await.ok();
    // THEN they win, and the key itself is never printed
    assert!(who.stdout.contains("from OPERATOR_URL"), "{who:?}");
    assert!(who.stdout.contains("from OPERATOR_API_KEY"), "{who:?}");
    assert!(!who.stdout.contains(&app.key) && !who.stderr.contains(&app.key));
    let who = user
        .run_with(&["whoami", "--json"], &env, None)
        .await
        .ok()
        .json();
    assert_eq!(who["authenticated"], true);
    assert_eq!(who["operatorAppUrl"], app.base);
    assert!(who["accountId"].as_str().unwrap().starts_with("acct_"));

    // WHEN the user logs in and out
    user.login(&app, &app.key).await.ok();
    user.run(&["whoami"]).await.ok();
    let out = user.run(&["logout"]).await.ok();
    assert!(out.stdout.contains("Logged out"), "{out:?}");
    // THEN the key is gone from the file (the URL stays) and commands ask for a login
    let config = user.config();
    assert!(config.get("operatorApiKey").is_none(), "{config}");
    assert_eq!(config["operatorAppUrl"], app.base);
    assert_eq!(mode(&user.config_path()), 0o600);
    let after = user.run(&["instances", "ls"]).await;
    assert_eq!(after.code, 2, "{after:?}");
    assert!(
        after
            .stderr
            .contains(&format!("operator login --url {}", app.base)),
        "{after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_login_receives_a_key_once_the_session_is_approved() {
    let app = App::spawn().await;
    let user = User::new();
    // WHEN the user logs in without a key (no display, no terminal: the link only)
    let mut login = Running::start(user.command(&["login", "--url", &app.base], &[]));
    let line = login.stderr_line("/auth/cli?session=").await;
    let link = line.trim();
    assert!(
        link.starts_with(&format!("{}/auth/cli?session=", app.base)),
        "{link}"
    );
    let session = link.rsplit("session=").next().unwrap().to_owned();
    assert_eq!(session.len(), 36, "{session}");
    // AND approves the session in the console (as the signed-in user)
    let (status, body) = app
        .post("/api/cli/approve", json!({"session": session}))
        .await;
    assert_eq!(status, 200, "{body}");
    // THEN the CLI's poll gets a new key and saves it
    let out = login.finish().await;
    assert_eq!(out.code, 0, "{out:?}");
    let key = user.config()["operatorApiKey"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ck_live_") && key != app.key, "{key}");
    assert_eq!(mode(&user.config_path()), 0o600);
    assert!(!out.stdout.contains(&key) && !out.stderr.contains(&key));
    // AND it works, as a key of the approving account named after the login
    let who = user.run(&["whoami", "--json"]).await.ok().json();
    let (_, mine) = app.get("/api/cli/health").await;
    assert_eq!(who["accountId"], mine["accountId"]);
    let keys = user.run(&["keys", "ls", "--json"]).await.ok().json();
    assert!(
        keys["keys"].as_array().unwrap().iter().any(|k| k["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("CLI login"))),
        "{keys}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_leaves_the_turn_running_and_attach_picks_it_up() {
    // GIVEN a turn that lists instances, then waits on the model
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![("list_instances".into(), json!({}))]),
        Reply::Held("Done after the wait.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let user = User::new();
    user.login(&app, &app.key).await.ok();
    let mut chat = Running::start(user.command(&["chat", "List my instances, slowly."], &[]));
    chat.stdout_line("✓ list_instances").await;
    eventually(30, || async { (llm.held_now() == 1).then_some(()) })
        .await
        .expect("the model call is held");
    // WHEN the user presses Ctrl-C during the turn
    let pid = chat.child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = chat.finish().await;
    // THEN the CLI stops following, says the turn goes on, and how to re-attach
    assert_eq!(out.code, 130, "{out:?}");
    assert!(
        out.stderr.contains("keeps running on the server"),
        "{out:?}"
    );
    let again = out
        .stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("operator "))
        .unwrap_or_else(|| panic!("no re-attach command: {out:?}"))
        .to_owned();
    let args: Vec<&str> = again.split_whitespace().collect();
    assert_eq!(args[..2], ["chat", "--chat"], "{again}");
    assert!(args[2].starts_with("chat_"), "{again}");
    assert!(
        args.contains(&"--attach") && args.contains(&"--after"),
        "{again}"
    );
    // WHEN the model answers and the user re-attaches with that command
    llm.release_held();
    let attached = user.run(&args).await.ok();
    // THEN the rest of the turn arrives (not what was already shown)
    assert!(
        attached.stdout.contains("Done after the wait."),
        "{attached:?}"
    );
    assert!(!attached.stdout.contains("list_instances"), "{attached:?}");
    // AND once it has finished, re-attaching says nothing is running
    let idle = user.run(&args[..4]).await.ok();
    assert!(idle.stderr.contains("Nothing is running"), "{idle:?}");
    assert!(idle.stdout.is_empty(), "{idle:?}");
    // while --after 0 replays the whole turn
    let replay = user
        .run(&[&args[..4], &["--after", "0"]].concat())
        .await
        .ok();
    assert!(replay.stdout.contains("→ list_instances {}"), "{replay:?}");
    assert!(replay.stdout.contains("Done after the wait."), "{replay:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_answers_as_json_and_line_by_line_in_one_chat() {
    let llm = FakeLlm::start(vec![
        Reply::Text("Hello as JSON.".into()),
        Reply::Text("First answer.".into()),
        Reply::Text("Second answer.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let user = User::new();
    user.login(&app, &app.key).await.ok();
    // WHEN --json: the API's {chatId, text}
    let v = user
        .run(&["chat", "--json", "Say hello."])
        .await
        .ok()
        .json();
    assert_eq!(v["text"], "Hello as JSON.", "{v}");
    assert!(v["chatId"].as_str().unwrap().starts_with("chat_"));
    // WHEN messages come line by line on stdin (no TEXT)
    let out = user
        .run_with(&["chat"], &[], Some("first question\n\nsecond question\n"))
        .await
        .ok();
    // THEN each gets its answer, in one new chat
    let first = out.stdout.find("First answer.").expect("first answer");
    let second = out.stdout.find("Second answer.").expect("second answer");
    assert!(first < second, "{out:?}");
    let id = out
        .stderr
        .split("operator chat --chat ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no chat id: {out:?}"))
        .to_owned();
    let (_, chat) = app.get(&format!("/api/chat/{id}")).await;
    let roles: Vec<&str> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"], "{chat}");
    assert_ne!(v["chatId"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_are_read_from_stdin_and_never_echoed() {
    let app = App::spawn().await;
    let user = User::new();
    user.login(&app, &app.key).await.ok();
    user.run(&["instances", "create", "vault-desk", "--wait"])
        .await
        .ok();
    // WHEN a value is piped in
    let first = "first-value-Qz81";
    let set = user
        .run_with(
            &["secrets", "set", "API_TOKEN"],
            &[],
            Some(&format!("{first}\n")),
        )
        .await
        .ok();
    // THEN it is stored, and shown nowhere
    assert!(set.stdout.contains("Created secret API_TOKEN"), "{set:?}");
    assert!(!set.stdout.contains(first) && !set.stderr.contains(first));
    // AND rotating it with --json prints the API's answer without the value
    let rotated = "rotated-value-Wx29";
    let v = user
        .run_with(
            &["secrets", "set", "API_TOKEN", "--json"],
            &[],
            Some(rotated),
        )
        .await
        .ok();
    assert!(!v.stdout.contains(rotated) && !v.stderr.contains(rotated));
    let v = v.json();
    assert_eq!(v["secret"]["name"], "API_TOKEN");
    assert!(v["secret"].get("value").is_none(), "{v}");
    let ls = user.run(&["secrets", "ls"]).await.ok();
    assert!(ls.stdout.contains("API_TOKEN") && !ls.stdout.contains(rotated));
    // AND an instance it is granted to reads the new value
    user.run(&["secrets", "grant", "API_TOKEN", "vault-desk"])
        .await
        .ok();
    let read = user
        .run(&[
            "instances",
            "exec",
            "vault-desk",
            "--",
            "operator-instance",
            "secret",
            "API_TOKEN",
        ])
        .await
        .ok();
    assert_eq!(read.stdout.trim(), rotated, "{read:?}");
    user.run(&["secrets", "revoke", "API_TOKEN", "vault-desk"])
        .await
        .ok();
    let denied = user
        .run(&[
            "instances",
            "exec",
            "vault-desk",
            "--",
            "operator-instance",
            "secret",
            "API_TOKEN",
        ])
        .await;
    assert_ne!(denied.code, 0, "{denied:?}");
    // AND no value at all is a usage error
    let empty = user.run(&["secrets", "set", "EMPTY_ONE"]).await;
    assert_eq!(empty.code, 2, "{empty:?}");
    assert!(empty.stderr.contains("empty"), "{empty:?}");
    // AND files go in and out of the workspace through the same client
    user.run_with(
        &["instances", "files", "put", "vault-desk", "notes/todo.md"],
        &[],
        Some("- ship the CLI\n"),
    )
    .await
    .ok();
    let cat = user
        .run(&["instances", "files", "cat", "vault-desk", "notes/todo.md"])
        .await
        .ok();
    assert_eq!(cat.stdout, "- ship the CLI\n");
    let files = user
        .run(&["instances", "files", "ls", "vault-desk", "notes"])
        .await
        .ok();
    assert!(files.stdout.contains("todo.md"), "{files:?}");
    user.run(&["secrets", "rm", "API_TOKEN"]).await.ok();
    let gone = user.run(&["secrets", "ls", "--json"]).await.ok().json();
    assert_eq!(gone["secrets"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_exit_by_class_and_say_what_to_do() {
    let app = App::spawn().await;
    let user = User::new();
    user.login(&app, &app.key).await.ok();
    // 404 → 3, naming the list to check
    let missing = user.run(&["instances", "get", "no-such-desk"]).await;
    assert_eq!(missing.code, 3, "{missing:?}");
    assert!(missing.stderr.contains("not found"), "{missing:?}");
    assert!(
        missing.stderr.contains("operator instances ls"),
        "{missing:?}"
    );
    let by_name = user.run(&["automations", "rm", "no-such-automation"]).await;
    assert_eq!(by_name.code, 3, "{by_name:?}");
    // 400 → 4 with the server's reason
    let invalid = user
        .run(&[
            "automations",
            "create",
            "brief",
            "--cron",
            "nope",
            "--prompt",
            "Summarise.",
        ])
        .await;
    assert_eq!(invalid.code, 4, "{invalid:?}");
    assert!(invalid.stderr.contains("cronExpression"), "{invalid:?}");
    // 503 llm_unavailable → 1, saying what the server needs
    let no_llm = user.run(&["chat", "Hello?"]).await;
    assert_eq!(no_llm.code, 1, "{no_llm:?}");
    assert!(no_llm.stderr.contains("OPERATOR_LLM"), "{no_llm:?}");
    // unreachable → 5
    let down = user
        .run_with(
            &["instances", "ls"],
            &[("OPERATOR_URL", "http://127.0.0.1:9")],
            None,
        )
        .await;
    assert_eq!(down.code, 5, "{down:?}");
    // usage → 2; a near miss suggests the real command, never the internal runtime
    let usage = user.run(&["instances", "ls", "--bogus"]).await;
    assert_eq!(usage.code, 2, "{usage:?}");
    let typo = user.run(&["instanc", "ls"]).await;
    assert_eq!(typo.code, 2, "{typo:?}");
    assert!(typo.stderr.contains("instances"), "{typo:?}");
    assert!(!typo.stderr.contains("runtime"), "{typo:?}");
    let help = user.run(&["--help"]).await.ok();
    assert!(!help.stdout.contains("runtime"), "{help:?}");
    assert!(help.stdout.contains("Exit codes"), "{help:?}");
    // capacity (402) → 6: a basic account has room for one instance
    let (_, basic) = app.create_account("basic");
    let env = [("OPERATOR_API_KEY", basic.as_str())];
    user.run_with(&["instances", "create", "only-one", "--wait"], &env, None)
        .await
        .ok();
    let full = user
        .run_with(&["instances", "create", "one-too-many"], &env, None)
        .await;
    assert_eq!(full.code, 6, "{full:?}");
    assert!(full.stderr.contains("capacity"), "{full:?}");
    // a command run in an instance exits with its own code
    let exec = user
        .run_with(
            &["instances", "exec", "only-one", "--", "echo out; exit 7"],
            &env,
            None,
        )
        .await;
    assert_eq!(exec.code, 7, "{exec:?}");
    assert_eq!(exec.stdout, "out\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_use_the_servers_data_directory_and_refuse_a_missing_one() {
    let app = App::spawn().await;
    let user = User::new();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-a-data-dir");
    // WHEN pointed at a folder that holds no platform
    for args in [
        vec!["keys", "create", "--account", "acct_01abc", "--data-dir"],
        vec!["accounts", "create", "--data-dir"],
    ] {
        let out = user
            .run(&[args.as_slice(), &[missing.to_str().unwrap()]].concat())
            .await;
        // THEN they refuse, say which folder to pass, and create nothing
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("holds no Operator data"), "{out:?}");
        assert!(out.stderr.contains("--data-dir"), "{out:?}");
        assert!(!missing.exists());
    }
    // and the default (./.operator of the working directory) is refused the same way
    let mut c = user.command(&["accounts", "create"], &[]);
    c.current_dir(dir.path());
    let out = c.output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join(".operator").exists());

    // WHEN pointed at the server's data directory
    let data = app.data_dir.to_str().unwrap();
    let created = user
        .run(&["accounts", "create", "--plan", "max", "--data-dir", data])
        .await
        .ok()
        .json();
    let (account, key) = (
        created["accountId"].as_str().unwrap(),
        created["key"].as_str().unwrap(),
    );
    // THEN the new account's key works through the API, on its plan
    let env = [
        ("OPERATOR_URL", app.base.as_str()),
        ("OPERATOR_API_KEY", key),
    ];
    let who = user
        .run_with(&["whoami", "--json"], &env, None)
        .await
        .ok()
        .json();
    assert_eq!(who["accountId"], account);
    assert_eq!(who["planSlug"], "max");
    // AND a second key for it too
    let second = user
        .run(&[
            "keys",
            "create",
            "--account",
            account,
            "--name",
            "ci",
            "--data-dir",
            data,
        ])
        .await
        .ok()
        .json();
    let env = [
        ("OPERATOR_URL", app.base.as_str()),
        ("OPERATOR_API_KEY", second["key"].as_str().unwrap()),
    ];
    let keys = user
        .run_with(&["keys", "ls", "--json"], &env, None)
        .await
        .ok()
        .json();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "{keys}");
    // AND an unknown account is 3, a malformed one 2
    let unknown = user
        .run(&[
            "keys",
            "create",
            "--account",
            "acct_01doesnotexist",
            "--data-dir",
            data,
        ])
        .await;
    assert_eq!(unknown.code, 3, "{unknown:?}");
    let malformed = user
        .run(&["keys", "create", "--account", "nope", "--data-dir", data])
        .await;
    assert_eq!(malformed.code, 2, "{malformed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_commands_create_accounts_and_keys_on_an_aws_deployment() {
    // GIVEN an AWS deployment on the emulator, its API function behind the Lambda runtime
    let aws = provision("https://abc123.lambda-url.us-east-1.on.aws").await;
    let dir = tempfile::tempdir().unwrap();
    let lambda = RuntimeApi::start().await;
    let mut fenv = aws.env.clone();
    fenv.extend(lambda.env());
    fenv.retain(|(k, _)| *k != "OPERATOR_PUBLIC_URL");
    let log = std::fs::File::create(dir.path().join("api.log")).unwrap();
    let mut api = std::process::Command::new(sibling_binary("api"));
    api.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    for (k, v) in &fenv {
        api.env(k, v);
    }
    let _function = Killed(api.spawn().unwrap());
    let user = User::new();
    // The admin's environment: the stack's table, the AWS credentials and region.
    let admin_env: Vec<(&str, &str)> = aws
        .env
        .iter()
        .filter(|(k, _)| {
            matches!(
                *k,
                "OPERATOR_AWS_ENDPOINT_URL"
                    | "AWS_REGION"
                    | "AWS_ACCESS_KEY_ID"
                    | "AWS_SECRET_ACCESS_KEY"
            )
        })
        .map(|(k, v)| (*k, v.as_str()))
        .collect();

    // WHEN an account is created with --aws and the stack's table
    let mut env = admin_env.clone();
    env.push(("OPERATOR_TABLE", &aws.table));
    let created = user
        .run_with(
            &["accounts", "create", "--aws", "--plan", "max"],
            &env,
            None,
        )
        .await
        .ok()
        .json();
    let account = created["accountId"].as_str().unwrap();
    let key = created["key"].as_str().unwrap();
    // THEN its key opens the deployment's API, on that account and plan
    let auth = format!("Bearer {key}");
    let who = lambda
        .invoke("GET", "/api/cli/health", &[("authorization", &auth)], None)
        .await;
    assert_eq!(who.status, 200);
    let who = who.json().await;
    assert_eq!(who["accountId"], account, "{who}");
    assert_eq!(who["planSlug"], "max", "{who}");
    // AND a second key made with `keys create --aws --account` works too
    let second = user
        .run_with(
            &[
                "keys",
                "create",
                "--aws",
                "--table",
                &aws.table,
                "--account",
                account,
            ],
            &admin_env,
            None,
        )
        .await
        .ok()
        .json();
    let auth = format!("Bearer {}", second["key"].as_str().unwrap());
    let listed = lambda
        .invoke("GET", "/api/chat-keys", &[("authorization", &auth)], None)
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json().await["keys"].as_array().unwrap().len(), 2);
    // AND a wrong table, or none, is refused before anything is written
    let mut wrong = admin_env.clone();
    wrong.push(("OPERATOR_TABLE", "no-such-table"));
    let out = user
        .run_with(&["accounts", "create", "--aws"], &wrong, None)
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("no-such-table does not exist"),
        "{out:?}"
    );
    let out = user
        .run_with(&["accounts", "create", "--aws"], &admin_env, None)
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("OPERATOR_TABLE"), "{out:?}");
    // AND an account that is not in the table is 3
    let out = user
        .run_with(
            &["keys", "create", "--aws", "--account", "acct_01notthere"],
            &env,
            None,
        )
        .await;
    assert_eq!(out.code, 3, "{out:?}");
}

/// A process killed (SIGKILL) when the test ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The subcommands `operator <path...> --help` lists (without `help`).
async fn subcommands(user: &User, path: &[&str]) -> Vec<String> {
    let out = user.run(&[path, &["--help"]].concat()).await.ok();
    out.stdout
        .split("Commands:\n")
        .nth(1)
        .map(|rest| {
            rest.lines()
                .take_while(|l| l.starts_with("  "))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|c| *c != "help")
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_guide_shows_every_command() {
    // docs/cli.md has an example of each command the CLI has, so the two cannot drift.
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md")).unwrap();
    let user = User::new();
    let mut missing = vec![];
    let mut pending: Vec<Vec<String>> = vec![vec![]];
    let mut checked = 0;
    while let Some(path) = pending.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let subs = subcommands(&user, &args).await;
        if subs.is_empty() {
            let example = format!("operator {}", path.join(" "));
            checked += 1;
            if !guide.contains(&example) {
                missing.push(example);
            }
        }
        for s in subs {
            pending.push([path.clone(), vec![s]].concat());
        }
    }
    assert!(checked > 30, "only {checked} commands found");
    assert!(
        missing.is_empty(),
        "docs/cli.md has no example of: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiments_run_from_a_local_file_wait_for_the_leaderboard_and_read_back() {
    // GIVEN two live variants whose agents answer in turn (one lane: item 0 on alpha, item 0
    // on beta, item 1 ...): alpha right every time, beta once; then one answer held back
    let llm = FakeLlm::start(vec![
        Reply::Text("Paris".into()),
        Reply::Text("Lyon".into()),
        Reply::Text(" berlin ".into()),
        Reply::Text("Berlin".into()),
        Reply::Text("Rome".into()),
        Reply::Text("Milan".into()),
        Reply::Held("Madrid".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let alpha = app.active_instance("alpha").await;
    let beta = app.active_instance("beta").await;
    let user = User::new();
    user.login(&app, &app.key).await.ok();
    let dir = tempfile::tempdir().unwrap();
    let items = dir.path().join("capitals.jsonl");
    std::fs::write(
        &items,
        concat!(
            "{\"input\": \"Capital of France?\", \"expected\": \"paris\"}\n",
            "{\"input\": \"Capital of Germany?\", \"expected\": \"Berlin\"}\n",
            "\n",
            "{\"input\": \"Capital of Italy?\", \"expected\": \"Rome\"}\n"
        ),
    )
    .unwrap();
    let items = items.to_str().unwrap();

    // WHEN the user runs an experiment from the local file and waits for it
    let run = user
        .run(&[
            "experiments",
            "run",
            "capitals",
            "--variant",
            "alpha",
            "--variant",
            "beta",
            "--items",
            items,
            "--scorer",
            "exact",
            "--concurrency",
            "1",
            "--wait",
        ])
        .await
        .ok();
    // THEN it prints the id, then the leaderboard: alpha first with 1.000, beta 0.3333
    let id = run
        .stdout
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ';')
        .find(|w| w.starts_with("exp_"))
        .unwrap_or_else(|| panic!("no id: {run:?}"))
        .to_owned();
    let board: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("RANK"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(board.len(), 2, "{run:?}");
    assert_eq!(
        board[0][..5],
        ["1", "alpha", "1.000", "1.000..1.000", "3"],
        "{run:?}"
    );
    assert_eq!(board[1][..3], ["2", "beta", "0.3333"], "{run:?}");
    assert!(run.stdout.contains("succeeded"), "{run:?}");
    assert!(run.stdout.contains("6/6"), "{run:?}");
    // AND the server holds what the file said, sent inline
    let (_, got) = app.get(&format!("/api/experiments/{id}")).await;
    assert_eq!(got["experiment"]["itemCount"], 3, "{got}");
    assert_eq!(got["experiment"]["instanceIds"], json!([alpha, beta]));

    // WHEN it is listed
    let ls = user.run(&["experiments", "ls", "--json"]).await.ok().json();
    // THEN `--json` is the API's list
    assert_eq!(ls["experiments"][0]["id"], id.as_str(), "{ls}");
    assert_eq!(ls["experiments"][0]["status"], "succeeded", "{ls}");
    assert!(ls["nextCursor"].is_null(), "{ls}");
    let table = user.run(&["experiments", "ls"]).await.ok();
    let row: Vec<&str> = table
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        row[..5],
        ["capitals", id.as_str(), "succeeded", "2", "3"],
        "{table:?}"
    );

    // WHEN it is read by name, and by id as JSON
    let get = user.run(&["experiments", "get", "capitals"]).await.ok();
    assert!(
        get.stdout.contains(&id) && get.stdout.contains("6/6"),
        "{get:?}"
    );
    assert!(get.stdout.contains("exact"), "{get:?}");
    let v = user
        .run(&["experiments", "get", &id, "--json"])
        .await
        .ok()
        .json();
    // THEN the JSON is the API's, with the same numbers as the table
    assert_eq!(v["experiment"]["progress"], json!({"done": 6, "total": 6}));
    assert_eq!(v["experiment"]["leaderboard"][0]["instanceName"], "alpha");
    assert_eq!(v["experiment"]["leaderboard"][1]["scored"], 3);

    // WHEN beta's results are asked for
    let results = user
        .run(&["experiments", "results", &id, "--variant", "beta"])
        .await
        .ok();
    // THEN one row per item, each named beta, with the output and its score
    let rows: Vec<Vec<&str>> = results
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{results:?}");
    assert!(rows.iter().all(|r| r[1] == "beta"), "{results:?}");
    assert!(
        rows.contains(&vec!["0", "beta", "0", "Lyon", "-"]),
        "{results:?}"
    );
    assert!(
        rows.contains(&vec!["1", "beta", "1.000", "Berlin", "-"]),
        "{results:?}"
    );
    let all = user
        .run(&["experiments", "results", &id, "--json", "--limit", "4"])
        .await
        .ok()
        .json();
    assert_eq!(all["results"].as_array().unwrap().len(), 4, "{all}");

    // WHEN the scorer is not one the server knows, or llmJudge has no rubric
    for (scorer, says) in [
        ("fuzzy", "numeric:mae"),
        ("numeric:median", "numeric:rmse"),
        ("llmJudge", "--rubric"),
    ] {
        let bad = user
            .run(&[
                "experiments",
                "run",
                "nope",
                "--variant",
                "alpha",
                "--items",
                items,
                "--scorer",
                scorer,
            ])
            .await;
        // THEN it is a usage error (2) saying what is accepted, and nothing is created
        assert_eq!(bad.code, 2, "{bad:?}");
        assert!(bad.stderr.contains(says), "{bad:?}");
    }
    // AND a dataset file with a bad line is refused (4), naming the file and line
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, "{\"input\": \"ok\", \"expected\": \"x\"}\n{oops\n").unwrap();
    let bad = user
        .run(&[
            "experiments",
            "run",
            "nope",
            "--variant",
            "alpha",
            "--items",
            broken.to_str().unwrap(),
            "--scorer",
            "exact",
        ])
        .await;
    assert_eq!(bad.code, 4, "{bad:?}");
    assert!(bad.stderr.contains("broken.jsonl: line 2"), "{bad:?}");
    let (_, list) = app.get("/api/experiments").await;
    assert_eq!(list["experiments"].as_array().unwrap().len(), 1, "{list}");

    // WHEN an experiment does not exist
    for args in [
        vec!["experiments", "get", "exp_01doesnotexist"],
        vec!["experiments", "get", "no-such-experiment"],
        vec!["experiments", "results", "exp_01doesnotexist"],
        vec!["experiments", "rm", "exp_01doesnotexist"],
    ] {
        let missing = user.run(&args).await;
        // THEN it is 3, naming the list to check
        assert_eq!(missing.code, 3, "{missing:?}");
        assert!(
            missing.stderr.contains("operator experiments ls"),
            "{missing:?}"
        );
    }

    // WHEN a waiting run is interrupted while its item is in flight
    let mut waiting = Running::start(user.command(
        &[
            "experiments",
            "run",
            "held",
            "--variant",
            "alpha",
            "--items",
            items,
            "--scorer",
            "contains",
            "--concurrency",
            "1",
            "--wait",
        ],
        &[],
    ));
    let started = waiting.stdout_line("Started experiment held").await;
    let held = started
        .split(['(', ')'])
        .nth(1)
        .unwrap_or_else(|| panic!("no id: {started}"))
        .to_owned();
    eventually(60, || async { (llm.held_now() == 1).then_some(()) })
        .await
        .expect("the first item reached the model");
    let pid = waiting.child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = waiting.finish().await;
    // THEN the CLI exits 130, says the experiment goes on and how to follow it
    assert_eq!(out.code, 130, "{out:?}");
    assert!(
        out.stderr.contains("keeps running on the server"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains(&format!("operator experiments get {held}")),
        "{out:?}"
    );
    let (_, v) = app.get(&format!("/api/experiments/{held}")).await;
    assert_eq!(v["experiment"]["status"], "running", "{v}");
    // AND `cancel` stops it: the answer in flight is kept, nothing else is sent
    let cancel = user.run(&["experiments", "cancel", &held]).await.ok();
    assert!(
        cancel.stdout.contains("Cancelled experiment held"),
        "{cancel:?}"
    );
    llm.release_held();
    let v = eventually(60, || async {
        let (_, v) = app.get(&format!("/api/experiments/{held}")).await;
        (v["experiment"]["progress"]["done"] == 1).then_some(v)
    })
    .await
    .expect("the item in flight is recorded");
    assert_eq!(v["experiment"]["status"], "cancelled", "{v}");
    assert_eq!(llm.requests().len(), 7);
    // AND cancelling an ended experiment changes nothing and says so
    let again = user.run(&["experiments", "cancel", &id]).await.ok();
    assert!(
        again.stdout.contains("already ended: succeeded"),
        "{again:?}"
    );

    // WHEN it is removed by id
    user.run(&["experiments", "rm", &id]).await.ok();
    // THEN it is gone
    let gone = user.run(&["experiments", "get", &id]).await;
    assert_eq!(gone.code, 3, "{gone:?}");
}
