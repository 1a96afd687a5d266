// `new Operator({ apiKey, baseURL })`: the client and its resources.
import { HttpClient, type Fetch, type RequestOptions } from './core.js';
import { OperatorError } from './errors.js';
import { Automations } from './resources/automations.js';
import { BillingResource } from './resources/billing.js';
import { ChatResource } from './resources/chat.js';
import { Experiments } from './resources/experiments.js';
import { Instances } from './resources/instances.js';
import { Keys } from './resources/keys.js';
import { Secrets } from './resources/secrets.js';
import { Webhooks } from './resources/webhooks.js';
import type { components } from './types.js';

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

export interface OperatorOptions {
  /** `ck_live_...`; default `OPERATOR_API_KEY` from the environment (where there is one). */
  apiKey?: string | undefined;
  /** The server's address, e.g. `https://operator.example.com`; default `OPERATOR_URL`, else http://127.0.0.1:8080. */
  baseURL?: string | undefined;
  /** Milliseconds per request until a response (default 60 000; chat and instance messages wait longer). */
  timeout?: number | undefined;
  /** Retries on 429, 5xx and connection failures (default 2). */
  maxRetries?: number | undefined;
  /** Longest `Retry-After` (seconds) waited out automatically (default 60); a longer one is thrown as a RateLimitError. */
  maxRetryAfter?: number | undefined;
  /** A fetch implementation (default the global one). */
  fetch?: Fetch | undefined;
}

/** An environment variable, where the runtime has `process.env` (Node, Deno, Bun), else undefined. */
function env(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const value = proc?.env?.[name];
  return value === '' ? undefined : value;
}

export class Operator {
  readonly instances: Instances;
  readonly secrets: Secrets;
  readonly automations: Automations;
  readonly webhooks: Webhooks;
  readonly experiments: Experiments;
  readonly keys: Keys;
  readonly billing: BillingResource;
  readonly chat: ChatResource;
  /** The HTTP layer (base URL, key, retries) the resources share. */
  readonly http: HttpClient;

  constructor(options: OperatorOptions = {}) {
    const apiKey = options.apiKey ?? env('OPERATOR_API_KEY');
    if (!apiKey) {
      throw new OperatorError({
        code: 'missing_api_key',
        message: 'no API key: pass new Operator({ apiKey }) or set OPERATOR_API_KEY',
      });
    }
    const baseURL = (options.baseURL ?? env('OPERATOR_URL') ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.http = new HttpClient({
      apiKey,
      baseURL,
      timeout: options.timeout ?? 60_000,
      maxRetries: options.maxRetries ?? 2,
      maxRetryAfter: options.maxRetryAfter ?? 60,
      fetch: fetchImpl,
    });
    this.instances = new Instances(this.http);
    this.secrets = new Secrets(this.http);
    this.automations = new Automations(this.http);
    this.webhooks = new Webhooks(this.http);
    this.experiments = new Experiments(this.http);
    this.keys = new Keys(this.http);
    this.billing = new BillingResource(this.http);
    this.chat = new ChatResource(this.http);
  }

  get baseURL(): string {
    return this.http.config.baseURL;
  }

  get apiKey(): string {
    return this.http.config.apiKey;
  }

  /** `GET /api/health` (no key needed): `{ ok, version }`. */
  health(options?: RequestOptions): Promise<components['schemas']['HealthBody']> {
    return this.http.json({ method: 'GET', path: '/api/health', auth: false, options });
  }
}
