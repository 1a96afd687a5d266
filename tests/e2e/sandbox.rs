//! What an instance can reach of the host and of other tenants (issue 10): the bubblewrap
//! sandbox (unprivileged user, only `/usr` and a minimal `/etc`), and `checkpointRepo`,
//! which may not name another tenant's instance or any local path the operator has not
//! allowed.

use crate::support::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn inside_the_sandbox_an_instance_is_not_root_and_sees_no_host_secrets() {
    require_bwrap();
    // GIVEN a host file beside the data directory, the server's home and source tree
    let app = App::spawn().await;
    let beside = app.data_dir.parent().unwrap().join("host-secret.txt");
    std::fs::write(&beside, "HOST-SECRET").unwrap();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let source = env!("CARGO_MANIFEST_DIR");
    let id = app.active_instance("boxed-in").await;
    // WHEN the tenant's code looks around
    let probe = format!(
        "echo uid=$(id -u) gid=$(id -g); \
         cat /etc/shadow >/dev/null 2>&1 && echo shadow-readable || echo shadow-unreadable; \
         cat /etc/gshadow >/dev/null 2>&1 && echo gshadow-readable || echo gshadow-unreadable; \
         ls -A {home} >/dev/null 2>&1 && echo home-visible || echo home-hidden; \
         cat {beside} 2>/dev/null || echo beside-hidden; \
         ls {source} >/dev/null 2>&1 && echo source-visible || echo source-hidden; \
         for d in /home /opt /srv /var /root /mnt; do test -e $d && echo $d-visible; done; \
         ls /etc | tr '\\n' ' '; echo; \
         grep -c . /proc/self/status >/dev/null && grep '^CapEff' /proc/self/status",
        beside = beside.display()
    );
    let out = app.exec(&id, &probe).await;
    let stdout = out["stdout"].as_str().unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    // THEN it runs as an unprivileged user without capabilities
    assert_eq!(lines[0], "uid=65534 gid=65534", "{out}");
    assert_eq!(
        &lines[1..6],
        [
            "shadow-unreadable",
            "gshadow-unreadable",
            "home-hidden",
            "beside-hidden",
            "source-hidden"
        ],
        "{out}"
    );
    assert!(!stdout.contains("-visible"), "{out}");
    // AND /etc holds only what a runtime needs
    let etc: Vec<&str> = lines[6].split_whitespace().collect();
    for needed in ["passwd", "group", "hosts", "resolv.conf", "ld.so.cache"] {
        assert!(etc.contains(&needed), "{needed} missing from /etc: {etc:?}");
    }
    for secret in ["shadow", "gshadow", "sudoers", "ssh", "machine-id"] {
        assert!(!etc.contains(&secret), "{secret} in /etc: {etc:?}");
    }
    assert_eq!(lines[7], "CapEff:\t0000000000000000", "{out}");
    // AND its own workspace is still writable and commands still work
    let out = app.exec(&id, "echo hi > workspace/own.txt && cat workspace/own.txt && git --version >/dev/null && echo git-ok").await;
    assert_eq!(out["stdout"], "hi\ngit-ok\n", "{out}");
    // AND the server's own files beside the workspace (log, pid, wrapper, /etc sources) can be
    // neither changed nor replaced by links
    let out = app
        .exec(
            &id,
            "for f in ../instance.log ../pid ../bin/operator-instance ../sandbox-etc/passwd; do \
               ln -sf /etc/hostname $f 2>/dev/null && echo linked $f; \
               ( : >> $f ) 2>/dev/null && echo wrote $f; \
             done; echo checked",
        )
        .await;
    assert_eq!(out["stdout"], "checked\n", "{out}");
}

#[tokio::test]
async fn a_tenant_cannot_clone_another_tenants_instance_directory() {
    // GIVEN tenant A with an active instance holding a file
    let app = App::spawn().await;
    let victim = app.active_instance("victim").await;
    let (s, v) = app
        .put(
            &format!("/api/instances/{victim}/files?path=workspace/private.txt"),
            json!("A's data"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let victim_dir = app
        .data_dir
        .canonicalize()
        .unwrap()
        .join("instances")
        .join(&victim);
    // WHEN tenant B names A's directory (or git's local transports) as its checkpoint
    let (_, key_b) = app.create_account("pro");
    for repo in [
        victim_dir.display().to_string(),
        victim_dir.join("workspace").display().to_string(),
        format!("file://{}", victim_dir.display()),
        format!("ext::sh -c cp% -r% {}% /tmp/x", victim_dir.display()),
        "ext::sh".to_owned(),
        "--upload-pack=touch /tmp/pwned".to_owned(),
        "-u".to_owned(),
        "../victim".to_owned(),
    ] {
        let got = app
            .call_as(
                &key_b,
                Method::POST,
                "/api/instances",
                Some(json!({"name": "thief", "checkpointRepo": repo})),
            )
            .await;
        // THEN the API refuses it, naming the field, and nothing is created
        assert_error(&got, 400, "invalid_request");
        assert!(
            got.1["error"]["details"].get("checkpointRepo").is_some(),
            "{repo}: {}",
            got.1
        );
    }
    let (_, list) = app
        .call_as(&key_b, Method::GET, "/api/instances", None)
        .await;
    assert_eq!(list["instances"].as_array().unwrap().len(), 0, "{list}");
    // AND remote references are still accepted
    for repo in ["acme/tools", "https://example.com/acme/tools.git"] {
        let (s, v) = app
            .call_as(
                &key_b,
                Method::POST,
                "/api/instances",
                Some(json!({"name": format!("ok-{}", repo.len()), "checkpointRepo": repo})),
            )
            .await;
        assert_eq!(s, 201, "{repo}: {v}");
    }
}

#[tokio::test]
async fn a_server_refuses_a_checkpoint_prefix_that_covers_its_data_directory() {
    // GIVEN an operator setting that would expose every instance directory
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // WHEN the server starts with it
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("OPERATOR_CHECKPOINT_LOCAL_PREFIX", dir.path())
        .env_remove("OPERATOR_MASTER_KEY")
        .env_remove("OPERATOR_BOOTSTRAP_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let exited = eventually(30, || {
        let status = child.try_wait().ok().flatten();
        async move { status }
    })
    .await;
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server started with a checkpoint prefix covering its data directory");
    }
    let out = child.wait_with_output().unwrap();
    // THEN it exits non-zero and says why
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("OPERATOR_CHECKPOINT_LOCAL_PREFIX") && err.contains("data directory"),
        "{err}"
    );
}
