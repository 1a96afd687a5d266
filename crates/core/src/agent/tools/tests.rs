use super::*;
use std::collections::BTreeSet;

/// A value of the schema's type (enough for the arguments to deserialise).
fn sample(schema: &Value) -> Value {
    // An optional field of a named type is `oneOf: [null, T]`: sample T.
    for key in ["oneOf", "anyOf"] {
        if let Some(alternatives) = schema[key].as_array() {
            if let Some(t) = alternatives.iter().find(|a| a["type"] != "null") {
                return sample(t);
            }
        }
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    let ty = match &schema["type"] {
        Value::Array(types) => types.iter().find(|t| *t != "null").cloned(),
        t => Some(t.clone()),
    };
    match ty.as_ref().and_then(Value::as_str) {
        Some("string") => json!("x"),
        Some("boolean") => json!(true),
        Some("integer") | Some("number") => json!(1),
        Some("array") => json!([]),
        // A nested object: its required properties, sampled in turn.
        _ => {
            let props = schema["properties"].as_object();
            let required = schema["required"].as_array();
            let obj: serde_json::Map<String, Value> = required
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(|r| {
                    props
                        .and_then(|p| p.get(r))
                        .map(|s| (r.to_owned(), sample(s)))
                })
                .collect();
            Value::Object(obj)
        }
    }
}

/// Every property of the tool's schema with a sample value.
fn full_input(schema: &Value) -> serde_json::Map<String, Value> {
    schema["properties"]
        .as_object()
        .expect("properties")
        .iter()
        .map(|(k, s)| (k.clone(), sample(s)))
        .collect()
}

fn contains_ref(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.contains_key("$ref") || o.values().any(contains_ref),
        Value::Array(a) => a.iter().any(contains_ref),
        _ => false,
    }
}

#[test]
fn every_tool_has_a_unique_name_and_a_description() {
    let names: BTreeSet<&str> = ALL.iter().map(|t| t.name()).collect();
    assert_eq!(names.len(), ALL.len(), "duplicate tool names");
    for t in ALL {
        assert!(
            t.name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{}",
            t.name()
        );
        assert!(!t.description().is_empty(), "{}", t.name());
        assert!(std::ptr::eq(find(t.name()).expect("found"), *t));
    }
    assert!(find("no_such_tool").is_none());
}

#[test]
fn every_schema_is_a_self_contained_object_schema_whose_required_fields_match_the_arguments() {
    for t in ALL {
        // GIVEN the tool's schema
        let schema = t.input_schema();
        let name = t.name();
        assert_eq!(schema["type"], "object", "{name}: {schema}");
        assert!(
            !contains_ref(&schema),
            "{name}: not self-contained: {schema}"
        );
        let props = schema["properties"].as_object().expect("properties");
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .expect("required")
            .iter()
            .map(|r| r.as_str().expect("a field name"))
            .collect();
        for r in &required {
            assert!(
                props.contains_key(*r),
                "{name}: required {r} is no property"
            );
        }
        for f in t.secret_fields() {
            assert!(
                props.contains_key(*f),
                "{name}: secret field {f} is no property"
            );
        }
        // WHEN every property is given THEN the arguments are accepted
        let full = full_input(&schema);
        t.validate(Value::Object(full.clone()))
            .unwrap_or_else(|e| panic!("{name}: a full input was refused: {e}"));
        // AND leaving out a field is refused, naming it, exactly when the schema requires it
        for field in props.keys() {
            let mut input = full.clone();
            input.remove(field);
            match t.validate(Value::Object(input)) {
                Ok(()) => assert!(
                    !required.contains(field.as_str()),
                    "{name}: {field} is required by the schema but not by the arguments"
                ),
                Err(Error::Invalid { details, .. }) => {
                    assert!(
                        required.contains(field.as_str()),
                        "{name}: {field} is required by the arguments but not by the schema"
                    );
                    assert!(details.contains_key(field), "{name}: {details:?}");
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }
}

#[test]
fn an_invalid_argument_gives_the_model_an_error_naming_the_field() {
    // GIVEN a create_instance call whose env maps a name to a number
    let tool = find("create_instance").expect("tool");
    let input = json!({"name": "alpha", "env": {"REGION": 5}});
    // WHEN it is validated and the error given back as the tool's output
    let out = error_output(tool.validate(input).expect_err("refused"));
    // THEN the model reads an invalid_request naming env.REGION and what was wrong
    assert_eq!(out["error"]["code"], "invalid_request");
    let msg = out["error"]["message"].as_str().expect("message");
    assert!(msg.starts_with("env.REGION: "), "{msg}");
    assert!(msg.contains("expected a string"), "{msg}");
    assert!(out["error"]["details"]["env.REGION"].is_string(), "{out}");

    // AND a missing path part is named too
    let out = error_output(
        find("get_instance")
            .expect("tool")
            .validate(json!({}))
            .expect_err("refused"),
    );
    assert_eq!(
        out["error"]["details"]["instance"],
        "is required (a string)"
    );
    // AND a wrong type in a body field behind the path part
    let out = error_output(
        find("run_command")
            .expect("tool")
            .validate(json!({"instance": "a", "command": "ls", "timeoutMs": "soon"}))
            .expect_err("refused"),
    );
    assert!(out["error"]["details"]["timeoutMs"].is_string(), "{out}");
    // AND input that is no object at all
    let err = find("list_instances")
        .expect("tool")
        .validate(json!([1]))
        .expect_err("refused");
    assert!(err.to_string().starts_with("input: "), "{err}");
}

#[test]
fn secret_values_are_redacted_where_the_tool_declares_them_and_nowhere_else() {
    // GIVEN the two tools that take a secret value
    let input = json!({"name": "GH_TOKEN", "value": "ghp_live", "description": "deploys"});
    let r = redact("create_secret", &input);
    assert_eq!(r["value"], REDACTED);
    assert_eq!(r["name"], "GH_TOKEN");
    assert_eq!(r["description"], "deploys");
    let r = redact(
        "update_secret",
        &json!({"secret": "GH_TOKEN", "value": "new"}),
    );
    assert_eq!(r, json!({"secret": "GH_TOKEN", "value": REDACTED}));
    // an update without a value gets no value added
    let r = redact(
        "update_secret",
        &json!({"secret": "GH_TOKEN", "isGlobal": true}),
    );
    assert!(r.get("value").is_none());
    // WHEN another tool has a field of the same name THEN it is kept: it is no secret
    let env = json!({"name": "a", "env": {"value": "plain"}, "value": "x"});
    assert_eq!(redact("create_instance", &env), env);
    assert_eq!(redact("no_such_tool", &env), env);
    // AND a replayed call whose secret was redacted is recognised as having lost it
    let t = find("create_secret").expect("tool");
    assert!(t.lost_a_secret(&t.redact(&input)));
    assert!(!t.lost_a_secret(&input));
    assert!(!find("create_instance")
        .expect("tool")
        .lost_a_secret(&json!({"value": REDACTED})));
}

#[test]
fn the_catalogue_offers_every_tool_with_its_schema() {
    let cat = catalogue();
    assert_eq!(cat.len(), ALL.len());
    let create = cat
        .iter()
        .find(|t| t.name == "create_instance")
        .expect("create_instance");
    assert_eq!(create.schema["required"], json!(["name"]));
    assert!(create.schema["properties"]["checkpointRepo"].is_object());
    let update = cat
        .iter()
        .find(|t| t.name == "update_instance")
        .expect("update_instance");
    assert_eq!(update.schema["required"], json!(["instance"]));
}

#[test]
fn tools_declare_what_they_do_to_the_account() {
    use super::{find, Effect};
    // Reads only read; adds only add; the rest (updates, deletes, overwrites, commands) change.
    for (name, effect) in [
        ("list_instances", Effect::Reads),
        ("read_file", Effect::Reads),
        ("get_billing", Effect::Reads),
        ("create_instance", Effect::Adds),
        ("grant_secret", Effect::Adds),
        ("update_secret", Effect::Changes),
        ("delete_instance", Effect::Changes),
        ("write_file", Effect::Changes),
        ("run_command", Effect::Changes),
    ] {
        assert_eq!(find(name).unwrap().effect(), effect, "{name}");
    }
}
