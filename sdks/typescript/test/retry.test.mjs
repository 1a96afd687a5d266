// Retries, timeouts and configuration against a tiny scripted HTTP server that counts requests:
// 429 with Retry-After is waited out and retried; 5xx is retried for idempotent requests (POSTs
// carry one Idempotency-Key across attempts); chat POSTs are not retried after a 5xx; a long
// Retry-After is thrown; connection failures and timeouts are typed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import {
  AuthenticationError,
  BadRequestError,
  CapacityExceededError,
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  ConnectionError,
  InternalServerError,
  Operator,
  OperatorError,
  RateLimitError,
  TimeoutError,
} from '../dist/index.js';

/** Answers from a queue of scripted responses; records every request. */
let script = [];
const seen = [];
const fake = createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  seen.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
  const next = script.shift() ?? { status: 500, body: { error: { code: 'script_exhausted', message: 'no more' } } };
  if (next.delayMs) await new Promise((r) => setTimeout(r, next.delayMs));
  if (res.destroyed) return;
  res.writeHead(next.status, { 'content-type': next.contentType ?? 'application/json', ...next.headers });
  res.end(typeof next.body === 'string' ? next.body : JSON.stringify(next.body));
});
let baseURL;
const instance = { id: 'inst_1', name: 'x', kind: 'prebuilt', status: 'active' };
const limited = (retryAfter) => ({
  status: 429,
  headers: retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) },
  body: { error: { code: 'rate_limited', message: 'slow down' } },
});
const failed = (status = 503) => ({ status, body: { error: { code: 'unavailable', message: 'try later' } } });

before(async () => {
  await new Promise((r) => fake.listen(0, '127.0.0.1', r));
  baseURL = `http://127.0.0.1:${fake.address().port}`;
});
after(async () => {
  fake.closeAllConnections();
  await new Promise((r) => fake.close(r));
});

function reset(...responses) {
  script = responses;
  seen.length = 0;
}

describe('retries', () => {
  test('a 429 with Retry-After is waited out and retried', async () => {
    reset(limited(1), { status: 200, body: { instance } });
    const client = new Operator({ apiKey: 'ck_live_test', baseURL });
    const started = Date.now();
    const got = await client.instances.get('inst_1');
    const elapsed = Date.now() - started;
    assert.equal(got.id, 'inst_1');
    assert.equal(seen.length, 2);
    assert.ok(elapsed >= 950, `waited ${elapsed} ms for Retry-After: 1`);
    assert.equal(seen[0].headers.authorization, 'Bearer ck_live_test');
    assert.equal(seen[1].headers.authorization, 'Bearer ck_live_test');
  });

  test('a 5xx is retried with backoff; a POST keeps one Idempotency-Key across attempts', async () => {
    reset(failed(500), failed(502), { status: 201, body: { instance } });
    const client = new Operator({ apiKey: 'ck_live_test', baseURL });
    const created = await client.instances.create({ name: 'x' });
    assert.equal(created.id, 'inst_1');
    assert.equal(seen.length, 3);
    const keys = seen.map((r) => r.headers['idempotency-key']);
    assert.match(keys[0], /^sdk-/);
    assert.deepEqual(keys, [keys[0], keys[0], keys[0]]);
    assert.deepEqual(
      seen.map((r) => JSON.parse(r.body)),
      [{ name: 'x' }, { name: 'x' }, { name: 'x' }],
    );
    // the next POST gets a new key
    reset({ status: 201, body: { instance } });
    await client.instances.create({ name: 'x' });
    assert.notEqual(seen[0].headers['idempotency-key'], keys[0]);
  });

  test('a caller-chosen Idempotency-Key is sent as is', async () => {
    reset({ status: 202, body: { deliveryId: 'dlv_1' } });
    const client = new Operator({ apiKey: 'ck_live_test', baseURL });
    const r = await client.webhooks.trigger('tok', { a: 1 }, { idempotencyKey: 'gh-delivery-7' });
    assert.equal(r.deliveryId, 'dlv_1');
    assert.equal(seen[0].headers['idempotency-key'], 'gh-delivery-7');
    assert.equal(seen[0].headers.authorization, undefined, 'the trigger sends no API key');
    assert.equal(seen[0].url, '/api/webhooks/trigger/tok');
  });

  test('retries stop after maxRetries and throw the typed error', async () => {
    reset(limited(0), limited(0), limited(0), limited(0));
    const client = new Operator({ apiKey: 'ck_live_test', baseURL, maxRetries: 2 });
    await assert.rejects(client.billing.get(), (e) => {
      assert.ok(e instanceof RateLimitError);
      assert.equal(e.status, 429);
      assert.equal(e.code, 'rate_limited');
      assert.equal(e.retryAfter, 0);
      return true;
    });
    assert.equal(seen.length, 3);
  });

  test('a Retry-After longer than maxRetryAfter is not waited out', async () => {
    reset(limited(3600));
    const client = new Operator({ apiKey: 'ck_live_test', baseURL });
    const started = Date.now();
    await assert.rejects(client.billing.get(), (e) => e instanceof RateLimitError && e.retryAfter === 3600);
    assert.equal(seen.length, 1);
    assert.ok(Date.now() - started < 1000);
  });

  test('chat POSTs are not retried after a 5xx (the message would be posted twice)', async () => {
    reset(failed(500), { status: 200, body: { chatId: 'chat_1', text: 'late' } });
    const client = new Operator({ apiKey: 'ck_live_test', baseURL });
    await assert.rejects(client.chat.send({ text: 'hi' }), InternalServerError);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].headers['x-response-format'], 'json');
    reset(failed(503));
    const stream = client.chat.stream({ text: 'hi' });
    await assert.rejects(async () => {
      for await (const _ of stream);
    }, InternalServerError);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].headers['idempotency-key'], undefined, 'no Idempotency-Key on a stream');
    // but a 429 is
    reset(limited(0), { status: 200, body: { chatId: 'chat_1', text: 'ok' } });
    assert.deepEqual(await client.chat.send({ text: 'hi' }), { chatId: 'chat_1', text: 'ok' });
    assert.equal(seen.length, 2);
  });

  test('4xx other than 429 is never retried', async () => {
    reset({ status: 409, body: { error: { code: 'conflict', message: 'taken' } } });
    const client = new Operator({ apiKey: 'ck_live_test', baseURL });
    await assert.rejects(client.instances.update('x', { name: 'y' }), (e) => e.status === 409 && e.code === 'conflict');
    assert.equal(seen.length, 1);
  });
});

describe('error mapping', () => {
  test('each documented status becomes its error class, with code, message and details', async () => {
    const client = new Operator({ apiKey: 'ck_live_test', baseURL, maxRetries: 0 });
    const cases = [
      [400, BadRequestError, 'invalid_request', { name: 'must be 1-63 characters' }],
      [401, AuthenticationError, 'unauthorized'],
      [402, CapacityExceededError, 'capacity_exceeded'],
      [404, NotFoundError, 'not_found'],
      [405, OperatorError, 'method_not_allowed'],
      [409, ConflictError, 'conflict'],
      [413, PayloadTooLargeError, 'payload_too_large'],
      [429, RateLimitError, 'quota_exceeded'],
      [500, InternalServerError, 'internal'],
      [503, InternalServerError, 'llm_unavailable'],
    ];
    for (const [status, Type, code, details] of cases) {
      reset({ status, body: { error: { code, message: `failed with ${status}`, ...(details ? { details } : {}) } } });
      await assert.rejects(client.instances.get('x'), (e) => {
        assert.ok(e instanceof Type, `${status}: ${e.name}`);
        assert.equal(e.name, Type.name);
        assert.equal(e.status, status);
        assert.equal(e.code, code);
        assert.equal(e.message, `failed with ${status}`);
        assert.deepEqual(e.details, details);
        assert.equal(e.headers.get('content-type'), 'application/json');
        return true;
      });
    }
  });
});

describe('transport failures and configuration', () => {
  test('a refused connection is a ConnectionError without a status, after the retries', async () => {
    const closed = createServer();
    await new Promise((r) => closed.listen(0, '127.0.0.1', r));
    const port = closed.address().port;
    await new Promise((r) => closed.close(r));
    const client = new Operator({ apiKey: 'ck_live_test', baseURL: `http://127.0.0.1:${port}`, maxRetries: 1 });
    await assert.rejects(client.billing.get(), (e) => {
      assert.ok(e instanceof ConnectionError, e.name);
      assert.ok(e instanceof OperatorError);
      assert.equal(e.status, undefined);
      assert.equal(e.code, 'connection_error');
      return true;
    });
  });

  test('no response within the timeout is a TimeoutError', async () => {
    reset({ status: 200, body: { instance }, delayMs: 2_000 });
    const client = new Operator({ apiKey: 'ck_live_test', baseURL, timeout: 200, maxRetries: 0 });
    await assert.rejects(client.instances.get('inst_1'), (e) => e instanceof TimeoutError && e.code === 'timeout');
  });

  test("the caller's AbortSignal aborts without a retry", async () => {
    reset({ status: 200, body: { instance }, delayMs: 2_000 });
    const client = new Operator({ apiKey: 'ck_live_test', baseURL });
    const controller = new AbortController();
    const pending = client.instances.get('inst_1', { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stopped by the caller')), 100);
    await assert.rejects(pending, /stopped by the caller/);
    assert.equal(seen.length, 1);
  });

  test('a non-JSON error body still gives a typed error', async () => {
    reset({ status: 502, contentType: 'text/plain', body: 'bad gateway' }, { status: 502, contentType: 'text/plain', body: 'bad gateway' });
    const client = new Operator({ apiKey: 'ck_live_test', baseURL, maxRetries: 1 });
    await assert.rejects(client.billing.get(), (e) => e instanceof InternalServerError && e.message === 'bad gateway' && e.code === 'http_502');
  });

  test('OPERATOR_API_KEY and OPERATOR_URL are read from the environment', async () => {
    const saved = { key: process.env.OPERATOR_API_KEY, url: process.env.OPERATOR_URL };
    try {
      process.env.OPERATOR_API_KEY = 'ck_live_fromenv';
      process.env.OPERATOR_URL = `${baseURL}/`;
      const client = new Operator();
      assert.equal(client.baseURL, baseURL);
      reset({ status: 200, body: { ok: true, version: 'x' } });
      await client.billing.get();
      assert.equal(seen[0].headers.authorization, 'Bearer ck_live_fromenv');
      delete process.env.OPERATOR_API_KEY;
      assert.throws(() => new Operator(), (e) => e instanceof OperatorError && e.code === 'missing_api_key');
    } finally {
      for (const [k, v] of [
        ['OPERATOR_API_KEY', saved.key],
        ['OPERATOR_URL', saved.url],
      ]) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
