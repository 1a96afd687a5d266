//! Tool arguments: a JSON schema and validation from one Rust type. Any request type that
//! derives `Deserialize` and `utoipa::ToSchema` (the REST bodies in [`crate::views`], the
//! instance API's requests) is a tool's arguments as it is; [`On`] adds the path part REST
//! takes from the URL (`instance`, `secret`, ...) as one more required field.

use crate::error::Error;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use std::marker::PhantomData;

/// A tool's arguments: their schema and their validation.
pub trait Args: Sized {
    /// JSON Schema of the input object (`type`, `properties` and `required` always present).
    fn schema() -> Value;
    /// Reads the model's input; an error names the field at fault.
    fn parse(input: Value) -> Result<Self, Error>;
}

impl<T: DeserializeOwned + utoipa::PartialSchema> Args for T {
    fn schema() -> Value {
        object_schema(serde_json::to_value(T::schema()).unwrap_or(Value::Null))
    }

    fn parse(input: Value) -> Result<Self, Error> {
        // A tool without arguments may be called with nothing at all.
        let input = if input.is_null() { json!({}) } else { input };
        if !input.is_object() {
            return Err(Error::invalid("input", "must be a JSON object"));
        }
        serde_path_to_error::deserialize(input).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.into_inner().to_string();
            Error::invalid(&crate::error::failing_field(&path, &msg, "input"), msg)
        })
    }
}

/// `schema` as an object schema with `properties` and `required` spelled out (what model
/// providers and MCP clients expect even when empty). The type's own description is dropped:
/// it documents the Rust type; the tool's description speaks to the model.
fn object_schema(schema: Value) -> Value {
    let mut obj = match schema {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    obj.remove("description");
    obj.insert("type".into(), json!("object"));
    obj.entry("properties").or_insert_with(|| json!({}));
    obj.entry("required").or_insert_with(|| json!([]));
    Value::Object(obj)
}

/// No arguments.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct NoArgs {}

/// The path part of a REST route, as a tool argument: which resource the call is about.
pub trait PathParam {
    const FIELD: &'static str;
    const DESCRIPTION: &'static str;
}

/// `B`'s fields plus the path part `P` (a required string), e.g. `update_instance` takes
/// `{instance, ...UpdateInstanceBody}`.
#[derive(Debug)]
pub struct On<P, B> {
    /// The resource's id or name, as the model wrote it.
    pub id: String,
    pub body: B,
    param: PhantomData<P>,
}

impl<P: PathParam, B: Args> Args for On<P, B> {
    fn schema() -> Value {
        let mut schema = B::schema();
        if let Some(props) = schema["properties"].as_object_mut() {
            props.insert(
                P::FIELD.into(),
                json!({"type": "string", "description": P::DESCRIPTION}),
            );
        }
        if let Some(required) = schema["required"].as_array_mut() {
            required.insert(0, json!(P::FIELD));
        }
        schema
    }

    fn parse(input: Value) -> Result<Self, Error> {
        let mut obj = match input {
            Value::Object(o) => o,
            Value::Null => Map::new(),
            _ => return Err(Error::invalid("input", "must be a JSON object")),
        };
        let id = match obj.remove(P::FIELD) {
            Some(Value::String(s)) => s,
            _ => return Err(Error::invalid(P::FIELD, "is required (a string)")),
        };
        Ok(On {
            id,
            body: B::parse(Value::Object(obj))?,
            param: PhantomData,
        })
    }
}

/// `instance`: an instance id or name.
pub struct Instance;
impl PathParam for Instance {
    const FIELD: &'static str = "instance";
    const DESCRIPTION: &'static str = "instance id (inst_...) or name";
}

/// `secret`: a secret id or name.
pub struct Secret;
impl PathParam for Secret {
    const FIELD: &'static str = "secret";
    const DESCRIPTION: &'static str = "secret id (sec_...) or name";
}

/// `automation`: an automation id.
pub struct Automation;
impl PathParam for Automation {
    const FIELD: &'static str = "automation";
    const DESCRIPTION: &'static str = "automation id (auto_...)";
}

/// `webhook`: a webhook id.
pub struct Webhook;
impl PathParam for Webhook {
    const FIELD: &'static str = "webhook";
    const DESCRIPTION: &'static str = "webhook id (wh_...)";
}
