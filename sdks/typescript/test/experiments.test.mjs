// experiments through the built SDK against the real embedded server: two live variants whose
// agents answer through the scripted fake LLM, an inline dataset scored `exact`, the leaderboard,
// results paged and filtered, cancel (finished: no change; in flight: the rest is not sent),
// delete, and the typed errors (400 naming the field, 404 for an unknown variant).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError, NotFoundError, Operator, OperatorError, PageIterator } from '../dist/index.js';
import { startFakeLlm } from './support/fake-llm.mjs';
import { startServer, waitFor } from './support/server.mjs';

let server;
let llm;
/** @type {Operator} */
let client;
let alpha;
let beta;

const CAPITALS = [
  { input: 'Capital of France?', expected: 'paris' },
  { input: 'Capital of Germany?', expected: 'Berlin' },
  { input: 'Capital of Italy?', expected: 'Rome' },
];

async function active(name) {
  const inst = await client.instances.create({ name });
  return waitFor(
    `instance ${name} to become active`,
    async () => {
      const i = await client.instances.get(inst.id);
      return i.status === 'active' ? i : undefined;
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
  assert.equal(err.code, code);
  return err;
}

before(async () => {
  llm = await startFakeLlm([]);
  server = await startServer({ env: llm.env() });
  client = new Operator({ apiKey: server.key, baseURL: server.url });
  alpha = await active('exp-alpha');
  beta = await active('exp-beta');
});

after(async () => {
  await server?.stop();
  await llm?.close();
});

test('exact over two variants: wait, leaderboard, results paged and filtered, cancel when finished, delete', async () => {
  // GIVEN the variants' agents answer in turn (one lane: item 0 on alpha, item 0 on beta, ...):
  // alpha right every time, beta once
  for (const text of ['Paris', 'Lyon', ' berlin ', 'Berlin', 'Rome', 'Milan']) llm.push({ text });
  const callsBefore = llm.requests.length;
  // WHEN an experiment is started over alpha (by id) and beta (by name)
  const exp = await client.experiments.create({
    name: 'capitals',
    instanceIds: [alpha.id, beta.name],
    dataset: { items: CAPITALS },
    scorer: { type: 'exact' },
    concurrency: 1,
  });
  // THEN it comes back unwrapped and queued, the variants as ids
  assert.match(exp.id, /^exp_/);
  assert.equal(exp.status, 'queued');
  assert.equal(exp.itemCount, 3);
  assert.equal(exp.concurrency, 1);
  assert.deepEqual(exp.instanceIds, [alpha.id, beta.id]);
  assert.deepEqual(exp.scorer, { type: 'exact' });
  // WHEN it is waited for THEN it succeeded with every pair done
  const done = await client.experiments.wait(exp.id, { timeoutMs: 120_000, intervalMs: 200 });
  assert.equal(done.status, 'succeeded', JSON.stringify(done));
  assert.deepEqual(done.progress, { done: 6, total: 6 });
  assert.ok(done.finishedAt);
  // AND the leaderboard ranks alpha (3 of 3) above beta (1 of 3)
  const board = done.leaderboard ?? [];
  assert.deepEqual(
    board.map((e) => [e.instanceId, e.instanceName, e.scored, e.errors]),
    [
      [alpha.id, 'exp-alpha', 3, 0],
      [beta.id, 'exp-beta', 3, 0],
    ],
  );
  assert.equal(board[0].score, 1);
  assert.ok(Math.abs(board[1].score - 1 / 3) < 1e-9, String(board[1].score));
  const [lo, hi] = board[1].ci95;
  assert.ok(lo <= board[1].score && board[1].score <= hi, JSON.stringify(board[1].ci95));
  assert.equal(typeof board[0].meanLatencyMs, 'number');
  // AND each (variant, item) reached its agent exactly once
  assert.equal(llm.requests.length - callsBefore, 6);
  // AND the results come one per (variant, item), by item then variant, 4 then 2
  const pager = client.experiments.results(exp.id, { limit: 4 });
  assert.ok(pager instanceof PageIterator);
  const pages = [];
  for await (const p of pager.pages()) pages.push(p);
  assert.deepEqual(
    pages.map((p) => [p.items.length, p.nextCursor === null]),
    [
      [4, false],
      [2, true],
    ],
  );
  const rows = await client.experiments.results(exp.id, { limit: 4 }).toArray();
  assert.deepEqual(
    rows.map((r) => [r.itemIndex, r.instanceId]),
    [0, 1, 2].flatMap((i) => [
      [i, alpha.id],
      [i, beta.id],
    ]),
  );
  assert.deepEqual(rows, pages.flatMap((p) => p.items));
  const germanyBeta = rows[3];
  assert.equal(germanyBeta.input, 'Capital of Germany?');
  assert.equal(germanyBeta.expected, 'Berlin');
  assert.equal(germanyBeta.output, 'Berlin');
  assert.equal(germanyBeta.score, 1);
  assert.equal(typeof germanyBeta.latencyMs, 'number');
  assert.equal(rows[1].output, 'Lyon');
  assert.equal(rows[1].score, 0);
  // AND the instanceId filter (a name or an id) keeps one variant's rows
  const onlyBeta = await client.experiments.results(exp.id, { instanceId: 'exp-beta' }).toArray();
  assert.deepEqual(
    onlyBeta.map((r) => [r.instanceId, r.output]),
    [
      [beta.id, 'Lyon'],
      [beta.id, 'Berlin'],
      [beta.id, 'Milan'],
    ],
  );
  assert.equal((await client.experiments.results(exp.id, { instanceId: alpha.id }).toArray()).length, 3);
  // AND it is listed
  assert.equal((await client.experiments.list({ limit: 1 }).page()).items[0].id, exp.id);
  // WHEN the finished experiment is cancelled THEN nothing changes
  assert.equal((await client.experiments.cancel(exp.id)).status, 'succeeded');
  const again = await client.experiments.get(exp.id);
  assert.equal(again.status, 'succeeded');
  assert.deepEqual(again.progress, done.progress);
  assert.deepEqual(again.leaderboard, done.leaderboard);
  // WHEN it is deleted THEN it is gone
  assert.deepEqual(await client.experiments.delete(exp.id), { ok: true });
  await rejects(client.experiments.get(exp.id), NotFoundError, 404, 'not_found');
  await rejects(client.experiments.results(exp.id).page(), NotFoundError, 404, 'not_found');
  assert.ok(!(await client.experiments.list().toArray()).some((e) => e.id === exp.id));
});

test('a bad scorer or an empty dataset is a BadRequestError naming the field; an unknown variant a NotFoundError', async () => {
  const base = { name: 'bad', instanceIds: [alpha.id], dataset: { items: CAPITALS }, scorer: { type: 'exact' } };
  const unknownType = await rejects(
    client.experiments.create({ ...base, scorer: /** @type {any} */ ({ type: 'regex' }) }),
    BadRequestError,
    400,
    'invalid_request',
  );
  assert.ok(unknownType.details?.['scorer.type'], JSON.stringify(unknownType.details));
  const noMetric = await rejects(
    client.experiments.create({ ...base, scorer: /** @type {any} */ ({ type: 'numeric' }) }),
    BadRequestError,
    400,
    'invalid_request',
  );
  assert.ok(noMetric.details?.['scorer.metric'], JSON.stringify(noMetric.details));
  const empty = await rejects(
    client.experiments.create({ ...base, dataset: { items: [] } }),
    BadRequestError,
    400,
    'invalid_request',
  );
  assert.ok(empty.details?.dataset, JSON.stringify(empty.details));
  const unknown = await rejects(
    client.experiments.create({ ...base, instanceIds: [alpha.id, 'no-such-variant'] }),
    NotFoundError,
    404,
    'not_found',
  );
  assert.match(unknown.message, /no-such-variant/);
  await rejects(client.experiments.get('exp_doesnotexist'), NotFoundError, 404, 'not_found');
  assert.ok(!(await client.experiments.list().toArray()).some((e) => e.name === 'bad'));
});

test('cancel while a pair is in flight: the pairs not yet sent are never sent', async () => {
  // GIVEN the variant's first answer is held back, then two more answers are ready
  llm.push({ text: 'Paris', held: true });
  llm.push({ text: 'Berlin' });
  llm.push({ text: 'Rome' });
  const callsBefore = llm.requests.length;
  const exp = await client.experiments.create({
    name: 'cancelled',
    instanceIds: [alpha.name],
    dataset: { items: CAPITALS },
    scorer: { type: 'contains' },
    concurrency: 1,
  });
  await waitFor('the first pair to reach the model', () => llm.held() === 1, { timeoutMs: 60_000 });
  // WHEN it is cancelled with that pair in flight, and the answer is then let through
  assert.equal((await client.experiments.cancel(exp.id)).status, 'cancelled');
  llm.release();
  // THEN wait returns it cancelled, and once the pair in flight has its result, it is the only one
  const cancelled = await client.experiments.wait(exp.id, { timeoutMs: 60_000, intervalMs: 100 });
  assert.equal(cancelled.status, 'cancelled');
  const rows = await waitFor(
    'the pair in flight to be recorded',
    async () => {
      const r = await client.experiments.results(exp.id).toArray();
      return r.length ? r : undefined;
    },
    { timeoutMs: 60_000 },
  );
  assert.deepEqual(
    rows.map((r) => [r.itemIndex, r.output, r.score]),
    [[0, 'Paris', 1]],
  );
  assert.equal(llm.requests.length - callsBefore, 1, 'only the pair in flight reached the model');
  assert.deepEqual((await client.experiments.get(exp.id)).progress, { done: 1, total: 3 });
  assert.equal(llm.pending(), 2);
  await client.experiments.delete(exp.id);
});
