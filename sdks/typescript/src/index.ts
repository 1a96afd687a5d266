// @operator/sdk: a typed, fetch-based client for the Operator API (Node >= 20 and browsers).
export { Operator, DEFAULT_BASE_URL, type OperatorOptions } from './client.js';
export { HttpClient, newIdempotencyKey, type RequestOptions, type Fetch } from './core.js';
export {
  OperatorError,
  BadRequestError,
  AuthenticationError,
  CapacityExceededError,
  NotFoundError,
  ConflictError,
  PayloadTooLargeError,
  RateLimitError,
  InternalServerError,
  ConnectionError,
  TimeoutError,
  type ErrorDetails,
} from './errors.js';
export { PageIterator, type Page } from './pagination.js';
export { parseSse, type SseEvent } from './sse.js';
export {
  ChatStream,
  ChatResource,
  type ChatSendParams,
  type ChatStreamParams,
  type ChatRequestMessage,
  type ReattachParams,
} from './resources/chat.js';
export { Instances, InstanceFiles, InstanceBrowser, InstanceCron, type FileContent } from './resources/instances.js';
export { Secrets } from './resources/secrets.js';
export { Automations } from './resources/automations.js';
export { Webhooks } from './resources/webhooks.js';
export { Experiments, EXPERIMENT_TERMINAL_STATUSES, type ExperimentWaitParams } from './resources/experiments.js';
export { Keys } from './resources/keys.js';
export { BillingResource } from './resources/billing.js';
export { chatTransportOptions, operatorChatTransport, type OperatorChatTransport } from './transport.js';
export type * from './types.js';
