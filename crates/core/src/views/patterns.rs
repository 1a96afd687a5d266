//! The rules request fields are validated by, as the JSON Schema patterns the OpenAPI
//! document states (so generated clients, the reference and fuzzers know them). Each is a
//! second statement of a rule that lives in `domain`; the tests below hold the two together
//! on samples from both sides of each rule.

/// [`crate::domain::InstanceName`]: 1–63 of `[a-z0-9-]`.
pub const INSTANCE_NAME: &str = r"^[a-z0-9-]{1,63}$";

/// [`crate::domain::is_env_name`]: secret names and instance environment variable names.
pub const ENV_NAME: &str = r"^[A-Z_][A-Z0-9_]{0,127}$";

/// [`crate::domain::validate_title`] (names of automations, webhooks and keys): at most 100
/// characters (a `maxLength` beside it), at least one not white space, none of the control,
/// bidirectional or invisible formatting characters of
/// [`crate::domain::is_hidden_or_control`].
pub const TITLE: &str = r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u2028-\u202E\u2060-\u2069\uFEFF\uFFF9-\uFFFB]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF\uFFF9-\uFFFB][^\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u2028-\u202E\u2060-\u2069\uFEFF\uFFF9-\uFFFB]*$";

/// [`crate::domain::validate_key_name`]: blank (no name) or a [`TITLE`].
pub const KEY_NAME: &str = r"^(?:[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*|[^\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u2028-\u202E\u2060-\u2069\uFEFF\uFFF9-\uFFFB]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF\uFFF9-\uFFFB][^\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u2028-\u202E\u2060-\u2069\uFEFF\uFFF9-\uFFFB]*)$";

/// Text that must not be blank ([`crate::domain::validate_prompt`], a message's text): one
/// character that is not white space (the pattern is not anchored).
pub const NOT_BLANK: &str =
    r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// [`crate::domain::validate_template`]: a prompt with the payload placeholder.
pub const PROMPT_TEMPLATE: &str = r"\{\{payload\}\}";

/// Environment variable values: no NUL.
pub const NO_NUL: &str = r"^[^\u0000]*$";

/// A canonical UUID ([`crate::domain::CliSession`]).
pub const UUID: &str =
    r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";

/// Exactly the remote forms [`operator_wire::parse_checkpoint`] accepts: an `https://` or
/// `ssh://` URL (host, optional port, path segments of `[A-Za-z0-9._~%+-]`), scp-like
/// `user@host:path`, or `owner/repo` (GitHub). (Local paths are taken only where the operator
/// configured a prefix for them, so they are not part of the documented rule.)
pub const CHECKPOINT_REPO: &str = r"^(?:https://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%+-]+)*/?|ssh://(?:[A-Za-z0-9_][A-Za-z0-9._-]*@)?[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%+-]+)*/?|[A-Za-z0-9_][A-Za-z0-9._-]*@[A-Za-z0-9_][A-Za-z0-9._-]*:[A-Za-z0-9._~%+][A-Za-z0-9._~%+-]*(?:/[A-Za-z0-9._~%+-]+)*/?|[A-Za-z0-9_][A-Za-z0-9._-]*/[A-Za-z0-9_][A-Za-z0-9._-]*)$";

/// A path inside an instance's workspace, as the instance resolves it: relative, no NUL, no
/// `..` segment, naming something below the root (`.` and empty segments are skipped).
pub const WORKSPACE_PATH: &str = r"^(?:\.(?:/\.?)*/)?(?:[^/\u0000.][^/\u0000]*|\.[^/\u0000.][^/\u0000]*|\.\.[^/\u0000]+)(?:/(?:(?:[^/\u0000.][^/\u0000]*|\.[^/\u0000.][^/\u0000]*|\.\.[^/\u0000]+)|\.)?)*$";

/// An `http` or `https` URL for the instance's browser.
pub const HTTP_URL: &str =
    r"^https?://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%/?&=+-]*)?$";

/// Where each pattern applies: (component schema, property, pattern). The OpenAPI document
/// sets them (`http::openapi`); a test there checks every entry names a real property.
pub const FIELDS: &[(&str, &str, &str)] = &[
    ("CreateInstanceBody", "name", INSTANCE_NAME),
    ("CreateInstanceBody", "checkpointRepo", CHECKPOINT_REPO),
    ("UpdateInstanceBody", "name", INSTANCE_NAME),
    ("CloneInstanceBody", "name", INSTANCE_NAME),
    ("CreateSecretBody", "name", ENV_NAME),
    ("CreateAutomationBody", "name", TITLE),
    ("CreateAutomationBody", "prompt", NOT_BLANK),
    ("UpdateAutomationBody", "name", TITLE),
    ("UpdateAutomationBody", "prompt", NOT_BLANK),
    ("CreateWebhookBody", "name", TITLE),
    ("CreateWebhookBody", "promptTemplate", PROMPT_TEMPLATE),
    ("UpdateWebhookBody", "name", TITLE),
    ("UpdateWebhookBody", "promptTemplate", PROMPT_TEMPLATE),
    ("CreateKeyBody", "name", KEY_NAME),
    ("CliApproveBody", "session", UUID),
    ("MessageBody", "text", NOT_BLANK),
];

/// Query parameters with a pattern: (operationId, parameter, pattern, required).
pub const PARAMETERS: &[(&str, &str, &str, bool)] = &[
    ("readInstanceFiles", "path", WORKSPACE_PATH_OR_ROOT, false),
    ("writeInstanceFile", "path", WORKSPACE_PATH, true),
    ("deleteInstanceFile", "path", WORKSPACE_PATH, true),
    ("pollCliLogin", "session", UUID, true),
];

/// [`WORKSPACE_PATH`], or the workspace root (empty, or only `.` segments).
pub const WORKSPACE_PATH_OR_ROOT: &str = r"^(?:(?:\.(?:/\.?)*/?)?|(?:\.(?:/\.?)*/)?(?:[^/\u0000.][^/\u0000]*|\.[^/\u0000.][^/\u0000]*|\.\.[^/\u0000]+)(?:/(?:(?:[^/\u0000.][^/\u0000]*|\.[^/\u0000.][^/\u0000]*|\.\.[^/\u0000]+)|\.)?)*)$";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;

    fn matches(pattern: &str, s: &str) -> bool {
        regex::Regex::new(pattern)
            .expect("a valid pattern")
            .is_match(s)
    }

    #[test]
    fn titles_match_the_title_rule() {
        for s in [
            "a",
            " a ",
            "morning brief",
            "é✓ 日本",
            &"x".repeat(100),
            "",
            " ",
            "\t",
            "a\u{0}",
            "a\u{1b}[31m",
            "a\u{202E}b",
            "\u{200B}",
            "a\u{2028}b",
            "\u{FEFF}x",
            "\u{85}",
            "\u{3000}",
            "\u{1c}",
            &"y".repeat(101),
            "a\nb",
            &format!(" {}", "z".repeat(100)),
            "\u{3000}a\u{3000}",
            &"\u{85}".repeat(101),
            &" ".repeat(101),
        ] {
            let rule = validate_title("name", s).is_ok();
            let schema = matches(TITLE, s) && s.chars().count() <= 100;
            assert_eq!(rule, schema, "{s:?}");
            let key = validate_key_name(Some(s.to_owned())).is_ok();
            let key_schema = matches(KEY_NAME, s) && s.chars().count() <= 100;
            assert_eq!(key, key_schema, "key name {s:?}");
        }
    }

    #[test]
    fn names_prompts_and_templates_match_their_rules() {
        for s in [
            "weather-desk",
            "a",
            "-x",
            "A",
            "a_b",
            "",
            &"a".repeat(63),
            &"a".repeat(64),
        ] {
            assert_eq!(
                InstanceName::parse(s).is_ok(),
                matches(INSTANCE_NAME, s),
                "{s:?}"
            );
        }
        for s in [
            "GITHUB_TOKEN",
            "_X",
            "X1",
            "1X",
            "x",
            "",
            &"A".repeat(128),
            &"A".repeat(129),
        ] {
            assert_eq!(is_env_name(s), matches(ENV_NAME, s), "{s:?}");
        }
        for s in [
            "go", " go ", "", " ", "\n\t", "\u{3000}", "\u{1c}", "\u{85}x",
        ] {
            assert_eq!(
                validate_prompt("prompt", s).is_ok(),
                matches(NOT_BLANK, s),
                "{s:?}"
            );
        }
        for s in ["x {{payload}}", "{{payload}}", "x {{ payload }}", "", " "] {
            assert_eq!(
                crate::domain::validate_template(s).is_ok(),
                matches(PROMPT_TEMPLATE, s),
                "{s:?}"
            );
        }
        for s in [
            "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "1B4E28BA-2FA1-11D2-883F-0016D3CCA427",
            "x",
            "",
        ] {
            assert_eq!(CliSession::parse(s).is_ok(), matches(UUID, s), "{s:?}");
        }
    }

    #[test]
    fn what_the_checkpoint_pattern_allows_the_server_accepts() {
        // The pattern states the server's rule for remote repositories exactly.
        for s in [
            "owner/repo",
            "o_w.n-er/re.po",
            "https://github.com/owner/repo.git",
            "https://git.example.com:8443/a/b",
            "https://host/",
            "https://host/a/",
            "ssh://git@example.com/a/b.git",
            "ssh://example.com:2222/a",
            "git@github.com:acme/tools.git",
            "git@host:a/b/",
        ] {
            assert!(matches(CHECKPOINT_REPO, s), "{s}");
            assert!(operator_wire::parse_checkpoint(s, None).is_ok(), "{s}");
        }
        for s in [
            "",
            "-x/y",
            ".x/y",
            "owner",
            "https://-host/x",
            "file:///etc",
            "a/b/c",
            "https://a::b",
            "https://2q3t2/70*",
            "https://host//a",
            "https://host:123456/a",
            "https://user@host/a",
            "https://ho_st/a",
            " owner/repo",
            "owner/repo ",
            "ssh://-x/a",
            "ssh://u@@h/a",
            "git@host:-x",
            "git@host:",
            "git@host:a b",
            "http://example.com/a.git",
            "/srv/repos/a",
        ] {
            assert!(!matches(CHECKPOINT_REPO, s), "{s}");
            assert!(operator_wire::parse_checkpoint(s, None).is_err(), "{s}");
        }
    }

    #[test]
    fn workspace_paths_match_what_the_instance_resolves() {
        for ok in [
            "a",
            "AGENTS.md",
            "skills/x/SKILL.md",
            ".operator/x",
            "..a",
            "a b.txt",
            "×ø",
            "./a",
            "a//b",
            "a/",
            "a/./b",
            ".//a",
            "a/..b",
        ] {
            assert!(matches(WORKSPACE_PATH, ok), "{ok}");
            assert!(matches(WORKSPACE_PATH_OR_ROOT, ok), "{ok}");
        }
        for root in ["", ".", "./", "./."] {
            assert!(!matches(WORKSPACE_PATH, root), "{root:?}");
            assert!(matches(WORKSPACE_PATH_OR_ROOT, root), "{root:?}");
        }
        for bad in ["/etc", "a/../b", "..", "../a", "a/..", "a\u{0}", "/"] {
            assert!(!matches(WORKSPACE_PATH, bad), "{bad:?}");
            assert!(!matches(WORKSPACE_PATH_OR_ROOT, bad), "{bad:?}");
        }
    }
}
