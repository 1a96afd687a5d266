// `/api/billing`: the plan, capacity and usage of the account.
import type { HttpClient, RequestOptions } from '../core.js';
import type { Billing as BillingView } from '../types.js';

export class BillingResource {
  constructor(private readonly http: HttpClient) {}

  get(options?: RequestOptions): Promise<BillingView> {
    return this.http.json({ method: 'GET', path: '/api/billing', options });
  }
}
