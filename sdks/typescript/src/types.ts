// The SDK's public types, each an alias into the generated OpenAPI types in ./schema.ts
// (`components['schemas'][...]`, or a route's request body or query in `paths[...]`). Only the
// chat stream's chunks are written here: the spec describes that response as an event stream.
import type { components, paths } from './schema.js';

export type { components, paths } from './schema.js';

type Schemas = components['schemas'];
type Method = 'get' | 'post' | 'put' | 'delete';
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type JsonContent<R, Fallback> = R extends { content: { 'application/json': infer T } } ? T : Fallback;

/** The JSON body of a route's success response (200, 201 or 202), or `Fallback` where the spec has none. */
export type ResponseBody<P extends keyof paths, M extends Method, Fallback = unknown> =
  Operation<P, M> extends { responses: infer R }
    ? R extends { 200: infer S }
      ? JsonContent<S, Fallback>
      : R extends { 201: infer S }
        ? JsonContent<S, Fallback>
        : R extends { 202: infer S }
          ? JsonContent<S, Fallback>
          : Fallback
    : Fallback;

/** A route's query parameters. */
export type QueryParams<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** A route's JSON request body. */
export type RequestBody<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

// ---- shared ---------------------------------------------------------------------------------
export type ErrorBody = Schemas['ErrorBody'];
export type OkResponse = Schemas['OkBody'];
/** `?limit=` (default 50, max 200) and `?cursor=` of every list. */
export type ListParams = QueryParams<'/api/secrets', 'get'>;

// ---- instances ------------------------------------------------------------------------------
export type Instance = Schemas['InstanceView'];
export type InstanceStatus = Schemas['InstanceStatus'];
export type InstanceKind = Schemas['InstanceKind'];
export type InstanceCreateParams = RequestBody<'/api/instances', 'post'>;
export type InstanceUpdateParams = RequestBody<'/api/instances/{id}', 'put'>;
export type InstanceCloneParams = RequestBody<'/api/instances/{id}/clone', 'post'>;
export type InstanceListParams = QueryParams<'/api/instances', 'get'>;
export type InstanceList = Schemas['InstanceList'];

export type ExecParams = RequestBody<'/api/instances/{id}/exec', 'post'>;
export type ExecResult = Schemas['ExecResult'];

export type InstanceMessageParams = RequestBody<'/api/instances/{id}/messages', 'post'>;
export type InstanceMessageReply = Schemas['MessageReply'];

export type ActivityParams = QueryParams<'/api/instances/{id}/activity', 'get'>;
export type Activity = Schemas['Activity'];

export type CronJob = Schemas['CronJob'];
export type CronJobs = Schemas['CronJobs'];
export type CronSchedule = Schemas['CronSchedule'];
export type CronJobParams = RequestBody<'/api/instances/{id}/cron', 'post'>;

export type DirectoryEntry = Schemas['DirEntry'];
/** A folder listing (`type: 'directory'`) or a file with its content (`type: 'file'`). */
export type FileNode = Schemas['FileNode'];
export type FileWritten = Schemas['FileWritten'];

export type BrowserOpenParams = RequestBody<'/api/instances/{id}/browser/open', 'post'>;
export type BrowserPage = Schemas['PageInfo'];

// ---- secrets --------------------------------------------------------------------------------
export type Secret = Schemas['SecretView'];
export type SecretCreateParams = RequestBody<'/api/secrets', 'post'>;
export type SecretUpdateParams = RequestBody<'/api/secrets/{id}', 'put'>;
export type SecretList = Schemas['SecretList'];

// ---- automations ----------------------------------------------------------------------------
export type Automation = Schemas['AutomationView'];
export type AutomationCreateParams = RequestBody<'/api/automations', 'post'>;
export type AutomationUpdateParams = RequestBody<'/api/automations/{id}', 'put'>;
export type AutomationList = Schemas['AutomationList'];
export type AutomationRun = Schemas['RunView'];
export type AutomationRunStatus = Schemas['RunStatus'];
export type AutomationRunList = Schemas['RunList'];
export type NextRunsParams = QueryParams<'/api/automations/next-runs', 'get'>;
export type NextRuns = Schemas['NextRuns'];

// ---- webhooks -------------------------------------------------------------------------------
export type Webhook = Schemas['WebhookView'];
export type WebhookCreateParams = RequestBody<'/api/webhooks', 'post'>;
export type WebhookUpdateParams = RequestBody<'/api/webhooks/{id}', 'put'>;
export type WebhookList = Schemas['WebhookList'];
export type Delivery = Schemas['DeliveryView'];
export type DeliveryStatus = Schemas['DeliveryStatus'];
export type DeliveryList = Schemas['DeliveryList'];
export type TriggerAccepted = Schemas['TriggerAccepted'];

// ---- experiments ----------------------------------------------------------------------------
export type Experiment = Schemas['ExperimentView'];
export type ExperimentCreateParams = RequestBody<'/api/experiments', 'post'>;
/** The items: `{ items: [{ input, expected? }] }` inline, `{ file: { instanceId, path } }` or `{ url }` (JSONL or CSV). */
export type ExperimentDataset = ExperimentCreateParams['dataset'];
export type DatasetItem = Extract<ExperimentDataset, { items: unknown }>['items'][number];
/** `{ type: 'exact' | 'contains' }`, `{ type: 'numeric', metric }`, `{ type: 'jsonField', field }`, `{ type: 'llmJudge', rubric }`. */
export type ExperimentScorer = ExperimentCreateParams['scorer'];
export type ScorerMetric = Extract<ExperimentScorer, { type: 'numeric' }>['metric'];
export type ExperimentList = Schemas['ExperimentList'];
/** Pairs (item × variant) done of the total; with `get` only. */
export type ExperimentProgress = NonNullable<Experiment['progress']>;
/** One variant's standing: mean score, `ci95`, scored and error counts, mean latency. */
export type LeaderboardEntry = NonNullable<Experiment['leaderboard']>[number];
export type ExperimentResultsParams = QueryParams<'/api/experiments/{id}/results', 'get'>;
/**
 * One (variant, item) that ran. `expected` is the dataset item's answer, any JSON (the document
 * types it as an object, which a string answer is not; hence the override).
 */
export type ExperimentResult = Omit<Schemas['ExperimentResultView'], 'expected'> & { expected?: unknown };
export type ExperimentResultList = Schemas['ExperimentResultList'];
/** `POST /api/experiments/{id}/evolve`'s body: `keep`, `populationSize`, `instructions?`. */
export type ExperimentEvolveParams = RequestBody<'/api/experiments/{id}/evolve', 'post'>;
/** What an evolution did: the new generation's experiment (running), the new variants, `notMade` and a `note`. */
export type EvolvedExperiment = Schemas['EvolvedView'];

// ---- keys -----------------------------------------------------------------------------------
export type ApiKey = Schemas['KeyView'];
export type ApiKeyCreateParams = NonNullable<RequestBody<'/api/chat-keys', 'post'>>;
export type CreatedApiKey = Schemas['CreatedKeyBody'];
export type ApiKeyList = Schemas['KeyList'];

// ---- billing --------------------------------------------------------------------------------
export type Billing = Schemas['BillingView'];
export type Plan = Schemas['PlanView'];
export type PlanSlug = Schemas['PlanSlug'];

// ---- chat -----------------------------------------------------------------------------------
export type Chat = Schemas['ChatView'];
export type ChatList = Schemas['ChatList'];
export type ChatMessage = Schemas['MessageView'];
export type ChatWithMessages = Schemas['ChatWithMessages'];
export type ChatRequest = RequestBody<'/api/chat', 'post'>;
/** `chat.send`'s answer (`x-response-format: json`). */
export type ChatReply = Schemas['ChatJsonReply'];

/**
 * One chunk of the AI SDK UI message stream (protocol v1) that `/api/chat` and
 * `/api/chat/{id}/stream` send, as the AI SDK's `UIMessageChunk` names them.
 */
export type UIMessageChunk =
  | { type: 'start'; messageId?: string; messageMetadata?: { chatId: string; [key: string]: unknown } }
  | { type: 'start-step' }
  | { type: 'text-start'; id: string }
  | { type: 'text-delta'; id: string; delta: string }
  | { type: 'text-end'; id: string }
  | { type: 'tool-input-available'; toolCallId: string; toolName: string; input: unknown }
  | { type: 'tool-output-available'; toolCallId: string; output: unknown }
  | { type: 'finish-step' }
  | { type: 'finish' }
  | { type: 'error'; errorText: string }
  | { type: 'data-summary'; data: { text: string; through: string } };

export type UIMessageChunkType = UIMessageChunk['type'];
