// `/api/automations`: prompts the Operator agent runs on a cron schedule.
import type { HttpClient, RequestOptions } from '../core.js';
import type { PageIterator } from '../pagination.js';
import type {
  Automation,
  AutomationCreateParams,
  AutomationList,
  AutomationRun,
  AutomationRunList,
  AutomationUpdateParams,
  ListParams,
  NextRuns,
  NextRunsParams,
  OkResponse,
  components,
} from '../types.js';
import { paginate, seg } from './paginate.js';

type Envelope = components['schemas']['AutomationEnvelope'];
type RunEnvelope = components['schemas']['RunEnvelope'];

export class Automations {
  constructor(private readonly http: HttpClient) {}

  /** 5-field cron and an IANA timezone (default UTC); an invalid one is a 400 with the reason. */
  async create(params: AutomationCreateParams, options?: RequestOptions): Promise<Automation> {
    return (await this.http.json<Envelope>({ method: 'POST', path: '/api/automations', body: params, options })).automation;
  }

  list(params?: ListParams, options?: RequestOptions): PageIterator<Automation> {
    return paginate(this.http, '/api/automations', params, options, (b: AutomationList) => b.automations);
  }

  async get(automation: string, options?: RequestOptions): Promise<Automation> {
    return (await this.http.json<Envelope>({ method: 'GET', path: `/api/automations/${seg(automation)}`, options })).automation;
  }

  /** Any field, including `enabled`. */
  async update(automation: string, params: AutomationUpdateParams, options?: RequestOptions): Promise<Automation> {
    return (
      await this.http.json<Envelope>({ method: 'PUT', path: `/api/automations/${seg(automation)}`, body: params, options })
    ).automation;
  }

  delete(automation: string, options?: RequestOptions): Promise<OkResponse> {
    return this.http.json({ method: 'DELETE', path: `/api/automations/${seg(automation)}`, options });
  }

  /** Runs it now; the run is queued (202). */
  async run(automation: string, options?: RequestOptions): Promise<AutomationRun> {
    return (await this.http.json<RunEnvelope>({ method: 'POST', path: `/api/automations/${seg(automation)}/run`, options })).run;
  }

  /** The automation's runs, newest first, across all pages. */
  runs(automation: string, params?: ListParams, options?: RequestOptions): PageIterator<AutomationRun> {
    return paginate(this.http, `/api/automations/${seg(automation)}/runs`, params, options, (b: AutomationRunList) => b.runs);
  }

  /** The next fire times of a schedule (no automation needed): validates cron and timezone. */
  nextRuns(params: NextRunsParams, options?: RequestOptions): Promise<NextRuns> {
    return this.http.json({ method: 'GET', path: '/api/automations/next-runs', query: params, options });
  }
}
