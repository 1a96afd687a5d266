// Reading the OpenAPI document: references, the operations in order, and example values.
//
// Examples come only from the specification itself (media-type `example`/`examples`, schema
// `example`/`examples`/`const`/`default`/`enum`). A body is pre-filled only when every required
// field has such a value; otherwise the field stays empty and the schema is shown instead, so the
// page never offers a body the API would reject for want of a guessed value.

export const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

/** Follows `$ref` (local JSON pointers only) until a non-reference object. */
export function deref(spec, obj) {
  const seen = new Set();
  while (obj && typeof obj === 'object' && typeof obj.$ref === 'string') {
    if (seen.has(obj.$ref) || !obj.$ref.startsWith('#/')) return {};
    seen.add(obj.$ref);
    let target = spec;
    for (const raw of obj.$ref.slice(2).split('/')) {
      const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      target = target && typeof target === 'object' ? target[part] : undefined;
    }
    obj = target;
  }
  return obj && typeof obj === 'object' ? obj : {};
}

/** The name a `$ref` points at (`#/components/schemas/InstanceView` → `InstanceView`). */
export function refName(schema) {
  return schema && typeof schema.$ref === 'string' ? schema.$ref.split('/').pop() : null;
}

/** Every operation in document order: `{ id, method, path, op, params, tag }`. */
export function operations(spec) {
  const out = [];
  for (const [path, rawItem] of Object.entries(spec.paths || {})) {
    const item = deref(spec, rawItem);
    const shared = (item.parameters || []).map((p) => deref(spec, p));
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      // operation-level parameters override path-level ones of the same name and location
      const own = (op.parameters || []).map((p) => deref(spec, p));
      const params = [
        ...shared.filter((s) => !own.some((o) => o.name === s.name && o.in === s.in)),
        ...own,
      ];
      out.push({
        id: anchor(method, path),
        method,
        path,
        op,
        params,
        tag: (op.tags && op.tags[0]) || 'other',
      });
    }
  }
  return out;
}

/** A stable element id for an operation (operationIds are not guaranteed unique). */
export function anchor(method, path) {
  return `op-${method}-${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
}

/** The non-null type of a schema (`["string","null"]` → `string`), guessed from its keywords. */
export function typeOf(schema) {
  const t = schema.type;
  if (Array.isArray(t)) return t.find((x) => x !== 'null') || 'null';
  if (t) return t;
  if (schema.properties || schema.additionalProperties) return 'object';
  if (schema.items) return 'array';
  return null;
}

function nullable(schema) {
  return (Array.isArray(schema.type) && schema.type.includes('null')) || schema.nullable === true;
}

/** A value the specification itself gives for this schema, if any: `{ value }` or null. */
function given(schema) {
  if ('example' in schema) return { value: schema.example };
  if (Array.isArray(schema.examples) && schema.examples.length) return { value: schema.examples[0] };
  if ('const' in schema) return { value: schema.const };
  if ('default' in schema) return { value: schema.default };
  if (Array.isArray(schema.enum)) {
    const v = schema.enum.find((x) => x !== null);
    if (v !== undefined) return { value: v };
  }
  return null;
}

/**
 * An example value for `schema`: `{ value }`, or null when the specification does not say
 * enough to build one that the API accepts. Objects get their required fields only.
 */
export function exampleOf(spec, rawSchema, depth = 0) {
  if (!rawSchema || depth > 8) return null;
  const schema = deref(spec, rawSchema);
  const g = given(schema);
  if (g) return g;
  if (Array.isArray(schema.allOf) && schema.allOf.length) {
    const merged = {};
    for (const part of schema.allOf) {
      const e = exampleOf(spec, part, depth + 1);
      if (!e || typeof e.value !== 'object' || e.value === null || Array.isArray(e.value)) return null;
      Object.assign(merged, e.value);
    }
    return { value: merged };
  }
  for (const key of ['oneOf', 'anyOf']) {
    if (Array.isArray(schema[key])) {
      const options = schema[key].filter((s) => deref(spec, s).type !== 'null');
      for (const option of options) {
        const e = exampleOf(spec, option, depth + 1);
        if (e) return e;
      }
      return null;
    }
  }
  switch (typeOf(schema)) {
    case 'object': {
      const props = schema.properties || {};
      const required = schema.required || [];
      if (!Object.keys(props).length && !required.length) {
        // an object whose shape the specification leaves open: nothing sensible to invent
        return schema.properties ? { value: {} } : null;
      }
      const value = {};
      // required fields only: an optional one the API would default is better left out than
      // guessed (an example repository to clone, a rename, …)
      for (const name of required) {
        if (!(name in props)) return null;
        const e = exampleOf(spec, props[name], depth + 1);
        if (!e) return null;
        value[name] = e.value;
      }
      if (required.some((r) => !(r in value))) return null;
      return { value };
    }
    case 'array': {
      const item = schema.items ? exampleOf(spec, schema.items, depth + 1) : null;
      return item ? { value: [item.value] } : null;
    }
    case 'boolean':
      return { value: false };
    case 'integer':
    case 'number':
      if (typeof schema.minimum === 'number') return { value: schema.minimum };
      return null;
    case 'null':
      return { value: null };
    default:
      // a string without an example: any guess ("string", "") may be refused
      return null;
  }
}

/**
 * The examples of a request body's media type, in order: `[{ name, value }]` (first is the
 * default). Text media types get their value as a string.
 */
export function bodyExamples(spec, mediaType, media) {
  const out = [];
  if (!media) return out;
  if ('example' in media) out.push({ name: 'example', value: media.example });
  if (media.examples && typeof media.examples === 'object') {
    for (const [name, raw] of Object.entries(media.examples)) {
      const ex = deref(spec, raw);
      if ('value' in ex) out.push({ name: ex.summary || name, value: ex.value });
    }
  }
  if (!out.length) {
    const e = exampleOf(spec, media.schema);
    if (e) out.push({ name: 'from the schema', value: e.value });
  }
  return out;
}

/** True when a media type is JSON (`application/json`, `application/problem+json`, …). */
export function isJson(mediaType) {
  return /^application\/([\w.-]+\+)?json\b/i.test(mediaType || '');
}

/** The text to show in a body field for an example value of `mediaType`. */
export function exampleText(mediaType, value) {
  if (isJson(mediaType)) return JSON.stringify(value, null, 2);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A short human description of a schema's type and constraints. */
export function describeType(spec, rawSchema) {
  const schema = deref(spec, rawSchema || {});
  const name = refName(rawSchema);
  let t = typeOf(schema) || (schema.oneOf || schema.anyOf ? 'one of' : 'any');
  if (t === 'array' && schema.items) {
    const inner = refName(schema.items) || typeOf(deref(spec, schema.items)) || 'any';
    t = `array of ${inner}`;
  }
  const bits = [name ? `${name} (${t})` : t];
  if (schema.format) bits.push(`format ${schema.format}`);
  if (nullable(schema)) bits.push('nullable');
  if (Array.isArray(schema.enum)) bits.push(`one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  if (schema.pattern) bits.push(`pattern ${schema.pattern}`);
  if (schema.minLength !== undefined) bits.push(`min length ${schema.minLength}`);
  if (schema.maxLength !== undefined) bits.push(`max length ${schema.maxLength}`);
  if (schema.minimum !== undefined) bits.push(`≥ ${schema.minimum}`);
  if (schema.exclusiveMinimum !== undefined) bits.push(`> ${schema.exclusiveMinimum}`);
  if (schema.maximum !== undefined) bits.push(`≤ ${schema.maximum}`);
  if (schema.exclusiveMaximum !== undefined) bits.push(`< ${schema.exclusiveMaximum}`);
  if (schema.minItems !== undefined) bits.push(`min items ${schema.minItems}`);
  if (schema.maxItems !== undefined) bits.push(`max items ${schema.maxItems}`);
  if (schema.default !== undefined) bits.push(`default ${JSON.stringify(schema.default)}`);
  return bits.join(' · ');
}

/**
 * The security requirement of an operation: `{ anonymous, schemes }` where `schemes` are the
 * names of the bearer schemes of its first non-empty requirement.
 */
export function securityOf(spec, op) {
  const reqs = op.security ?? spec.security ?? [];
  const named = reqs.filter((r) => r && Object.keys(r).length);
  return {
    anonymous: !reqs.length || reqs.some((r) => r && !Object.keys(r).length),
    schemes: named.length ? Object.keys(named[0]) : [],
  };
}

/** The scheme the page's API key field stands for: the document's default requirement. */
export function defaultScheme(spec) {
  const first = (spec.security || []).find((r) => r && Object.keys(r).length);
  if (first) return Object.keys(first)[0];
  const all = Object.keys((spec.components && spec.components.securitySchemes) || {});
  return all[0] || null;
}
