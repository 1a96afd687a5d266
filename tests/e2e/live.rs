//! Live instances on the embedded runtime: provisioning, files, exec, the instance agent
//! through the LLM gateway (scripted fake LLM, real wire format), crash restarts, deletion,
//! server restarts, quotas and secret rotation.

use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Instant;

#[tokio::test]
async fn an_instance_goes_active_and_serves_files_exec_and_activity() {
    let app = App::spawn().await;
    // WHEN an instance is created
    let started = Instant::now();
    let (s, v) = app.post("/api/instances", json!({"name": "desk"})).await;
    assert_eq!(s, 201);
    assert_eq!(v["instance"]["status"], "provisioning");
    let id = v["instance"]["id"].as_str().unwrap().to_owned();
    // THEN it becomes active
    let inst = app.wait_status(&app.key, &id, "active").await;
    println!("create -> active in {} ms", started.elapsed().as_millis());
    assert!(inst["fqdn"].as_str().unwrap().starts_with("127.0.0.1:"));

    // The workspace follows the OpenClaw layout
    let (s, root) = app.get(&format!("/api/instances/{id}/files")).await;
    assert_eq!(s, 200, "{root}");
    let names: Vec<&str> = root["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for n in [
        "AGENTS.md",
        "IDENTITY.md",
        "USER.md",
        "HEARTBEAT.md",
        "workspace",
        "skills",
        "sessions",
        "cron",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let (_, skill) = app
        .get(&format!(
            "/api/instances/{id}/files?path=skills/web-research/SKILL.md"
        ))
        .await;
    assert!(skill["content"]
        .as_str()
        .unwrap()
        .starts_with("---\nname: web-research"));

    // Write then read a file
    let res = app
        .request(
            Method::PUT,
            &format!("/api/instances/{id}/files?path=workspace/notes/today.md"),
            Some(&app.key),
        )
        .body("# Today\nship it\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (s, f) = app
        .get(&format!(
            "/api/instances/{id}/files?path=workspace/notes/today.md"
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(f["content"], "# Today\nship it\n");
    assert_eq!(f["type"], "file");
    // A file far larger than one socket write goes both ways whole
    let big = "0123456789abcdef".repeat(32 * 1024);
    let res = app
        .request(
            Method::PUT,
            &format!("/api/instances/{id}/files?path=workspace/big.txt"),
            Some(&app.key),
        )
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (s, f) = app
        .get(&format!("/api/instances/{id}/files?path=workspace/big.txt"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(f["content"].as_str().map(str::len), Some(big.len()));
    assert!(f["content"] == big.as_str());
    let got = app
        .get(&format!(
            "/api/instances/{id}/files?path=workspace/missing.txt"
        ))
        .await;
    assert_error(&got, 404, "not_found");

    // exec: output and exit codes preserved, working directory is the workspace
    let ok = app
        .exec(&id, "echo hello && cat workspace/notes/today.md | wc -l")
        .await;
    assert_eq!(ok["exitCode"], 0);
    assert_eq!(ok["stdout"], "hello\n2\n");
    let bad = app.exec(&id, "echo oops >&2; exit 7").await;
    assert_eq!(bad["exitCode"], 7);
    assert_eq!(bad["stderr"], "oops\n");
    let slow = app
        .post(
            &format!("/api/instances/{id}/exec"),
            json!({"command": "sleep 5", "timeoutMs": 300}),
        )
        .await;
    assert_eq!(slow.1["timedOut"], true, "{}", slow.1);
    let got = app
        .post(
            &format!("/api/instances/{id}/exec"),
            json!({"command": " "}),
        )
        .await;
    assert_error(&got, 400, "invalid_request");

    // Activity: no sessions yet, then a session written by the agent shows up line by line
    let (s, act) = app.get(&format!("/api/instances/{id}/activity")).await;
    assert_eq!(s, 200);
    assert_eq!(act["lineCount"], 0);
    let session = "ses_20261129000000manual";
    let lines = format!(
        "{}\n{}\n",
        json!({"type": "session", "id": session, "title": "manual", "createdAt": "2026-11-29T00:00:00Z", "parentId": null}),
        json!({"type": "message", "role": "user", "content": "hi"})
    );
    app.request(
        Method::PUT,
        &format!("/api/instances/{id}/files?path=sessions/{session}.jsonl"),
        Some(&app.key),
    )
    .body(lines)
    .send()
    .await
    .unwrap();
    let (_, act) = app.get(&format!("/api/instances/{id}/activity")).await;
    assert_eq!(act["selectedSession"]["id"], session);
    assert_eq!(act["lineCount"], 2);
    assert_eq!(act["lines"].as_array().unwrap().len(), 2);
    assert_eq!(act["sessions"][0]["title"], "manual");
    assert_eq!(act["sessionChanged"], false);
    // a cursor returns only newer lines
    let cursor = act["cursor"].as_str().unwrap();
    let (_, again) = app
        .get(&format!(
            "/api/instances/{id}/activity?cursor={cursor}&sessionId={session}"
        ))
        .await;
    assert_eq!(again["lines"].as_array().unwrap().len(), 0);
    assert_eq!(again["lineCount"], 2);
}

#[tokio::test]
async fn the_files_api_cannot_leave_the_workspace() {
    let app = App::spawn().await;
    let id = app.active_instance("jail").await;
    // a symlink made inside the instance pointing outside
    app.exec(&id, "ln -s /etc workspace/etc && ln -s / workspace/root")
        .await;
    for path in [
        "../../../../etc/passwd",
        "/etc/passwd",
        "workspace/../../x",
        "workspace/etc/passwd",
        "workspace/root/etc/hostname",
        "workspace/etc",
    ] {
        let got = app
            .get(&format!("/api/instances/{id}/files?path={path}"))
            .await;
        assert_error(&got, 400, "invalid_request");
        let res = app
            .request(
                Method::PUT,
                &format!("/api/instances/{id}/files?path={path}"),
                Some(&app.key),
            )
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "write to {path}");
    }
    // the platform's own files (one level above the instance directory) stay unreachable
    let got = app
        .get(&format!(
            "/api/instances/{id}/files?path=../../../operator.db"
        ))
        .await;
    assert_error(&got, 400, "invalid_request");
}

#[tokio::test]
async fn a_message_runs_a_tool_inside_the_instance_through_the_gateway() {
    // GIVEN a fake LLM that first asks to write a file, then answers
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "write_file".into(),
            json!({"path": "workspace/report.md", "content": "# Weather\nsunny"}),
        )]),
        Reply::Text("I wrote workspace/report.md.".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let id = app.active_instance("writer").await;
    // WHEN a message is sent to the instance's agent
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/messages"),
            json!({"text": "Write the weather report"}),
        )
        .await;
    // THEN the final text comes back and the tool ran inside the instance
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["text"], "I wrote workspace/report.md.");
    let session = v["sessionId"].as_str().unwrap().to_owned();
    let (_, f) = app
        .get(&format!(
            "/api/instances/{id}/files?path=workspace/report.md"
        ))
        .await;
    assert_eq!(f["content"], "# Weather\nsunny");
    // AND the model saw the tool result on its second call, with the configured model
    let reqs = llm.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0]["model"], "fake-model");
    assert!(reqs[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["function"]["name"] == "bash"));
    assert!(
        reqs[0]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("web-research"),
        "skills index in the system prompt"
    );
    let last = reqs[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "tool");
    assert!(last["content"].as_str().unwrap().contains("wrote"));
    // AND the transcript is in sessions/<id>.jsonl and visible as activity
    let (_, t) = app
        .get(&format!(
            "/api/instances/{id}/files?path=sessions/{session}.jsonl"
        ))
        .await;
    let text = t["content"].as_str().unwrap();
    assert!(
        text.contains("\"type\":\"tool_call\"") && text.contains("write_file"),
        "{text}"
    );
    let (_, act) = app
        .get(&format!("/api/instances/{id}/activity?sessionId={session}"))
        .await;
    assert_eq!(
        act["lineCount"], 5,
        "session, user, tool_call, tool_result, assistant: {act}"
    );
    // AND the tokens were metered
    let (_, bill) = app.get("/api/billing").await;
    assert!(bill["usage"]["tokens"].as_u64().unwrap() > 0, "{bill}");
    assert_eq!(bill["usage"]["byInstance"][0]["instanceId"], id.as_str());
}

#[tokio::test]
async fn over_the_token_quota_the_gateway_answers_429() {
    let llm = FakeLlm::start(vec![Reply::Text(
        "a fairly long first answer that costs tokens".into(),
    )])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    // GIVEN an account whose plan allows 50 weighted tokens per 6 hours
    let out = std::process::Command::new(BIN)
        .args([
            "accounts",
            "create",
            "--plan",
            "pro",
            "--token-limit",
            "50",
            "--data-dir",
        ])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = v["key"].as_str().unwrap().to_owned();
    let (_, i) = app
        .call_as(
            &key,
            Method::POST,
            "/api/instances",
            Some(json!({"name": "thrifty"})),
        )
        .await;
    let id = i["instance"]["id"].as_str().unwrap().to_owned();
    app.wait_status(&key, &id, "active").await;
    // WHEN the first call uses up the quota
    let (s, v) = app
        .call_as(
            &key,
            Method::POST,
            &format!("/api/instances/{id}/messages"),
            Some(json!({"text": "hello"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // THEN the next model call is refused with 429 and Retry-After
    let res = app
        .request(
            Method::POST,
            &format!("/api/instances/{id}/messages"),
            Some(&key),
        )
        .json(&json!({"text": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded");
    assert_eq!(
        llm.requests().len(),
        1,
        "the provider was not called over quota"
    );
    // AND billing reports the tokens (input + 5 x output)
    let (_, bill) = app.call_as(&key, Method::GET, "/api/billing", None).await;
    let tokens = bill["usage"]["tokens"].as_u64().unwrap();
    assert!(tokens >= 50, "{bill}");
    assert_eq!(bill["plan"]["tokenLimit"], 50);
}

#[tokio::test]
async fn without_an_llm_the_gateway_says_what_to_configure() {
    // GIVEN a server without OPERATOR_LLM and an active instance
    let app = App::spawn().await;
    let id = app.active_instance("nollm").await;
    // WHEN the instance's agent is messaged
    let got = app
        .post(
            &format!("/api/instances/{id}/messages"),
            json!({"text": "hi"}),
        )
        .await;
    // THEN the gateway's 503 llm_unavailable comes through the instance unchanged (API.md),
    // naming what to configure
    assert_error(&got, 503, "llm_unavailable");
    let v = got.1;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("OPERATOR_LLM"),
        "{v}"
    );
    // and the gateway refuses callers without an instance token
    let res = reqwest::Client::new()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&app.key)
        .json(&json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_killed_instance_is_restarted_and_a_deleted_one_frees_its_port() {
    let app = App::spawn().await;
    let id = app.active_instance("phoenix").await;
    let pid_file = app.data_dir.join(format!("instances/{id}/pid"));
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // WHEN its process is killed with SIGKILL
    operator_local::signal::send_signal(pid, operator_local::signal::Signal::Kill)
        .expect("SIGKILL the instance");
    // THEN it is marked failed with the reason, then restarted by policy
    let failed = app.wait_status(&app.key, &id, "failed").await;
    assert!(
        failed["statusReason"].as_str().unwrap().contains("SIGKILL"),
        "{failed}"
    );
    let back = app.wait_status(&app.key, &id, "active").await;
    let new_pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(pid, new_pid);
    assert_eq!(app.exec(&id, "echo alive").await["stdout"], "alive\n");
    // WHEN it is deleted THEN the process is gone and its port refuses connections
    let fqdn = back["fqdn"].as_str().unwrap().to_owned();
    assert!(std::net::TcpStream::connect(&fqdn).is_ok());
    let (s, _) = app.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(s, 200);
    let gone = eventually(15, || async {
        let dead = !operator_local::signal::is_alive(new_pid);
        (dead && std::net::TcpStream::connect(&fqdn).is_err()).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "instance process or port still alive after delete"
    );
    assert!(!app.data_dir.join(format!("instances/{id}")).exists());
}

#[tokio::test]
async fn restarting_the_server_brings_active_instances_back() {
    let dir = tempfile::tempdir().unwrap();
    let key = random_key();
    let opts = || Options {
        data_dir: Some(dir.path()),
        key: Some(key.clone()),
        env: vec![],
    };
    let app = App::spawn_with(opts()).await;
    let id = app.active_instance("survivor").await;
    app.exec(&id, "echo kept > workspace/state.txt").await;
    drop(app);
    let app = App::spawn_with(opts()).await;
    app.wait_status(&key, &id, "active").await;
    assert_eq!(
        app.exec(&id, "cat workspace/state.txt").await["stdout"],
        "kept\n"
    );
}

#[tokio::test]
async fn secrets_are_injected_and_rotation_is_seen_without_a_restart() {
    let app = App::spawn().await;
    let (_, s) = app
        .post(
            "/api/secrets",
            json!({"name": "WEATHER_KEY", "value": "v1-abc"}),
        )
        .await;
    let sec = s["secret"]["id"].as_str().unwrap().to_owned();
    app.post(
        "/api/secrets",
        json!({"name": "SHARED_KEY", "value": "g-1", "isGlobal": true}),
    )
    .await;
    app.post(
        "/api/secrets",
        json!({"name": "OTHER_KEY", "value": "nope"}),
    )
    .await;
    let (_, i) = app
        .post("/api/instances", json!({"name": "vault-reader"}))
        .await;
    let id = i["instance"]["id"].as_str().unwrap().to_owned();
    app.wait_status(&app.key, &id, "active").await;
    app.post(
        &format!("/api/secrets/{sec}/grants"),
        json!({"instanceId": id}),
    )
    .await;
    // a grant is readable at once through the control plane ...
    let read = app.exec(&id, "operator-instance secret WEATHER_KEY").await;
    assert_eq!(read["stdout"], "v1-abc\n", "{read}");
    // ... and in the environment from the next start on
    let (s, _) = send(app.request(
        Method::POST,
        &format!("/api/instances/{id}/restart"),
        Some(&app.key),
    ))
    .await;
    assert_eq!(s, 202);
    app.wait_status(&app.key, &id, "active").await;
    // injected at start: granted and global, not the others
    let env = app
        .exec(&id, "echo \"$WEATHER_KEY|$SHARED_KEY|${OTHER_KEY:-unset}\"")
        .await;
    assert_eq!(env["stdout"], "v1-abc|g-1|unset\n");
    let read = app.exec(&id, "operator-instance secret WEATHER_KEY").await;
    assert_eq!(read["stdout"], "v1-abc\n", "{read}");
    let denied = app.exec(&id, "operator-instance secret OTHER_KEY").await;
    assert_ne!(denied["exitCode"], 0);
    assert!(
        denied["stderr"].as_str().unwrap().contains("not granted"),
        "{denied}"
    );
    // the whole set, as a container loads it at start (granted and global only)
    let all = app.exec(&id, r#"curl -s "$OPERATOR_CONTROL_URL/v1/secrets" -H "Authorization: Bearer $OPERATOR_INSTANCE_TOKEN""#).await;
    let listed: Value = serde_json::from_str(all["stdout"].as_str().unwrap()).unwrap();
    let mut names: Vec<&str> = listed["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["SHARED_KEY", "WEATHER_KEY"], "{listed}");
    // WHEN the secret is rotated THEN the running instance reads the new value
    app.put(&format!("/api/secrets/{sec}"), json!({"value": "v2-xyz"}))
        .await;
    let read = app.exec(&id, "operator-instance secret WEATHER_KEY").await;
    assert_eq!(read["stdout"], "v2-xyz\n");
    // the platform's own secrets are not in the instance's environment
    let env = app.exec(&id, "env").await;
    let env = env["stdout"].as_str().unwrap();
    assert!(
        !env.contains(&app.key) && !env.contains("OPERATOR_BOOTSTRAP_KEY"),
        "{env}"
    );
}

#[tokio::test]
async fn with_bubblewrap_an_instance_sees_only_its_own_files() {
    require_bwrap();
    let app = App::spawn().await;
    assert!(
        app.stdout.iter().any(|l| l.contains("bubblewrap")),
        "{:?}",
        app.stdout
    );
    let id = app.active_instance("boxed").await;
    let data = app.data_dir.canonicalize().unwrap();
    let probe = format!(
        "test -e {d}/operator.db && echo db-visible || echo db-hidden; \
         cat {d}/master.key 2>/dev/null || echo key-hidden; \
         touch /usr/sandbox-probe 2>/dev/null && echo host-writable || echo host-readonly; \
         echo ok > workspace/own.txt && cat workspace/own.txt; \
         ls /proc | grep -c '^[0-9]'",
        d = data.display()
    );
    let out = app.exec(&id, &probe).await;
    let lines: Vec<&str> = out["stdout"].as_str().unwrap().lines().collect();
    assert_eq!(
        &lines[..4],
        ["db-hidden", "key-hidden", "host-readonly", "ok"],
        "{out}"
    );
    let pids: u32 = lines[4].parse().unwrap();
    assert!(
        pids < 20,
        "private PID namespace expected, saw {pids} processes"
    );
    assert!(!std::path::Path::new("/usr/sandbox-probe").exists());
}

#[tokio::test]
async fn the_agent_finds_a_checkpoint_in_the_catalog_and_an_openclaw_one_becomes_the_workspace() {
    // GIVEN a catalog listing a local OpenClaw checkpoint (its AGENTS.md and a skill at the
    // root, no .git: a plain folder under the allowed prefix) and one that does not match
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    let claw = repos.join("aqi-desk");
    std::fs::create_dir_all(claw.join("skills/aqi")).unwrap();
    std::fs::write(
        claw.join("AGENTS.md"),
        "# AQI desk\nCheck the air quality feed.\n",
    )
    .unwrap();
    std::fs::write(
        claw.join("skills/aqi/SKILL.md"),
        "---\nname: aqi\ndescription: read the AQI feed\n---\n",
    )
    .unwrap();
    let catalog = dir.path().join("catalog.json");
    let repo = claw.display().to_string();
    std::fs::write(
        &catalog,
        json!([
            {"repo": repo, "name": "aqi-desk", "description": "Monitors the air quality index", "tags": ["air", "aqi"]},
            {"repo": "acme/pr-review", "name": "pr-review", "description": "Reviews pull requests"}
        ])
        .to_string(),
    )
    .unwrap();
    // AND a model that searches the catalog, installs the match, then answers
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "search_checkpoints".into(),
            json!({"query": "air quality"}),
        )]),
        Reply::ToolCalls(vec![(
            "create_instance".into(),
            json!({"name": "aqi", "checkpointRepo": repo}),
        )]),
        Reply::Text("Installed aqi-desk as instance aqi.".into()),
    ])
    .await;
    let mut env = llm.openai_env();
    env.push(("OPERATOR_CHECKPOINT_CATALOG", catalog.display().to_string()));
    env.push((
        "OPERATOR_CHECKPOINT_LOCAL_PREFIX",
        repos.display().to_string(),
    ));
    let app = App::spawn_with(Options {
        env,
        ..Options::default()
    })
    .await;
    // WHEN the user asks for an AQI monitor
    let (s, v) = send(
        app.request(Method::POST, "/api/chat", Some(&app.key))
            .header("x-response-format", "json")
            .json(&json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": "set me up an air quality monitor"}]}]})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // THEN the search found only the matching entry
    let found = llm.requests()[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        found.contains("aqi-desk") && !found.contains("pr-review"),
        "{found}"
    );
    // AND the instance made from it has the checkpoint as its workspace (not under workspace/)
    let (_, i) = app.get("/api/instances/aqi").await;
    let id = i["instance"]["id"].as_str().unwrap().to_owned();
    app.wait_status(&app.key, &id, "active").await;
    let (_, f) = app
        .get(&format!("/api/instances/{id}/files?path=AGENTS.md"))
        .await;
    assert_eq!(
        f["content"], "# AQI desk\nCheck the air quality feed.\n",
        "{f}"
    );
    let (s, _) = app
        .get(&format!(
            "/api/instances/{id}/files?path=skills/aqi/SKILL.md"
        ))
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_checkpoint_repo_is_cloned_into_the_workspace() {
    // GIVEN a local git repository
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = repo_dir.path().join("weather-skills");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("README.md"), "checkpoint content\n").unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "init"]);
    // AND a server that allows local checkpoints under the repository's folder
    let app = App::spawn_with(Options {
        env: vec![(
            "OPERATOR_CHECKPOINT_LOCAL_PREFIX",
            repo_dir.path().display().to_string(),
        )],
        ..Options::default()
    })
    .await;
    // WHEN an instance is created from it
    let (s, v) = app
        .post(
            "/api/instances",
            json!({"name": "from-checkpoint", "kind": "blank", "checkpointRepo": repo.display().to_string()}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["instance"]["id"].as_str().unwrap().to_owned();
    app.wait_status(&app.key, &id, "active").await;
    // THEN its files are in the workspace
    let (_, f) = app
        .get(&format!(
            "/api/instances/{id}/files?path=workspace/weather-skills/README.md"
        ))
        .await;
    assert_eq!(f["content"], "checkpoint content\n", "{f}");
    // AND a checkpoint that cannot be cloned leaves the instance failed with git's reason,
    // after the bounded launches of one start (each stopped before it was healthy)
    let (_, v) = app
        .post(
            "/api/instances",
            json!({"name": "bad-checkpoint", "checkpointRepo": repo_dir.path().join("missing.git").display().to_string()}),
        )
        .await;
    let bad = v["instance"]["id"].as_str().unwrap().to_owned();
    let failed = app.wait_status(&app.key, &bad, "failed").await;
    let reason = failed["statusReason"].as_str().unwrap();
    assert!(reason.contains("checkpointRepo"), "{failed}");
    assert!(
        reason.starts_with("stopped while starting (3 launches): "),
        "{failed}"
    );
}

/// A streamed call from inside the instance, with its own token, as any OpenAI client would
/// make it (curl gives up after 60 s: exit code 28).
async fn stream_through_gateway(app: &App, id: &str) -> Value {
    app.exec(
        id,
        r#"curl -sN --max-time 60 "$OPERATOR_CONTROL_URL/v1/chat/completions" -H "Authorization: Bearer $OPERATOR_INSTANCE_TOKEN" -H 'Content-Type: application/json' -d '{"messages":[{"role":"user","content":"hi"}],"stream":true}'"#,
    )
    .await
}

#[tokio::test]
async fn the_gateway_streams_and_meters_streamed_calls() {
    let llm = FakeLlm::start(vec![Reply::Text("streamed words arrive one by one".into())]).await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let id = app.active_instance("streamer").await;
    let out = stream_through_gateway(&app, &id).await;
    let body = out["stdout"].as_str().unwrap();
    assert!(body.contains("\"chat.completion.chunk\""), "{out}");
    assert!(body.contains("\"content\":\"streamed \""), "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    // the gateway asked the provider for usage and metered it
    assert_eq!(llm.requests()[0]["stream_options"]["include_usage"], true);
    let tokens = eventually(5, || async {
        let (_, bill) = app.get("/api/billing").await;
        bill["usage"]["tokens"].as_u64().filter(|t| *t > 0)
    })
    .await;
    assert!(tokens.is_some(), "streamed usage was not metered");
}

#[tokio::test]
async fn code_in_an_instance_reaches_the_gateway_through_the_standard_openai_variables() {
    let llm = FakeLlm::start(vec![Reply::Text("two plus three is five".into())]).await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let id = app.active_instance("sdk-user").await;
    // WHEN code in the instance uses only OPENAI_BASE_URL and OPENAI_API_KEY, as the
    // official clients do, with no configuration of its own
    let models = app
        .exec(
            &id,
            r#"curl -s --max-time 30 "$OPENAI_BASE_URL/models" -H "Authorization: Bearer $OPENAI_API_KEY""#,
        )
        .await;
    let listed: Value = serde_json::from_str(models["stdout"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {models}"));
    // THEN it lists the gateway's models and gets a completion, metered for the account
    assert_eq!(listed["object"], "list", "{listed}");
    assert!(!listed["data"].as_array().unwrap().is_empty(), "{listed}");
    let answer = app
        .exec(
            &id,
            r#"curl -s --max-time 60 "$OPENAI_BASE_URL/chat/completions" -H "Authorization: Bearer $OPENAI_API_KEY" -H 'Content-Type: application/json' -d '{"messages":[{"role":"user","content":"what is 2 + 3"}]}'"#,
        )
        .await;
    let body: Value = serde_json::from_str(answer["stdout"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(
        body["choices"][0]["message"]["content"], "two plus three is five",
        "{body}"
    );
    let tokens = eventually(5, || async {
        let (_, bill) = app.get("/api/billing").await;
        bill["usage"]["tokens"].as_u64().filter(|t| *t > 0)
    })
    .await;
    assert!(tokens.is_some(), "the instance's call was not metered");
}

#[tokio::test]
async fn the_official_openai_and_anthropic_python_clients_inside_an_instance_work_unconfigured() {
    // GIVEN a prebuilt instance holding the official openai and anthropic clients (wheels
    // scripts/test.sh downloads, unpacked inside the instance for its own python3)
    let llm = FakeLlm::start(vec![
        Reply::Text("two plus three is five".into()),
        Reply::Text("four plus four is eight".into()),
        Reply::Text("streamed: eight".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.openai_env(),
        ..Options::default()
    })
    .await;
    let id = app.active_instance("py-client").await;
    let wheels =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/instance-wheels");
    let names: Vec<std::path::PathBuf> = std::fs::read_dir(&wheels)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test.sh downloads them)", wheels.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    assert!(
        names
            .iter()
            .any(|p| p.to_string_lossy().contains("openai-")),
        "{names:?}"
    );
    for wheel in &names {
        let name = wheel.file_name().unwrap().to_string_lossy();
        let (s, v) = send(
            app.request(
                reqwest::Method::PUT,
                &format!("/api/instances/{id}/files?path=wheels/{name}"),
                Some(&app.key),
            )
            .body(std::fs::read(wheel).unwrap()),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    let script = r#"
import json, openai
client = openai.OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY, as the instance sets them
models = [m.id for m in client.models.list()]
reply = client.chat.completions.create(
    model=models[0], messages=[{"role": "user", "content": "what is 2 + 3"}])
import anthropic
claude = anthropic.Anthropic()  # ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY, likewise
ask = [{"role": "user", "content": "what is 4 + 4"}]
message = claude.messages.create(model=models[0], max_tokens=100, messages=ask)
with claude.messages.stream(model=models[0], max_tokens=100, messages=ask) as stream:
    streamed = "".join(stream.text_stream)
print(json.dumps({"models": models, "answer": reply.choices[0].message.content,
                  "claude": "".join(b.text for b in message.content if b.type == "text"),
                  "claudeStop": message.stop_reason, "streamed": streamed,
                  "versions": [openai.__version__, anthropic.__version__]}))
"#;
    let (s, v) = send(
        app.request(
            reqwest::Method::PUT,
            &format!("/api/instances/{id}/files?path=client.py"),
            Some(&app.key),
        )
        .body(script),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // WHEN it runs with no configuration of its own
    let out = app
        .exec(
            &id,
            "python3 -c \"import glob, zipfile; [zipfile.ZipFile(w).extractall('pylib') for w in glob.glob('wheels/*.whl')]\" && PYTHONPATH=pylib python3 client.py",
        )
        .await;
    assert_eq!(out["exitCode"], 0, "{out}");
    let got: Value = serde_json::from_str(out["stdout"].as_str().unwrap().trim())
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    // THEN it lists the gateway's model and gets the completion, metered for the account
    assert!(!got["models"].as_array().unwrap().is_empty(), "{got}");
    assert_eq!(got["answer"], "two plus three is five", "{got}");
    // AND the anthropic client gets its message and its stream through the Messages wire
    assert_eq!(got["claude"], "four plus four is eight", "{got}");
    assert_eq!(got["claudeStop"], "end_turn", "{got}");
    assert_eq!(got["streamed"], "streamed: eight", "{got}");
    let tokens = eventually(5, || async {
        let (_, bill) = app.get("/api/billing").await;
        bill["usage"]["tokens"].as_u64().filter(|t| *t > 0)
    })
    .await;
    assert!(tokens.is_some(), "the clients' calls were not metered");
}

#[tokio::test]
async fn a_provider_that_goes_quiet_mid_stream_ends_the_gateway_s_stream() {
    // GIVEN a provider that streams half a reply and then sends nothing, connection open
    let llm = FakeLlm::start(vec![Reply::Stall(
        "the first words and then silence for good".into(),
    )])
    .await;
    let mut env = llm.openai_env();
    env.push(("OPERATOR_LLM_IDLE_TIMEOUT_SECS", "1".into()));
    let app = App::spawn_with(Options {
        env,
        ..Options::default()
    })
    .await;
    let id = app.active_instance("quiet").await;
    // WHEN code in the instance streams through the gateway
    let out = stream_through_gateway(&app, &id).await;
    // THEN what came is relayed, and the gateway ends the stream itself after the idle
    // timeout: curl sees a broken transfer (18), not its own time limit (28), and no [DONE]
    let body = out["stdout"].as_str().unwrap();
    assert!(body.contains("\"content\":\"the \""), "{out}");
    assert!(!body.contains("[DONE]"), "{body}");
    assert_eq!(out["exitCode"], 18, "{out}");
}

#[tokio::test]
async fn a_clone_starts_with_a_copy_of_the_source_workspace() {
    let app = App::spawn().await;
    let id = app.active_instance("original").await;
    app.exec(&id, "echo from-original > workspace/carry.txt")
        .await;
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/clone"),
            json!({"name": "copy"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let copy = v["instance"]["id"].as_str().unwrap().to_owned();
    app.wait_status(&app.key, &copy, "active").await;
    assert_eq!(
        app.exec(&copy, "cat workspace/carry.txt").await["stdout"],
        "from-original\n"
    );
    // the two are independent afterwards
    app.exec(&copy, "echo changed > workspace/carry.txt").await;
    assert_eq!(
        app.exec(&id, "cat workspace/carry.txt").await["stdout"],
        "from-original\n"
    );
}

#[tokio::test]
async fn with_anthropic_configured_the_gateway_translates_both_ways() {
    let llm = FakeLlm::start(vec![
        Reply::ToolCalls(vec![(
            "write_file".into(),
            json!({"path": "workspace/a.txt", "content": "via claude"}),
        )]),
        Reply::Text("Wrote it.".into()),
        Reply::Text("streamed through translation".into()),
    ])
    .await;
    let app = App::spawn_with(Options {
        env: llm.anthropic_env(),
        ..Options::default()
    })
    .await;
    let id = app.active_instance("translated").await;
    // The instance agent speaks OpenAI to the gateway; the provider hears Anthropic
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/messages"),
            json!({"text": "write a.txt"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["text"], "Wrote it.");
    let (_, f) = app
        .get(&format!("/api/instances/{id}/files?path=workspace/a.txt"))
        .await;
    assert_eq!(f["content"], "via claude");
    let reqs = llm.requests();
    assert_eq!(reqs[0]["_headers"]["x-api-key"], "sk-ant-fake-provider-key");
    assert!(reqs[0]["system"].as_str().unwrap().contains("AGENTS.md"));
    assert_eq!(
        reqs[1]["messages"].as_array().unwrap().last().unwrap()["content"][0]["type"],
        "tool_result"
    );
    // Streaming through the translation, as an OpenAI client sees it
    let out = stream_through_gateway(&app, &id).await;
    let body = out["stdout"].as_str().unwrap();
    assert!(body.contains("\"content\":\"streamed \""), "{body}");
    assert!(body.contains("\"usage\""), "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    // the provider key never reached the instance
    let env = app.exec(&id, "env").await;
    assert!(!env["stdout"]
        .as_str()
        .unwrap()
        .contains("sk-ant-fake-provider-key"));
    let (_, bill) = app.get("/api/billing").await;
    assert!(bill["usage"]["tokens"].as_u64().unwrap() > 0);
}
