// `/api/webhooks`: URLs that turn an incoming payload into a prompt for the Operator agent.
import type { HttpClient, RequestOptions } from '../core.js';
import type { PageIterator } from '../pagination.js';
import type {
  Delivery,
  DeliveryList,
  ListParams,
  OkResponse,
  TriggerAccepted,
  Webhook,
  WebhookCreateParams,
  WebhookList,
  WebhookUpdateParams,
  components,
} from '../types.js';
import { paginate, seg } from './paginate.js';

type Envelope = components['schemas']['WebhookEnvelope'];

export class Webhooks {
  constructor(private readonly http: HttpClient) {}

  /** `promptTemplate` must contain `{{payload}}`. The answer carries the trigger `token` and `url`. */
  async create(params: WebhookCreateParams, options?: RequestOptions): Promise<Webhook> {
    return (await this.http.json<Envelope>({ method: 'POST', path: '/api/webhooks', body: params, options })).webhook;
  }

  list(params?: ListParams, options?: RequestOptions): PageIterator<Webhook> {
    return paginate(this.http, '/api/webhooks', params, options, (b: WebhookList) => b.webhooks);
  }

  async get(webhook: string, options?: RequestOptions): Promise<Webhook> {
    return (await this.http.json<Envelope>({ method: 'GET', path: `/api/webhooks/${seg(webhook)}`, options })).webhook;
  }

  /** `regenerateToken: true` replaces the token; the old URL stops working at once. */
  async update(webhook: string, params: WebhookUpdateParams, options?: RequestOptions): Promise<Webhook> {
    return (await this.http.json<Envelope>({ method: 'PUT', path: `/api/webhooks/${seg(webhook)}`, body: params, options }))
      .webhook;
  }

  delete(webhook: string, options?: RequestOptions): Promise<OkResponse> {
    return this.http.json({ method: 'DELETE', path: `/api/webhooks/${seg(webhook)}`, options });
  }

  /** The webhook's deliveries, newest first, across all pages. */
  deliveries(webhook: string, params?: ListParams, options?: RequestOptions): PageIterator<Delivery> {
    return paginate(this.http, `/api/webhooks/${seg(webhook)}/deliveries`, params, options, (b: DeliveryList) => b.deliveries);
  }

  /**
   * Fires the webhook as a provider would: no API key, the token is the credential. An object is
   * sent as JSON, a string as is (up to 10 KB); without a payload it is a GET. Pass
   * `options.idempotencyKey` to make a repeat return the first delivery.
   */
  trigger(token: string, payload?: unknown, options?: RequestOptions): Promise<TriggerAccepted> {
    const path = `/api/webhooks/trigger/${seg(token)}`;
    if (payload === undefined) return this.http.json({ method: 'GET', path, auth: false, options });
    const raw = typeof payload === 'string' ? payload : JSON.stringify(payload);
    return this.http.json({
      method: 'POST',
      path,
      auth: false,
      rawBody: raw,
      contentType: typeof payload === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
      options,
    });
  }
}
