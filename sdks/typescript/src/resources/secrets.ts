// `/api/secrets`: encrypted values instances read as environment variables, with grants.
import type { HttpClient, RequestOptions } from '../core.js';
import type { PageIterator } from '../pagination.js';
import type { ListParams, OkResponse, Secret, SecretCreateParams, SecretList, SecretUpdateParams, components } from '../types.js';
import { paginate, seg } from './paginate.js';

type Envelope = components['schemas']['SecretEnvelope'];

export class Secrets {
  constructor(private readonly http: HttpClient) {}

  /** Creates a secret; the answer is the only one that carries `value`. */
  async create(params: SecretCreateParams, options?: RequestOptions): Promise<Secret> {
    return (await this.http.json<Envelope>({ method: 'POST', path: '/api/secrets', body: params, options })).secret;
  }

  /** Every secret's metadata (never the value), across all pages. */
  list(params?: ListParams, options?: RequestOptions): PageIterator<Secret> {
    return paginate(this.http, '/api/secrets', params, options, (b: SecretList) => b.secrets);
  }

  async get(secret: string, options?: RequestOptions): Promise<Secret> {
    return (await this.http.json<Envelope>({ method: 'GET', path: `/api/secrets/${seg(secret)}`, options })).secret;
  }

  /** Rotates the value or changes the description or `isGlobal`. */
  async update(secret: string, params: SecretUpdateParams, options?: RequestOptions): Promise<Secret> {
    return (await this.http.json<Envelope>({ method: 'PUT', path: `/api/secrets/${seg(secret)}`, body: params, options })).secret;
  }

  delete(secret: string, options?: RequestOptions): Promise<OkResponse> {
    return this.http.json({ method: 'DELETE', path: `/api/secrets/${seg(secret)}`, options });
  }

  /** Lets an instance read the secret. */
  async grant(secret: string, instanceId: string, options?: RequestOptions): Promise<Secret> {
    return (
      await this.http.json<Envelope>({
        method: 'POST',
        path: `/api/secrets/${seg(secret)}/grants`,
        body: { instanceId },
        options,
      })
    ).secret;
  }

  /** Takes an instance's grant away. */
  revoke(secret: string, instanceId: string, options?: RequestOptions): Promise<OkResponse> {
    return this.http.json({ method: 'DELETE', path: `/api/secrets/${seg(secret)}/grants/${seg(instanceId)}`, options });
  }
}
