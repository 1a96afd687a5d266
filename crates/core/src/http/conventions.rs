//! What every route of the OpenAPI document shares, stated once from the layers that cause
//! it rather than repeated in each handler's annotation: the authentication middleware
//! answers 401 on every route that needs a key (or an instance token); the JSON body
//! extractor answers 400 (bad JSON or validation), 413 and 415 and reads an empty body as
//! `{}`; the query and path extractors answer 400; the id lookups 404. Also the field rules of
//! [`crate::views::patterns`], raw request bodies, and the server list.

use crate::views::patterns;
use std::collections::HashSet;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{Object, Schema, SchemaType, Type};
use utoipa::openapi::{
    Components, ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder,
    ServerBuilder,
};
use utoipa::Modify;

pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApi) {
        openapi.servers = Some(vec![ServerBuilder::new()
            .url("/")
            .description(Some("this server"))
            .build()]);
        let mut optional = HashSet::new();
        if let Some(components) = openapi.components.as_mut() {
            set_field_patterns(components);
            optional = bodies_without_required_fields(components);
        }
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                allow_empty_json_body(op, &optional);
                accept_raw_bodies(op);
                parameters_without_null(op);
                set_parameter_patterns(op);
                add_layer_errors(op);
            }
        }
    }
}

fn object(schema: Option<&mut RefOr<Schema>>) -> Option<&mut Object> {
    match schema {
        Some(RefOr::T(Schema::Object(o))) => Some(o),
        _ => None,
    }
}

/// The validation rules of request fields, as patterns.
fn set_field_patterns(components: &mut Components) {
    for (schema, property, pattern) in patterns::FIELDS {
        if let Some(o) = object(components.schemas.get_mut(*schema)) {
            if let Some(field) = object(o.properties.get_mut(*property)) {
                field.pattern = Some((*pattern).to_owned());
            }
        }
    }
}

fn bodies_without_required_fields(components: &Components) -> HashSet<String> {
    components
        .schemas
        .iter()
        .filter(|(_, s)| matches!(s, RefOr::T(Schema::Object(o)) if o.required.is_empty()))
        .map(|(name, _)| name.clone())
        .collect()
}

/// A JSON body whose fields are all optional may be left out (read as `{}`).
fn allow_empty_json_body(op: &mut Operation, optional: &HashSet<String>) {
    let Some(body) = op.request_body.as_mut() else {
        return;
    };
    let named = match body.content.get("application/json").map(|c| &c.schema) {
        Some(Some(RefOr::Ref(r))) => r.ref_location.rsplit('/').next(),
        _ => None,
    };
    if named.is_some_and(|name| optional.contains(name)) {
        body.required = Some(Required::False);
    }
}

/// Raw bodies (declared as text): any bytes, text or binary; an empty one is empty content.
fn accept_raw_bodies(op: &mut Operation) {
    let Some(body) = op.request_body.as_mut() else {
        return;
    };
    if body.content.contains_key("text/plain") {
        body.content.insert(
            "application/octet-stream".to_owned(),
            ContentBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .content_media_type("application/octet-stream"),
                ))
                .build(),
        );
        body.required = Some(Required::False);
    }
}

/// A parameter is absent or a value: `null` cannot be sent in a query or a header.
fn parameters_without_null(op: &mut Operation) {
    for p in op.parameters.iter_mut().flatten() {
        let Some(o) = object(p.schema.as_mut()) else {
            continue;
        };
        if let SchemaType::Array(types) = &o.schema_type {
            let without_null: Vec<_> = types.iter().filter(|t| **t != Type::Null).collect();
            if let [only] = without_null.as_slice() {
                o.schema_type = SchemaType::Type((*only).clone());
            }
        }
    }
}

fn set_parameter_patterns(op: &mut Operation) {
    for (id, name, pattern, required) in patterns::PARAMETERS {
        if op.operation_id.as_deref() != Some(*id) {
            continue;
        }
        for p in op
            .parameters
            .iter_mut()
            .flatten()
            .filter(|p| p.name == *name)
        {
            p.required = if *required {
                Required::True
            } else {
                Required::False
            };
            if let Some(o) = object(p.schema.as_mut()) {
                o.pattern = Some((*pattern).to_owned());
                if *required {
                    o.min_length = Some(1);
                }
            }
        }
    }
}

fn add_layer_errors(op: &mut Operation) {
    let public = op.security.as_ref().is_some_and(|reqs| {
        reqs.iter()
            .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
    });
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    let params = op.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| params.iter().any(|p| p.parameter_in == place);
    let (has_query, has_path) = (has(ParameterIn::Query), has(ParameterIn::Path));
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error(description));
    };
    if !public {
        add(
            "401",
            "unauthorized: the key (or instance token) is missing, unknown or revoked",
        );
        add(
            "429",
            "rate_limited: over the API key's requests per second (`Retry-After` says when to retry)",
        );
    }
    if json_body {
        add("400", "invalid_request: the body is not valid JSON or a field is invalid (`details` names each field)");
        add("413", "payload_too_large: the body is over the limit");
        add("415", "the body is not `application/json`");
    }
    if has_query {
        add(
            "400",
            "invalid_request: a query parameter is invalid (`details` names it)",
        );
    }
    if has_path {
        add("404", "not_found: no such resource in this account");
    }
}

/// A response with API.md's error body.
fn error(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
                    .build(),
            )
            .build(),
    )
}
