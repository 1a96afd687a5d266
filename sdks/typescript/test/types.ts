// Compile-time checks of the built SDK's public types (`npm test` runs `tsc -p test` first):
// they are the OpenAPI document's types, requests are checked, results need no casts, and the
// chat stream's chunks narrow by `type`. Nothing here runs.
import {
  Operator,
  NotFoundError,
  RateLimitError,
  chatTransportOptions,
  type components,
  type paths,
  type Instance,
  type Secret,
  type Automation,
  type Webhook,
  type ApiKey,
  type Billing,
  type Chat,
  type ChatReply,
  type ExecResult,
  type FileNode,
  type FileWritten,
  type Activity,
  type BrowserPage,
  type InstanceMessageReply,
  type Experiment,
  type ExperimentCreateParams,
  type ExperimentResult,
  type ExperimentScorer,
  type DatasetItem,
  type LeaderboardEntry,
  type ResponseBody,
  type InstanceCreateParams,
  type InstanceListParams,
  type UIMessageChunk,
  type Page,
} from '../dist/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Mutually assignable (for types rebuilt through `infer`, which identity checks tell apart). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
function expectType<T extends true>(_: T): void {}
type S = components['schemas'];

// Public types are the spec's schemas.
expectType<Equal<Instance, S['InstanceView']>>(true);
expectType<Equal<Secret, S['SecretView']>>(true);
expectType<Equal<Automation, S['AutomationView']>>(true);
expectType<Equal<Webhook, S['WebhookView']>>(true);
expectType<Equal<ApiKey, S['KeyView']>>(true);
expectType<Equal<Billing, S['BillingView']>>(true);
expectType<Equal<Chat, S['ChatView']>>(true);
expectType<Equal<InstanceCreateParams, S['CreateInstanceBody']>>(true);
expectType<Same<InstanceListParams, NonNullable<paths['/api/instances']['get']['parameters']['query']>>>(true);
expectType<Equal<Instance['status'], 'provisioning' | 'active' | 'restarting' | 'inactive' | 'suspended' | 'failed'>>(true);
expectType<Equal<ChatReply['chatId'], string>>(true);
expectType<Equal<ExecResult['stdout'], string>>(true);

// Each method's result is what its route answers in the spec.
expectType<Same<Instance, ResponseBody<'/api/instances', 'post'>['instance']>>(true);
expectType<Same<ExecResult, ResponseBody<'/api/instances/{id}/exec', 'post'>>>(true);
expectType<Same<FileNode, ResponseBody<'/api/instances/{id}/files', 'get'>>>(true);
expectType<Same<FileWritten, ResponseBody<'/api/instances/{id}/files', 'put'>>>(true);
expectType<Same<Activity, ResponseBody<'/api/instances/{id}/activity', 'get'>>>(true);
expectType<Same<InstanceMessageReply, ResponseBody<'/api/instances/{id}/messages', 'post'>>>(true);
expectType<Same<BrowserPage, ResponseBody<'/api/instances/{id}/browser/open', 'post'>>>(true);
expectType<Same<ChatReply, ResponseBody<'/api/chat', 'post'>>>(true);
expectType<Same<Secret, ResponseBody<'/api/secrets/{id}/grants', 'post'>['secret']>>(true);
expectType<Equal<Experiment, S['ExperimentView']>>(true);
expectType<Same<Experiment, ResponseBody<'/api/experiments', 'post'>['experiment']>>(true);
expectType<Same<Experiment, ResponseBody<'/api/experiments/{id}/cancel', 'post'>['experiment']>>(true);
type CreateExperimentJson = NonNullable<paths['/api/experiments']['post']['requestBody']>['content']['application/json'];
expectType<Same<ExperimentCreateParams, CreateExperimentJson>>(true);
expectType<Equal<ExperimentScorer['type'], 'exact' | 'contains' | 'numeric' | 'jsonField' | 'llmJudge'>>(true);
expectType<Equal<DatasetItem['input'], string>>(true);
// a result's `expected` is any JSON (a string answer included)
expectType<Equal<ExperimentResult['expected'], unknown>>(true);
type ResultRow = ResponseBody<'/api/experiments/{id}/results', 'get'>['results'][number];
expectType<Same<Omit<ExperimentResult, 'expected'>, Omit<ResultRow, 'expected'>>>(true);

export async function usage(client: Operator): Promise<void> {
  const inst: Instance = await client.instances.create({ name: 'weather-desk', kind: 'blank', env: { REGION: 'eu' } });
  // @ts-expect-error an unknown field of the request body
  await client.instances.create({ nam: 'weather-desk' });
  // @ts-expect-error `kind` is a string in the spec, not a number
  await client.instances.create({ name: 'x', kind: 1 });
  // @ts-expect-error `limit` is a number
  client.instances.list({ limit: '10' });
  for await (const i of client.instances.list({ limit: 10 })) {
    const name: string = i.name;
    void name;
  }
  const page: Page<Instance> = await client.instances.list().page();
  const next: string | null = page.nextCursor;
  void next;
  const file = await client.instances.files.read(inst.id, 'AGENTS.md');
  if (file.type === 'file') {
    const content: string = file.content;
    void content;
  }
  const r = await client.chat.send({ text: 'hi' });
  const chatId: string = r.chatId;
  for await (const chunk of client.chat.stream({ text: 'hi', chatId })) {
    switch (chunk.type) {
      case 'text-delta': {
        const delta: string = chunk.delta;
        void delta;
        break;
      }
      case 'tool-input-available': {
        const tool: string = chunk.toolName;
        void tool;
        break;
      }
      case 'error': {
        const text: string = chunk.errorText;
        void text;
        break;
      }
    }
  }
  const chunkTypes: UIMessageChunk['type'][] = ['start', 'finish'];
  void chunkTypes;
  try {
    await client.instances.get('nope');
  } catch (e) {
    if (e instanceof NotFoundError) {
      const code: string = e.code;
      const status: number | undefined = e.status;
      void code;
      void status;
    }
    if (e instanceof RateLimitError) {
      const wait: number | undefined = e.retryAfter;
      void wait;
    }
  }
  const exp = await client.experiments.create({
    name: 'aqi',
    instanceIds: ['aqi-v1', 'aqi-v2'],
    dataset: { items: [{ input: 'AQI tomorrow?', expected: 42 }] },
    scorer: { type: 'numeric', metric: 'rmse' },
  });
  const judge: ExperimentScorer = { type: 'llmJudge', rubric: 'Is the forecast plausible?' };
  await client.experiments.create({ name: 'f', instanceIds: ['a'], dataset: { file: { instanceId: 'a', path: 'd.csv' } }, scorer: judge });
  const field: ExperimentScorer = { type: 'jsonField', field: 'a.b' };
  await client.experiments.create({ name: 'u', instanceIds: ['a'], dataset: { url: 'https://x/d.jsonl' }, scorer: field });
  // @ts-expect-error a scorer type that does not exist
  await client.experiments.create({ name: 'x', instanceIds: ['a'], dataset: { items: [] }, scorer: { type: 'regex' } });
  // @ts-expect-error `numeric` needs its metric
  await client.experiments.create({ name: 'x', instanceIds: ['a'], dataset: { items: [] }, scorer: { type: 'numeric' } });
  const finished: Experiment = await client.experiments.wait(exp.id, { timeoutMs: 60_000 });
  const leader: LeaderboardEntry | undefined = finished.leaderboard?.[0];
  const best: number | null | undefined = leader?.score;
  void best;
  for await (const row of client.experiments.results(exp.id, { instanceId: 'aqi-v1', limit: 100 })) {
    const index: number = row.itemIndex;
    const same: boolean = row.expected === 'Berlin';
    void index;
    void same;
  }
  const opts = chatTransportOptions(client);
  const api: string = opts.api;
  void api;
}
