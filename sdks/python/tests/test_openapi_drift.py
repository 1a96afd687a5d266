"""The SDK cannot drift from the API: this loads the running server's OpenAPI document and
checks
- every model's fields (camelCase names) and which are required against the schema it names
  (``Model.openapi``: a component, or an operation's response), failing on a missing or extra
  field;
- the Literal enums against the enum schemas;
- every operation of the public API has an SDK method, each method sends the method and path
  it claims (recorded through a mock transport), and its keyword arguments are exactly the
  operation's JSON body properties and query parameters (snake_case), required ones positional.
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any, Dict, List, Optional, Tuple

import httpx
import pytest
from pydantic.alias_generators import to_camel

import operator_sdk
from operator_sdk import Model, Operator
from operator_sdk._models import ENUMS
from operator_sdk import _streaming

MODELS = [
    getattr(operator_sdk, n)
    for n in operator_sdk._models.__all__
    if inspect.isclass(getattr(operator_sdk, n)) and issubclass(getattr(operator_sdk, n), Model)
    and getattr(operator_sdk, n) is not Model
]

# Operations of the spec the SDK deliberately does not wrap, with the reason.
NOT_WRAPPED = {
    "POST /api/cli/approve": "browser login flow of the CLI (a signed-in user approves a CLI session)",
    "GET /api/cli/poll": "the CLI's side of the login flow (no API key yet)",
    "GET /api/webhooks/trigger/{token}": "documentation twin of the POST trigger (webhooks.trigger sends POST)",
    "POST /api/v1/chat/completions": "the OpenAI-compatible endpoint: the official `openai` client is its SDK",
    "GET /api/v1/models": "the OpenAI-compatible endpoint: the official `openai` client is its SDK",
    "POST /mcp": "the MCP endpoint: MCP clients (the `mcp` SDK) speak it",
    "GET /mcp": "the MCP endpoint: MCP clients (the `mcp` SDK) speak it",
    "DELETE /mcp": "the MCP endpoint: MCP clients (the `mcp` SDK) speak it",
}

# (SDK method, positional args, the operation it must call, path parameters among the args)
OPERATIONS: List[Tuple[str, tuple, str]] = [
    ("health", (), "GET /api/health"),
    ("whoami", (), "GET /api/cli/health"),
    ("instances.create", ("n",), "POST /api/instances"),
    ("instances.list", (), "GET /api/instances"),
    ("instances.list_page", (), "GET /api/instances"),
    ("instances.get", ("i",), "GET /api/instances/{id}"),
    ("instances.update", ("i",), "PUT /api/instances/{id}"),
    ("instances.delete", ("i",), "DELETE /api/instances/{id}"),
    ("instances.restart", ("i",), "POST /api/instances/{id}/restart"),
    ("instances.clone", ("i", "n"), "POST /api/instances/{id}/clone"),
    ("instances.activity", ("i",), "GET /api/instances/{id}/activity"),
    ("instances.cron.list", ("i",), "GET /api/instances/{id}/cron"),
    ("instances.cron.add", ("i", "n", {"cron": "0 8 * * *"}, "m"), "POST /api/instances/{id}/cron"),
    ("instances.exec", ("i", "ls"), "POST /api/instances/{id}/exec"),
    ("instances.message", ("i", "hi"), "POST /api/instances/{id}/messages"),
    ("instances.files.read", ("i", "p"), "GET /api/instances/{id}/files"),
    ("instances.files.write", ("i", "p", "x"), "PUT /api/instances/{id}/files"),
    ("instances.files.delete", ("i", "p"), "DELETE /api/instances/{id}/files"),
    ("instances.browser.open", ("i", "http://x"), "POST /api/instances/{id}/browser/open"),
    ("instances.browser.screenshot", ("i",), "GET /api/instances/{id}/browser/screenshot"),
    ("secrets.create", ("N", "v"), "POST /api/secrets"),
    ("secrets.list", (), "GET /api/secrets"),
    ("secrets.list_page", (), "GET /api/secrets"),
    ("secrets.get", ("s",), "GET /api/secrets/{id}"),
    ("secrets.update", ("s",), "PUT /api/secrets/{id}"),
    ("secrets.delete", ("s",), "DELETE /api/secrets/{id}"),
    ("secrets.grant", ("s", "i"), "POST /api/secrets/{id}/grants"),
    ("secrets.revoke", ("s", "i"), "DELETE /api/secrets/{id}/grants/{instanceId}"),
    ("automations.create", ("n", "p", "* * * * *"), "POST /api/automations"),
    ("automations.list", (), "GET /api/automations"),
    ("automations.list_page", (), "GET /api/automations"),
    ("automations.get", ("a",), "GET /api/automations/{id}"),
    ("automations.update", ("a",), "PUT /api/automations/{id}"),
    ("automations.delete", ("a",), "DELETE /api/automations/{id}"),
    ("automations.run", ("a",), "POST /api/automations/{id}/run"),
    ("automations.runs", ("a",), "GET /api/automations/{id}/runs"),
    ("automations.runs_page", ("a",), "GET /api/automations/{id}/runs"),
    ("automations.next_runs", ("* * * * *",), "GET /api/automations/next-runs"),
    ("webhooks.create", ("n", "{{payload}}"), "POST /api/webhooks"),
    ("webhooks.list", (), "GET /api/webhooks"),
    ("webhooks.list_page", (), "GET /api/webhooks"),
    ("webhooks.get", ("w",), "GET /api/webhooks/{id}"),
    ("webhooks.update", ("w",), "PUT /api/webhooks/{id}"),
    ("webhooks.delete", ("w",), "DELETE /api/webhooks/{id}"),
    ("webhooks.deliveries", ("w",), "GET /api/webhooks/{id}/deliveries"),
    ("webhooks.deliveries_page", ("w",), "GET /api/webhooks/{id}/deliveries"),
    ("webhooks.trigger", ("t",), "POST /api/webhooks/trigger/{token}"),
    ("experiments.create", ("n", ["i"], [{"input": "q", "expected": "a"}], {"type": "exact"}), "POST /api/experiments"),
    ("experiments.list", (), "GET /api/experiments"),
    ("experiments.list_page", (), "GET /api/experiments"),
    ("experiments.get", ("e",), "GET /api/experiments/{id}"),
    ("experiments.results", ("e",), "GET /api/experiments/{id}/results"),
    ("experiments.results_page", ("e",), "GET /api/experiments/{id}/results"),
    ("experiments.cancel", ("e",), "POST /api/experiments/{id}/cancel"),
    ("experiments.evolve", ("e", 2, 5), "POST /api/experiments/{id}/evolve"),
    ("experiments.delete", ("e",), "DELETE /api/experiments/{id}"),
    ("keys.create", (), "POST /api/chat-keys"),
    ("keys.list", (), "GET /api/chat-keys"),
    ("keys.list_page", (), "GET /api/chat-keys"),
    ("keys.delete", ("k",), "DELETE /api/chat-keys/{id}"),
    ("billing.get", (), "GET /api/billing"),
    ("chat.send", ("hi",), "POST /api/chat"),
    ("chat.stream", ("hi",), "POST /api/chat"),
    ("chat.history", (), "GET /api/chat/history"),
    ("chat.history_page", (), "GET /api/chat/history"),
    ("chat.get", ("c",), "GET /api/chat/{id}"),
    ("chat.delete", ("c",), "DELETE /api/chat/{id}"),
    ("chat.reattach", ("c",), "GET /api/chat/{id}/stream"),
]

# Arguments that are not part of the wire schema: transport options.
TRANSPORT_ARGS = {"idempotency_key", "timeout", "self"}
# Headers the SDK sets itself (documented as header parameters).
SDK_HEADERS = {"x-response-format", "last-event-id", "idempotency-key"}


# --- resolving schemas ----------------------------------------------------------------


def deref(spec: dict, schema: Optional[dict]) -> Optional[dict]:
    """Follows ``$ref``s, merges ``allOf``, and drops a ``null`` alternative."""
    seen = 0
    while schema is not None:
        seen += 1
        assert seen < 50, "reference loop"
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = spec["components"]["schemas"][name]
            continue
        if "allOf" in schema:
            merged: Dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in schema["allOf"]:
                p = deref(spec, part) or {}
                merged["properties"].update(p.get("properties", {}))
                merged["required"] += p.get("required", [])
            return merged
        for key in ("oneOf", "anyOf"):
            alts = schema.get(key)
            if alts:
                non_null = [a for a in alts if a.get("type") != "null"]
                if len(non_null) == 1:
                    schema = non_null[0]
                    break
        else:
            return schema
    return schema


def operation(spec: dict, key: str) -> Optional[dict]:
    method, path = key.split(" ", 1)
    return spec["paths"].get(path, {}).get(method.lower())


def resolve(spec: dict, locator: str) -> Optional[dict]:
    """A schema by locator: a component, ``METHOD /path STATUS`` (a response) or ``METHOD /path
    request`` (the JSON request body), then selectors: ``name`` (a property), ``name[]`` (an
    array property's items), ``|field=value`` (the ``oneOf`` variant whose ``field`` is that
    constant) and ``?name`` (the ``oneOf`` variant that has property ``name``, for unions
    without a tag)."""
    tokens = locator.split()
    if tokens[0].isupper() and len(tokens) >= 3 and tokens[1].startswith("/"):
        op = operation(spec, f"{tokens[0]} {tokens[1]}")
        if op is None:
            return None
        if tokens[2] == "request":
            content = (op.get("requestBody") or {}).get("content", {})
        else:
            content = (op.get("responses", {}).get(tokens[2], {}) or {}).get("content", {})
        media = content.get("application/json")
        if not media or "schema" not in media:
            return None
        schema = deref(spec, media["schema"])
        selectors = tokens[3:]
    else:
        if tokens[0] not in spec["components"]["schemas"]:
            return None
        schema = deref(spec, {"$ref": "#/components/schemas/" + tokens[0]})
        selectors = tokens[1:]
    for sel in selectors:
        if schema is None:
            return None
        if sel.startswith("|"):
            field, value = sel[1:].split("=")
            variants = [deref(spec, v) for v in schema.get("oneOf", schema.get("anyOf", []))]
            schema = next(
                (
                    v
                    for v in variants
                    if v
                    and (
                        (v.get("properties", {}).get(field, {}).get("const") == value)
                        or value in (v.get("properties", {}).get(field, {}).get("enum") or [])
                    )
                ),
                None,
            )
        elif sel.startswith("?"):
            variants = [deref(spec, v) for v in schema.get("oneOf", schema.get("anyOf", []))]
            schema = next((v for v in variants if v and sel[1:] in (v.get("properties") or {})), None)
        elif sel.endswith("[]"):
            schema = deref(spec, (schema.get("properties") or {}).get(sel[:-2]))
            schema = deref(spec, schema.get("items")) if schema else None
        else:
            schema = deref(spec, (schema.get("properties") or {}).get(sel))
    return schema


def schema_for(spec: dict, model: type) -> Tuple[Optional[dict], List[str]]:
    tried = [model.openapi, *model.openapi_fallback]
    for loc in tried:
        s = resolve(spec, loc)
        if s is not None and s.get("properties"):
            return s, tried
    return None, tried


def wire_fields(model: type) -> Dict[str, bool]:
    """camelCase name -> required, of a model's declared fields."""
    return {(f.alias or name): f.is_required() for name, f in model.model_fields.items()}


# --- models ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_model_matches_its_schema(spec: dict, model: type):
    assert model.openapi, f"{model.__name__} names no OpenAPI schema"
    schema, tried = schema_for(spec, model)
    if schema is None:
        pytest.skip(f"the OpenAPI document has no schema for {model.__name__} yet (tried {tried})")
    props = set(schema.get("properties", {}))
    required = set(schema.get("required", []))
    fields = wire_fields(model)
    missing = props - set(fields)
    extra = set(fields) - props
    assert not missing, f"{model.__name__} lacks fields of its schema: {sorted(missing)}"
    assert not extra, f"{model.__name__} has fields its schema does not: {sorted(extra)}"
    model_required = {k for k, r in fields.items() if r}
    assert model_required == required, (
        f"{model.__name__}: required in the model {sorted(model_required)} "
        f"but in the schema {sorted(required)}"
    )


@pytest.mark.parametrize(
    "model",
    [m for m in MODELS if any(" request" in loc for loc in (m.openapi, *m.openapi_fallback))],
    ids=lambda m: m.__name__,
)
def test_request_body_locators_match_too(spec: dict, model: type):
    """A model of a nested request value is also checked through the operation's request body,
    which the document always has (whether the value is a component or inlined)."""
    for loc in (model.openapi, *model.openapi_fallback):
        if " request" not in loc:
            continue
        schema = resolve(spec, loc)
        assert schema is not None and schema.get("properties"), f"{loc} resolves to nothing"
        fields = wire_fields(model)
        assert set(schema["properties"]) == set(fields), (model.__name__, loc)
        assert set(schema.get("required", [])) == {k for k, r in fields.items() if r}, (model.__name__, loc)


def test_the_drift_check_itself_catches_a_missing_and_an_extra_field(spec: dict):
    class Broken(Model):
        openapi = "InstanceView"
        id: str
        invented: str

    schema, _ = schema_for(spec, Broken)
    fields = wire_fields(Broken)
    assert set(schema["properties"]) - set(fields)  # missing ones are seen
    assert set(fields) - set(schema["properties"]) == {"invented"}  # and the extra one


@pytest.mark.parametrize("alias", sorted(ENUMS))
def test_enum_matches(spec: dict, alias: str):
    literal, locator = ENUMS[alias]
    schema = resolve(spec, locator)
    assert schema is not None and "enum" in schema, f"no {locator} enum in the document"
    assert set(typing.get_args(literal)) == set(schema["enum"])


def test_stream_event_types_match_the_documented_chunks(spec: dict):
    """If the document describes the UI message chunk union, every chunk type is known."""
    schemas = spec["components"]["schemas"]
    documented = set()
    for s in schemas.values():
        for alt in s.get("oneOf", []):
            alt = deref(spec, alt) or {}
            t = alt.get("properties", {}).get("type", {})
            for v in t.get("enum", []) + ([t["const"]] if "const" in t else []):
                documented.add(v)
    chunk_types = documented & {"start", "start-step", "text-delta", "finish"}
    if len(chunk_types) < 4:
        pytest.skip("the OpenAPI document does not describe the UI message chunks as a schema yet")
    unknown = {t for t in documented if t not in _streaming.EVENT_TYPES and not t.startswith("data-")}
    # other enums with oneOf may contribute values: only the chunk-like ones must be known
    unknown = {t for t in unknown if "-" in t or t in ("start", "finish", "error")}
    assert not unknown, f"chunk types the SDK does not type: {sorted(unknown)}"


# --- operations -----------------------------------------------------------------------


def public_operations(spec: dict) -> set:
    ops = set()
    for path, item in spec["paths"].items():
        if not path.startswith("/api/") or path == "/api/openapi.json":
            continue
        for method in ("get", "post", "put", "delete", "patch"):
            if method in item:
                ops.add(f"{method.upper()} {path}")
    return ops


def test_every_public_operation_has_an_sdk_method(spec: dict):
    covered = {op for _, _, op in OPERATIONS}
    missing = public_operations(spec) - covered - set(NOT_WRAPPED)
    assert not missing, f"operations without an SDK method: {sorted(missing)}"
    stale = covered - public_operations(spec)
    assert not stale, f"SDK methods for operations the document no longer has: {sorted(stale)}"


def _method(client: Any, dotted: str) -> Any:
    obj = client
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("dotted,args,op", OPERATIONS, ids=[o[0] for o in OPERATIONS])
def test_method_sends_its_operation(dotted: str, args: tuple, op: str):
    seen: List[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "recorded"}})

    client = Operator(api_key="k", base_url="http://sdk.test", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    result = None
    try:
        result = _method(client, dotted)(*args)
        if hasattr(result, "__iter__") and not isinstance(result, (str, bytes)):
            list(result)
    except operator_sdk.NotFoundError:
        pass
    assert len(seen) == 1, f"{dotted} sent {len(seen)} requests"
    method, template = op.split(" ", 1)
    pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
    assert seen[0].method == method and re.match(pattern, seen[0].url.path), (
        f"{dotted} sent {seen[0].method} {seen[0].url.path}, expected {op}"
    )


def _wire_params(fn: Any, op: dict, spec: dict) -> Tuple[Dict[str, bool], Dict[str, bool]]:
    """(SDK side, spec side): camelCase name -> required, for body properties + query params."""
    path_params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
    sdk: Dict[str, bool] = {}
    sig = inspect.signature(fn)
    positional_path = len(path_params)
    for i, (name, p) in enumerate(sig.parameters.items()):
        if name in TRANSPORT_ARGS or i < positional_path:
            continue
        sdk[to_camel(name)] = p.default is inspect.Parameter.empty
    theirs: Dict[str, bool] = {}
    for p in op.get("parameters", []):
        if p["in"] == "query":
            theirs[p["name"]] = bool(p.get("required"))
    body = (op.get("requestBody") or {}).get("content", {}).get("application/json")
    if body:
        schema = deref(spec, body["schema"]) or {}
        required = set(schema.get("required", []))
        for prop in schema.get("properties", {}):
            theirs[prop] = prop in required
    return sdk, theirs


# Methods whose arguments are not a JSON body / query mirror, with the reason.
ARG_EXCEPTIONS = {
    "chat.send": "takes the text and chat id; builds the AI SDK UIMessage body",
    "chat.stream": "same as chat.send",
    "chat.reattach": "takes the chat id and `after` (sent as the `after` query parameter)",
    "instances.files.write": "the raw body is `content`",
    "webhooks.trigger": "the raw body is `payload`; the token or full URL is the path",
    "instances.list": "iterates pages itself (cursor is the starting cursor)",
}


# Arguments the SDK requires although the document marks them optional, with the reason.
STRICTER = {
    ("instances.files.delete", "path"): "deleting needs a path (the workspace root cannot be deleted)",
}
# Arguments with an SDK default although the document requires them (the default is always sent).
LOOSER = {
    ("instances.files.read", "path"): "defaults to the workspace root (`path=` empty)",
}


@pytest.mark.parametrize("dotted,args,op", OPERATIONS, ids=[o[0] for o in OPERATIONS])
def test_method_arguments_mirror_the_operation(spec: dict, dotted: str, args: tuple, op: str):
    if dotted in ARG_EXCEPTIONS:
        fn = _method(Operator(api_key="k"), dotted)
        # still: every query parameter the operation takes is accepted
        sdk, theirs = _wire_params(fn, operation(spec, op), spec)
        query = {p["name"] for p in operation(spec, op).get("parameters", []) if p["in"] == "query"}
        assert query <= set(sdk) | {"path"}, f"{dotted} lacks query parameters {sorted(query - set(sdk))}"
        return
    fn = _method(Operator(api_key="k"), dotted)
    sdk, theirs = _wire_params(fn, operation(spec, op), spec)
    assert set(sdk) == set(theirs), f"{dotted}: SDK arguments {sorted(sdk)} vs spec {sorted(theirs)}"
    for name, required in theirs.items():
        if (dotted, name) in STRICTER and sdk[name] and not required:
            continue
        if (dotted, name) in LOOSER and required and not sdk[name]:
            continue
        assert sdk[name] == required, f"{dotted}: `{name}` required={required} in the spec"


def test_resolver_follows_operations_tagged_unions_and_nested_paths():
    """The locators work on the shapes utoipa emits for responses not yet in the document."""
    from operator_sdk import DirEntry, DirectoryListing, ExecResult, FileContent

    s = lambda t: {"type": t}  # noqa: E731
    spec = {
        "paths": {
            "/api/instances/{id}/files": {"get": {"responses": {"200": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/FileNode"}}}}}}},
            "/api/instances/{id}/exec": {"post": {"responses": {"200": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ExecResult"}}}}}}},
        },
        "components": {"schemas": {
            "DirEntry": {"type": "object", "required": ["name", "type", "size"], "properties": {
                "name": s("string"), "type": s("string"), "size": s("integer"), "modifiedAt": s(["string", "null"])}},
            "FileNode": {"oneOf": [
                {"type": "object", "required": ["path", "entries", "type"], "properties": {
                    "path": s("string"), "type": {"type": "string", "enum": ["directory"]},
                    "entries": {"type": "array", "items": {"$ref": "#/components/schemas/DirEntry"}}}},
                {"allOf": [
                    {"type": "object", "required": ["path", "size", "encoding", "content"], "properties": {
                        "path": s("string"), "size": s("integer"), "modifiedAt": s(["string", "null"]),
                        "encoding": s("string"), "content": s("string")}},
                    {"type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["file"]}}},
                ]},
            ]},
            "ExecResult": {"type": "object", "required": ["stdout", "stderr", "timedOut", "truncated", "durationMs"],
                           "properties": {"exitCode": s(["integer", "null"]), "stdout": s("string"), "stderr": s("string"),
                                          "timedOut": s("boolean"), "truncated": s("boolean"), "durationMs": s("integer")}},
        }},
    }
    for model in (DirEntry, DirectoryListing, FileContent, ExecResult):
        schema, tried = schema_for(spec, model)
        assert schema is not None, (model.__name__, tried)
        fields = wire_fields(model)
        assert set(fields) == set(schema["properties"]), model.__name__
        assert {k for k, r in fields.items() if r} == set(schema.get("required", [])), model.__name__


def test_resolver_picks_an_untagged_union_variant_by_its_property():
    """``?name`` selects the ``oneOf`` variant that has that property (the dataset bodies)."""
    from operator_sdk import FileDataset, InlineDataset, UrlDataset

    spec = {"paths": {}, "components": {"schemas": {
        "DatasetBody": {"oneOf": [
            {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {}}}},
            {"type": "object", "required": ["file"], "properties": {"file": {"type": "object"}}},
            {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}},
        ]},
    }}}
    for model, prop in ((InlineDataset, "items"), (FileDataset, "file"), (UrlDataset, "url")):
        schema, _ = schema_for(spec, model)
        assert schema is not None and set(schema["properties"]) == {prop} == set(wire_fields(model))
    assert resolve(spec, "DatasetBody ?rows") is None
