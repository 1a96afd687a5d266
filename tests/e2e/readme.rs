//! The README's curl walk-through runs verbatim against a fresh server (only the key and
//! the address are substituted) and every step answers as the README says.

use crate::support::*;

#[tokio::test]
async fn the_readme_walkthrough_works_verbatim() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let block = readme
        .split("<!-- walkthrough:start -->")
        .nth(1)
        .and_then(|r| r.split("<!-- walkthrough:end -->").next())
        .expect("walk-through markers");
    let script = block
        .lines()
        .filter(|l| !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("ck_live_paste_your_key_here", "$OPERATOR_TEST_KEY")
        .replace("http://127.0.0.1:8080", "$OPERATOR_TEST_URL");
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("curl is needed for the README walk-through test");
    }
    let app = App::spawn().await;
    let out = tokio::process::Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(&script)
        .env("OPERATOR_TEST_KEY", &app.key)
        .env("OPERATOR_TEST_URL", &app.base)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        r#"{"ok":true"#,
        r#""authenticated":true"#,
        r#""name":"weather-desk""#,
        r#""status":"active""#,
        r#""content":"hello from the README""#,
        r#""exitCode":0"#,
        r#""value":"owm-demo-123""#,
        r#""grants":["inst_"#,
        r#""cronExpression":"0 9 * * 1-5""#,
        r#""deliveryId":"dlv_"#,
        r#""capacity":{"used":1,"limit":5}"#,
        r#""code":"invalid_request""#,
        r#""code":"llm_unavailable""#,
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected} in:\n{stdout}"
        );
    }
}
