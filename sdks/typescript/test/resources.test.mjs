// Every REST resource of the SDK (the built dist) against the real embedded server, with the
// scripted fake LLM behind the instance agent and the Operator agent: instances (lifecycle,
// files, exec, activity, messages, browser), secrets, automations, webhooks, keys, billing,
// pagination over several pages, and the typed errors (400 details, 401, 404, 409, 413).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import {
  AuthenticationError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  Operator,
  OperatorError,
  PageIterator,
  PayloadTooLargeError,
} from '../dist/index.js';
import { startFakeLlm } from './support/fake-llm.mjs';
import { startServer, waitFor } from './support/server.mjs';

let server;
let llm;
/** @type {Operator} */
let client;
let alpha; // the instance most tests use

async function waitStatus(id, status) {
  return waitFor(
    `instance ${id} to become ${status}`,
    async () => {
      const inst = await client.instances.get(id);
      return inst.status === status ? inst : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

async function rejects(promise, Type, status, code) {
  const err = await promise.then(
    () => assert.fail(`expected a ${Type.name}`),
    (e) => e,
  );
  assert.ok(err instanceof Type, `${err?.name}: ${err?.message}`);
  assert.ok(err instanceof OperatorError);
  assert.equal(err.status, status);
  if (code) assert.equal(err.code, code);
  assert.equal(typeof err.message, 'string');
  assert.ok(err.message.length > 0);
  return err;
}

before(async () => {
  llm = await startFakeLlm([]);
  server = await startServer({ env: llm.env() });
  client = new Operator({ apiKey: server.key, baseURL: server.url });
});

after(async () => {
  await server?.stop();
  await llm?.close();
});

describe('instances', () => {
  test('create, get by id and name, list, update', async () => {
    // WHEN an instance is created
    alpha = await client.instances.create({ name: 'sdk-alpha', env: { REGION: 'eu' } });
    // THEN it comes back unwrapped and typed
    assert.match(alpha.id, /^inst_/);
    assert.equal(alpha.name, 'sdk-alpha');
    assert.equal(alpha.kind, 'prebuilt');
    assert.equal(alpha.status, 'provisioning');
    assert.deepEqual(alpha.env, { REGION: 'eu' });
    const active = await waitStatus(alpha.id, 'active');
    assert.equal(active.id, alpha.id);
    assert.equal((await client.instances.get('sdk-alpha')).id, alpha.id);
    const listed = await client.instances.list().toArray();
    assert.ok(listed.some((i) => i.id === alpha.id));
    // AND update replaces env
    const updated = await client.instances.update(alpha.id, { env: { REGION: 'us', TIER: 'gold' } });
    assert.deepEqual(updated.env, { REGION: 'us', TIER: 'gold' });
  });

  test('typed errors: 404, 409 duplicate, 400 with details', async () => {
    await rejects(client.instances.get('inst_doesnotexist'), NotFoundError, 404, 'not_found');
    await rejects(client.instances.create({ name: 'sdk-alpha' }), ConflictError, 409, 'conflict');
    const bad = await rejects(client.instances.create({ name: 'Bad Name!' }), BadRequestError, 400, 'invalid_request');
    assert.ok(bad.details && typeof bad.details.name === 'string', JSON.stringify(bad.details));
  });

  test('files: write text and bytes, read a file and a folder, delete', async () => {
    const written = await client.instances.files.write(alpha.id, 'workspace/notes/hello.md', '# Hello\nfrom the SDK');
    assert.equal(written.path, 'workspace/notes/hello.md');
    assert.equal(written.size, 20);
    const file = await client.instances.files.read(alpha.id, 'workspace/notes/hello.md');
    assert.equal(file.type, 'file');
    assert.equal(file.encoding, 'utf-8');
    assert.equal(file.content, '# Hello\nfrom the SDK');
    const bytes = new Uint8Array([0, 255, 1, 254, 137, 80, 78, 71]);
    assert.equal((await client.instances.files.write(alpha.id, 'workspace/notes/blob.bin', bytes)).size, 8);
    const blob = await client.instances.files.read(alpha.id, 'workspace/notes/blob.bin');
    assert.equal(blob.encoding, 'base64');
    assert.deepEqual(new Uint8Array(Buffer.from(blob.content, 'base64')), bytes);
    const dir = await client.instances.files.read(alpha.id, 'workspace/notes');
    assert.equal(dir.type, 'directory');
    assert.deepEqual(dir.entries.map((e) => e.name).sort(), ['blob.bin', 'hello.md']);
    const root = await client.instances.files.read(alpha.id);
    assert.equal(root.type, 'directory');
    assert.ok(root.entries.some((e) => e.name === 'AGENTS.md'));
    assert.deepEqual(await client.instances.files.delete(alpha.id, 'workspace/notes/blob.bin'), { ok: true });
    await rejects(client.instances.files.read(alpha.id, 'workspace/notes/blob.bin'), NotFoundError, 404);
    await rejects(client.instances.files.read(alpha.id, '../../etc/passwd'), BadRequestError, 400);
  });

  test('exec runs a command in the workspace; an oversized command is a 413', async () => {
    const r = await client.instances.exec(alpha.id, { command: 'cat workspace/notes/hello.md; echo oops >&2; exit 3' });
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, '# Hello\nfrom the SDK');
    assert.equal(r.stderr.trim(), 'oops');
    assert.equal(r.timedOut, false);
    assert.equal(typeof r.durationMs, 'number');
    await rejects(
      client.instances.exec(alpha.id, { command: `echo ${'x'.repeat(101 * 1024)}` }),
      PayloadTooLargeError,
      413,
      'payload_too_large',
    );
  });

  test('message the instance agent, then read its activity', async () => {
    llm.push({ text: 'Pong from the instance agent.' });
    const reply = await client.instances.message(alpha.id, { text: 'Ping' });
    assert.equal(reply.text, 'Pong from the instance agent.');
    assert.equal(typeof reply.sessionId, 'string');
    const activity = await client.instances.activity(alpha.id, { sessionId: reply.sessionId });
    assert.equal(activity.selectedSession?.id, reply.sessionId);
    assert.ok(activity.sessions.some((s) => s.id === reply.sessionId));
    assert.ok(activity.lineCount > 0);
    assert.ok(activity.lines.some((l) => l.includes('Pong from the instance agent.')), activity.lines.join('\n'));
  });

  test('browser: open a page served on loopback, take a PNG screenshot', async () => {
    const page = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><head><title>Forecast</title></head><body><h1>Sunny in Oslo</h1></body></html>');
    });
    await new Promise((r) => page.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${page.address().port}/forecast`;
      const opened = await client.instances.browser.open(alpha.id, { url });
      assert.equal(opened.title, 'Forecast');
      assert.match(opened.text, /Sunny in Oslo/);
      const png = await client.instances.browser.screenshot(alpha.id);
      assert.ok(png instanceof Uint8Array);
      assert.deepEqual([...png.slice(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      assert.ok(png.length > 1000, `${png.length} bytes`);
    } finally {
      page.closeAllConnections();
      await new Promise((r) => page.close(r));
    }
  });

  test('restart, clone, paginate, delete', async () => {
    const restarting = await client.instances.restart(alpha.id);
    assert.equal(restarting.id, alpha.id);
    await waitStatus(alpha.id, 'active');
    // the restarted process has the env set by update
    const env = await client.instances.exec(alpha.id, { command: 'echo "$REGION-$TIER"' });
    assert.equal(env.stdout.trim(), 'us-gold');
    const copy = await client.instances.clone(alpha.id, { name: 'sdk-alpha-copy' });
    assert.notEqual(copy.id, alpha.id);
    assert.equal(copy.name, 'sdk-alpha-copy');
    assert.deepEqual(copy.env, { REGION: 'us', TIER: 'gold' });
    // pagination: two instances, one per page
    const pages = [];
    for await (const p of client.instances.list({ limit: 1 }).pages()) pages.push(p);
    assert.ok(pages.length >= 2, `${pages.length} pages`);
    assert.ok(pages.every((p) => p.items.length === 1));
    assert.equal(pages.at(-1).nextCursor, null);
    assert.ok(typeof pages[0].nextCursor === 'string');
    const first = await client.instances.list({ limit: 1 }).page();
    assert.equal(first.items.length, 1);
    const second = await client.instances.list({ limit: 1, cursor: first.nextCursor }).page();
    assert.notEqual(second.items[0].id, first.items[0].id);
    // delete: ok, the status becomes inactive, listed only with includeDeleted
    await waitStatus(copy.id, 'active');
    assert.deepEqual(await client.instances.delete(copy.id), { ok: true });
    await waitStatus(copy.id, 'inactive');
    const live = await client.instances.list().toArray();
    assert.ok(!live.some((i) => i.id === copy.id));
    const all = await client.instances.list({ includeDeleted: true }).toArray();
    assert.ok(all.some((i) => i.id === copy.id));
  });
});

describe('secrets', () => {
  test('create (value once), get, update, grant, revoke, delete; pagination over 3 pages', async () => {
    const s = await client.secrets.create({ name: 'SDK_TOKEN', value: 'ghp_sdk_secret', description: 'for tests' });
    assert.match(s.id, /^sec_/);
    assert.equal(s.value, 'ghp_sdk_secret');
    const got = await client.secrets.get(s.id);
    assert.equal(got.name, 'SDK_TOKEN');
    assert.ok(got.value === undefined || got.value === null);
    assert.deepEqual(got.grants, []);
    const rotated = await client.secrets.update(s.id, { value: 'ghp_rotated', description: 'rotated' });
    assert.equal(rotated.description, 'rotated');
    assert.ok(rotated.value === undefined || rotated.value === null);
    const granted = await client.secrets.grant(s.id, alpha.id);
    assert.deepEqual(granted.grants, [alpha.id]);
    assert.deepEqual(await client.secrets.revoke(s.id, alpha.id), { ok: true });
    assert.deepEqual((await client.secrets.get(s.id)).grants, []);
    await rejects(client.secrets.create({ name: 'SDK_TOKEN', value: 'x' }), ConflictError, 409);
    const bad = await rejects(client.secrets.create({ name: 'lower-case', value: 'x' }), BadRequestError, 400);
    assert.ok(bad.details?.name, JSON.stringify(bad.details));
    // five secrets, two per page: three pages, every secret once
    for (const n of [1, 2, 3, 4]) await client.secrets.create({ name: `SDK_PAGE_${n}`, value: `v${n}` });
    const pager = client.secrets.list({ limit: 2 });
    assert.ok(pager instanceof PageIterator);
    const pages = [];
    for await (const p of pager.pages()) pages.push(p.items.map((x) => x.name));
    assert.equal(pages.length, 3, JSON.stringify(pages));
    const names = [];
    for await (const secret of client.secrets.list({ limit: 2 })) names.push(secret.name);
    assert.equal(names.length, 5);
    assert.equal(new Set(names).size, 5);
    assert.deepEqual(names, pages.flat());
    assert.deepEqual(await client.secrets.delete(s.id), { ok: true });
    await rejects(client.secrets.get(s.id), NotFoundError, 404, 'not_found');
  });
});

describe('automations', () => {
  test('create, get, update, list, run now and read its runs, next runs, delete', async () => {
    const a = await client.automations.create({
      name: 'sdk-morning',
      prompt: 'Say good morning.',
      cronExpression: '0 9 * * 1-5',
      timezone: 'America/New_York',
    });
    assert.match(a.id, /^auto_/);
    assert.equal(a.enabled, true);
    assert.ok(a.nextRunAt);
    assert.equal((await client.automations.get(a.id)).prompt, 'Say good morning.');
    const off = await client.automations.update(a.id, { enabled: false });
    assert.equal(off.enabled, false);
    assert.ok((await client.automations.list().toArray()).some((x) => x.id === a.id));
    llm.push({ text: 'Good morning!' });
    const run = await client.automations.run(a.id);
    assert.match(run.id, /^run_/);
    assert.ok(['queued', 'running', 'succeeded'].includes(run.status), run.status);
    const done = await waitFor(
      'the run to finish',
      async () => {
        const runs = await client.automations.runs(a.id).toArray();
        const r = runs.find((x) => x.id === run.id);
        return r && (r.status === 'succeeded' || r.status === 'failed') ? r : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.ok(done.chatId);
    const next = await client.automations.nextRuns({ cronExpression: '*/15 * * * *', timezone: 'UTC', count: 3 });
    assert.equal(next.nextRuns.length, 3);
    const bad = await rejects(
      client.automations.create({ name: 'bad', prompt: 'x', cronExpression: 'every day' }),
      BadRequestError,
      400,
      'invalid_request',
    );
    assert.ok(bad.details?.cronExpression, JSON.stringify(bad.details));
    assert.deepEqual(await client.automations.delete(a.id), { ok: true });
    await rejects(client.automations.get(a.id), NotFoundError, 404);
  });
});

describe('webhooks', () => {
  test('create, trigger (idempotent), deliveries, disable (409), rotate the token (404), delete', async () => {
    const w = await client.webhooks.create({ name: 'sdk-github', promptTemplate: 'Event: {{payload}}' });
    assert.match(w.id, /^wh_/);
    assert.ok(w.token);
    assert.ok(w.url.includes(w.token));
    const first = await client.webhooks.trigger(w.token, { action: 'opened' }, { idempotencyKey: 'delivery-1' });
    assert.match(first.deliveryId, /^dlv_/);
    const again = await client.webhooks.trigger(w.token, { action: 'opened' }, { idempotencyKey: 'delivery-1' });
    assert.equal(again.deliveryId, first.deliveryId);
    const plain = await client.webhooks.trigger(w.token);
    assert.notEqual(plain.deliveryId, first.deliveryId);
    const deliveries = await client.webhooks.deliveries(w.id).toArray();
    assert.deepEqual(deliveries.map((d) => d.id).sort(), [first.deliveryId, plain.deliveryId].sort());
    const pages = [];
    for await (const p of client.webhooks.deliveries(w.id, { limit: 1 }).pages()) pages.push(p);
    assert.equal(pages.length, 2);
    assert.equal((await client.webhooks.get(w.id)).name, 'sdk-github');
    assert.ok((await client.webhooks.list().toArray()).some((x) => x.id === w.id));
    await client.webhooks.update(w.id, { enabled: false });
    await rejects(client.webhooks.trigger(w.token, { x: 1 }), ConflictError, 409, 'webhook_disabled');
    const rotated = await client.webhooks.update(w.id, { enabled: true, regenerateToken: true });
    assert.notEqual(rotated.token, w.token);
    await rejects(client.webhooks.trigger(w.token, { x: 1 }), NotFoundError, 404);
    await rejects(client.webhooks.create({ name: 'bad', promptTemplate: 'no placeholder' }), BadRequestError, 400);
    assert.deepEqual(await client.webhooks.delete(w.id), { ok: true });
  });
});

describe('keys and billing', () => {
  test('create a key, use it, list it, revoke it: the next use is a 401', async () => {
    const created = await client.keys.create({ name: 'sdk-ci' });
    assert.match(created.key, /^ck_live_/);
    assert.match(created.id, /^key_/);
    const other = new Operator({ apiKey: created.key, baseURL: server.url });
    const billing = await other.billing.get();
    assert.equal(billing.plan.slug, 'pro');
    const keys = await client.keys.list().toArray();
    const listed = keys.find((k) => k.id === created.id);
    assert.equal(listed?.name, 'sdk-ci');
    assert.ok(created.key.startsWith(listed.prefix));
    assert.deepEqual(await client.keys.delete(created.id), { ok: true });
    await rejects(other.billing.get(), AuthenticationError, 401, 'unauthorized');
    await rejects(client.keys.delete(created.id), NotFoundError, 404);
  });

  test('billing: plan, capacity, usage', async () => {
    const b = await client.billing.get();
    assert.equal(b.plan.slug, 'pro');
    assert.equal(b.plan.instanceLimit, 5);
    assert.equal(b.capacity.limit, 5);
    assert.ok(b.capacity.used >= 1);
    assert.equal(b.usage.windowHours, 6);
    assert.ok(b.usage.tokens > 0, 'the instance agent used tokens');
  });

  test('a wrong key is an AuthenticationError; health needs none', async () => {
    const wrong = new Operator({ apiKey: 'ck_live_wrongwrongwrongwrong', baseURL: server.url });
    await rejects(wrong.instances.list().page(), AuthenticationError, 401, 'unauthorized');
    const health = await wrong.health();
    assert.equal(health.ok, true);
  });
});
