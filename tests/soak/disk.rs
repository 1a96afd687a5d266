//! A full disk: the data directory lives on a small tmpfs that a filler file all but fills.
//! Writes must then be refused with API.md's error body and 507 `storage_full` — never a
//! 500, a hang or a crash — while reads go on; once the filler is gone, writes succeed again,
//! every acknowledged write is there, and the database passes `PRAGMA integrity_check`.
//!
//! Mounting needs root (CI runs as root). Without the right to mount, the test re-runs
//! itself in a private user and mount namespace (`unshare --user --map-root-user --mount`);
//! if that fails too it fails, saying why — it never passes without a full disk.

use crate::kill9::integrity_check;
use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Size of the tmpfs.
const DISK: &str = "24m";
/// Room the filler leaves.
const LEFT: u64 = 512 * 1024;
/// Set in the re-run inside `unshare`.
const IN_NAMESPACE: &str = "SOAK_DISK_IN_NAMESPACE";

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("run mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(dir.to_owned()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Bytes free for an unprivileged writer on the filesystem of `dir`.
fn free_bytes(dir: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).expect("path");
    // SAFETY: `statvfs` is plain data, for which all zeroes is a valid value.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `s` a struct we own for statvfs to fill.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    assert_eq!(rc, 0, "statvfs {}", dir.display());
    s.f_bavail as u64 * s.f_frsize as u64
}

/// A file of `len` bytes that are not all alike.
fn write_filler(path: &Path, len: u64) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler");
    let block: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n]).expect("write the filler");
        left -= n as u64;
    }
    f.sync_all().expect("sync the filler");
}

/// A secret value nothing compresses: 8 KiB of hex from random bytes.
fn big_value() -> String {
    use rand::RngCore;
    let mut b = [0u8; 4096];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A write that must be 2xx or a clean 507; returns the status and body.
async fn write(app: &App, rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let answer = async {
        let res = rb.send().await?;
        let status = res.status();
        Ok::<_, reqwest::Error>((status, res.text().await?))
    };
    let (status, text) = tokio::time::timeout(Duration::from_secs(30), answer)
        .await
        .expect("a write on a full disk is answered, not left hanging")
        .unwrap_or_else(|e| {
            panic!(
                "a write on a full disk got no answer ({e}); server alive: {}; server log:\n{}",
                operator_local::signal::is_alive(app.pid()),
                tail(&app.server_log(), 30)
            )
        });
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("a non-JSON answer ({status}): {text}"));
    let res = (status, body);
    match res.0.as_u16() {
        200..=299 => {}
        507 => assert_error(&res, 507, "storage_full"),
        _ => panic!(
            "a write on a full disk answered {} {}\n{}",
            res.0,
            res.1,
            tail(&app.server_log(), 30)
        ),
    }
    res
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: scripts/soak.sh, or the soak step of scripts/test.sh"]
async fn a_full_disk_gets_507_and_loses_or_corrupts_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mnt = tmp.path().join("disk");
    let _disk = match Tmpfs::mount(&mnt, DISK) {
        Ok(t) => t,
        Err(why) if std::env::var_os(IN_NAMESPACE).is_none() => {
            return rerun_in_namespace(&why);
        }
        Err(why) => panic!("cannot mount a tmpfs even in a private namespace: {why}"),
    };
    // GIVEN a server whose data directory is on a small tmpfs
    let data = mnt.join("data");
    let key = random_key();
    let opts = || Options {
        data_dir: Some(&data),
        key: Some(key.clone()),
        env: vec![("OPERATOR_RATE_LIMIT_PER_KEY", "off".into())],
    };
    let app = App::spawn_with(opts()).await;
    let (s, v) = app
        .post(
            "/api/webhooks",
            json!({"name": "hook", "promptTemplate": "Handle {{payload}}"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let token = v["webhook"]["token"].as_str().unwrap().to_owned();
    // AND a filler that leaves it almost no room
    let filler = mnt.join("filler");
    write_filler(&filler, free_bytes(&mnt).saturating_sub(LEFT));
    assert!(free_bytes(&mnt) <= LEFT, "the filler did not fill the disk");

    // WHEN four clients keep writing until each is refused three times in a row
    let app = std::sync::Arc::new(app);
    let mut clients = vec![];
    for c in 0..4 {
        let (app, key) = (app.clone(), key.clone());
        clients.push(tokio::spawn(async move {
            let (mut acked, mut refused, mut in_a_row) = (vec![], vec![], 0);
            for i in 0..1000 {
                let name = format!("FULL_{c}_{i}");
                let res = write(
                    &app,
                    app.request(Method::POST, "/api/secrets", Some(&key))
                        .json(&json!({"name": name, "value": big_value()})),
                )
                .await;
                if res.0 == 201 {
                    acked.push((res.1["secret"]["id"].as_str().unwrap().to_owned(), name));
                    in_a_row = 0;
                } else {
                    refused.push(name);
                    in_a_row += 1;
                    if in_a_row == 3 {
                        return (acked, refused, true);
                    }
                }
            }
            (acked, refused, false)
        }));
    }
    let (mut acked, mut refused) = (vec![], vec![]);
    for c in clients {
        let (a, r, full) = c.await.expect("a client");
        // THEN the server refuses them with 507 storage_full (checked by `write`)
        assert!(
            full,
            "the disk never filled: {} acknowledged, {} refused",
            a.len(),
            r.len()
        );
        acked.extend(a);
        refused.extend(r);
    }
    let app = std::sync::Arc::into_inner(app).expect("the clients are done");
    // AND the other kinds of write are refused the same way: a keyed write, a webhook trigger
    for rb in [
        app.request(Method::POST, "/api/secrets", Some(&key))
            .header("Idempotency-Key", "full-disk-1")
            .json(&json!({"name": "KEYED", "value": big_value()})),
        app.request(
            Method::POST,
            &format!("/api/webhooks/trigger/{token}"),
            None,
        )
        .json(&json!({"payload": big_value()})),
    ] {
        write(&app, rb).await;
    }
    // AND reads, and the process, go on
    let (s, v) = app.get("/api/secrets?limit=5").await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.get("/api/health").await;
    assert_eq!(s, 200, "{v}");

    // WHEN space returns
    std::fs::remove_file(&filler).expect("remove the filler");
    // THEN writes succeed again
    let back = eventually(30, || async {
        let (s, v) = app
            .post("/api/secrets", json!({"name": "AFTER_FULL", "value": "x"}))
            .await;
        assert!(s == 201 || s == 507, "{s} {v}");
        (s == 201).then_some(v)
    })
    .await;
    assert!(
        back.is_some(),
        "writes never came back\n{}",
        tail(&app.server_log(), 30)
    );
    // AND every acknowledged write is there, and no refused one
    let names: Vec<String> = crate::kill9::list_all(&app, &key, "/api/secrets", "secrets")
        .await
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    for name in &refused {
        assert!(
            !names.contains(name),
            "{name} was refused with 507 but written"
        );
    }
    let present = |app: &App| {
        let acked = acked.clone();
        let app_key = key.clone();
        let base = app.base.clone();
        async move {
            let http = reqwest::Client::new();
            for (id, name) in &acked {
                let (s, v) = send(
                    http.get(format!("{base}/api/secrets/{id}"))
                        .bearer_auth(&app_key),
                )
                .await;
                assert_eq!(s, 200, "{name} lost: {v}");
                assert_eq!(v["secret"]["name"], name.as_str());
            }
        }
    };
    present(&app).await;
    // AND the database is sound, also to a restart
    drop(app);
    assert_eq!(integrity_check(&data), "ok");
    let app = App::spawn_with(opts()).await;
    present(&app).await;
    let (s, v) = app
        .post(
            "/api/secrets",
            json!({"name": "AFTER_RESTART", "value": "x"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    println!(
        "full disk: {} writes acknowledged, {} refused with 507 storage_full (none of them written); all acknowledged present after space returned and after a restart; integrity ok",
        acked.len(),
        refused.len()
    );
}

/// Runs this test again in a private user and mount namespace, where mounting a tmpfs is
/// allowed without root; fails if that cannot run either.
fn rerun_in_namespace(why: &str) {
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "--propagation",
            "private",
        ])
        .arg(&exe)
        .args([
            "--exact",
            "disk::a_full_disk_gets_507_and_loses_or_corrupts_nothing",
            "--ignored",
            "--nocapture",
        ])
        .env(IN_NAMESPACE, "1")
        .status();
    // libtest exits 101 when a test fails; anything else unsuccessful is unshare's own failure.
    match out {
        Ok(s) if s.success() => {}
        Ok(s) if s.code() == Some(101) => {
            panic!("the full-disk test failed in its private namespace (see above)")
        }
        Ok(s) => panic!(
            "the full-disk test needs a tmpfs: mount failed ({why}) and no private user and mount namespace could be made (unshare: {s}); run it as root, or allow unprivileged user namespaces"
        ),
        Err(e) => panic!(
            "the full-disk test needs a tmpfs: mount failed ({why}) and unshare could not run ({e}); run it as root, or allow unprivileged user namespaces"
        ),
    }
}
