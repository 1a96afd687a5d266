// `/api/chat-keys`: the account's API keys.
import type { HttpClient, RequestOptions } from '../core.js';
import type { PageIterator } from '../pagination.js';
import type { ApiKey, ApiKeyCreateParams, ApiKeyList, CreatedApiKey, ListParams, OkResponse } from '../types.js';
import { paginate, seg } from './paginate.js';

export class Keys {
  constructor(private readonly http: HttpClient) {}

  /** A new key: `{ id, key }`; the full key is shown only here. */
  create(params: ApiKeyCreateParams = {}, options?: RequestOptions): Promise<CreatedApiKey> {
    return this.http.json({ method: 'POST', path: '/api/chat-keys', body: params, options });
  }

  /** Every key's metadata (`prefix`, `lastUsedAt`), across all pages. */
  list(params?: ListParams, options?: RequestOptions): PageIterator<ApiKey> {
    return paginate(this.http, '/api/chat-keys', params, options, (b: ApiKeyList) => b.keys);
  }

  /** Revokes a key: it fails with 401 on its very next use. */
  delete(key: string, options?: RequestOptions): Promise<OkResponse> {
    return this.http.json({ method: 'DELETE', path: `/api/chat-keys/${seg(key)}`, options });
  }

  /** The same as `delete`. */
  revoke(key: string, options?: RequestOptions): Promise<OkResponse> {
    return this.delete(key, options);
  }
}
