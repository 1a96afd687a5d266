// The SDK's types cannot drift from the API: src/schema.ts regenerated from the live server's
// /api/openapi.json must equal the committed file, and every operation of the spec that an
// account's key can call has an SDK method (and every SDK route is in the spec).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SCHEMA_FILE, generate } from '../scripts/generate.mjs';
import { startServer } from './support/server.mjs';

let server;
let spec;

before(async () => {
  server = await startServer();
  const res = await fetch(`${server.url}/api/openapi.json`);
  assert.equal(res.status, 200);
  spec = await res.json();
});
after(async () => {
  await server?.stop();
});

test('src/schema.ts is what openapi-typescript generates from the live /api/openapi.json', async () => {
  const fresh = await generate(spec);
  const committed = readFileSync(SCHEMA_FILE, 'utf8');
  assert.ok(fresh.includes('InstanceView'), 'the spec has the component schemas');
  if (committed !== fresh) {
    const a = committed.split('\n');
    const b = fresh.split('\n');
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    assert.fail(
      `src/schema.ts is stale (first difference at line ${i + 1}: committed ${JSON.stringify(a[i])}, ` +
        `the live spec gives ${JSON.stringify(b[i])}): run \`npm run generate -- <server>/api/openapi.json\` ` +
        'in sdks/typescript and rebuild',
    );
  }
});

/** Every route the SDK calls, and the method that calls it. */
const SDK_ROUTES = {
  'GET /api/health': 'health',
  'POST /api/instances': 'instances.create',
  'GET /api/instances': 'instances.list',
  'GET /api/instances/{id}': 'instances.get',
  'PUT /api/instances/{id}': 'instances.update',
  'DELETE /api/instances/{id}': 'instances.delete',
  'POST /api/instances/{id}/restart': 'instances.restart',
  'POST /api/instances/{id}/clone': 'instances.clone',
  'GET /api/instances/{id}/files': 'instances.files.read',
  'PUT /api/instances/{id}/files': 'instances.files.write',
  'DELETE /api/instances/{id}/files': 'instances.files.delete',
  'GET /api/instances/{id}/activity': 'instances.activity',
  'GET /api/instances/{id}/cron': 'instances.cron.list',
  'POST /api/instances/{id}/cron': 'instances.cron.add',
  'POST /api/instances/{id}/exec': 'instances.exec',
  'POST /api/instances/{id}/messages': 'instances.message',
  'POST /api/instances/{id}/browser/open': 'instances.browser.open',
  'GET /api/instances/{id}/browser/screenshot': 'instances.browser.screenshot',
  'POST /api/secrets': 'secrets.create',
  'GET /api/secrets': 'secrets.list',
  'GET /api/secrets/{id}': 'secrets.get',
  'PUT /api/secrets/{id}': 'secrets.update',
  'DELETE /api/secrets/{id}': 'secrets.delete',
  'POST /api/secrets/{id}/grants': 'secrets.grant',
  'DELETE /api/secrets/{id}/grants/{instanceId}': 'secrets.revoke',
  'POST /api/automations': 'automations.create',
  'GET /api/automations': 'automations.list',
  'GET /api/automations/next-runs': 'automations.nextRuns',
  'GET /api/automations/{id}': 'automations.get',
  'PUT /api/automations/{id}': 'automations.update',
  'DELETE /api/automations/{id}': 'automations.delete',
  'POST /api/automations/{id}/run': 'automations.run',
  'GET /api/automations/{id}/runs': 'automations.runs',
  'POST /api/webhooks': 'webhooks.create',
  'GET /api/webhooks': 'webhooks.list',
  'GET /api/webhooks/{id}': 'webhooks.get',
  'PUT /api/webhooks/{id}': 'webhooks.update',
  'DELETE /api/webhooks/{id}': 'webhooks.delete',
  'GET /api/webhooks/{id}/deliveries': 'webhooks.deliveries',
  'POST /api/webhooks/trigger/{token}': 'webhooks.trigger (with a payload)',
  'GET /api/webhooks/trigger/{token}': 'webhooks.trigger (without one)',
  'POST /api/experiments': 'experiments.create',
  'GET /api/experiments': 'experiments.list',
  'GET /api/experiments/{id}': 'experiments.get (and experiments.wait)',
  'GET /api/experiments/{id}/results': 'experiments.results',
  'POST /api/experiments/{id}/cancel': 'experiments.cancel',
  'POST /api/experiments/{id}/evolve': 'experiments.evolve',
  'DELETE /api/experiments/{id}': 'experiments.delete',
  'POST /api/chat-keys': 'keys.create',
  'GET /api/chat-keys': 'keys.list',
  'DELETE /api/chat-keys/{id}': 'keys.delete',
  'GET /api/billing': 'billing.get',
  'POST /api/chat': 'chat.send / chat.stream',
  'GET /api/chat/history': 'chat.history',
  'GET /api/chat/{id}': 'chat.get',
  'DELETE /api/chat/{id}': 'chat.delete',
  'GET /api/chat/{id}/stream': 'chat.reattach',
};

/** Routes that are not for an account's API key, with the reason. */
const NOT_IN_SDK = [
  [/^\/api\/cli\//, 'the CLI login flow and its health check (the operator CLI uses them)'],
  [/^\/v1\//, "the instances' gateway, called with an instance token from inside an instance"],
  [/^\/api\/openapi\.json$|^\/docs$/, 'the reference itself'],
  [/^\/api\/v1\//, 'the OpenAI-compatible endpoint: the official `openai` client is its SDK'],
  [/^\/mcp$/, 'the MCP endpoint: MCP clients (the MCP SDK) speak it'],
];

test('every account operation of the spec has an SDK method, and every SDK route is in the spec', () => {
  const inSpec = new Set();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch']) {
      if (!item[method]) continue;
      if (NOT_IN_SDK.some(([re]) => re.test(path))) continue;
      inSpec.add(`${method.toUpperCase()} ${path}`);
    }
  }
  const missing = [...inSpec].filter((op) => !(op in SDK_ROUTES));
  assert.deepEqual(missing, [], 'operations of the spec without an SDK method');
  const unknown = Object.keys(SDK_ROUTES).filter((op) => !inSpec.has(op));
  assert.deepEqual(unknown, [], 'SDK routes missing from the spec');
});
