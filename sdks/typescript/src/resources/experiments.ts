// `/api/experiments`: a dataset's items sent to several variants (instances' agents), every
// answer scored, the variants ranked on a leaderboard.
import type { HttpClient, RequestOptions } from '../core.js';
import { OperatorError } from '../errors.js';
import type { PageIterator } from '../pagination.js';
import type {
  EvolvedExperiment,
  Experiment,
  ExperimentEvolveParams,
  ExperimentCreateParams,
  ExperimentList,
  ExperimentResult,
  ExperimentResultList,
  ExperimentResultsParams,
  ListParams,
  OkResponse,
  components,
} from '../types.js';
import { paginate, seg } from './paginate.js';

type Envelope = components['schemas']['ExperimentEnvelope'];

/** Statuses after which nothing runs any more. */
export const EXPERIMENT_TERMINAL_STATUSES: readonly string[] = ['succeeded', 'failed', 'cancelled'];

export interface ExperimentWaitParams {
  /** Give up after this many milliseconds (default 600 000): an OperatorError with code `wait_timeout`. */
  timeoutMs?: number | undefined;
  /** Milliseconds between polls (default 500). */
  intervalMs?: number | undefined;
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class Experiments {
  constructor(private readonly http: HttpClient) {}

  /**
   * Starts an experiment (`status: 'queued'`): 1 to 20 variants (instance ids or names), a
   * dataset (`{ items }` inline, `{ file: { instanceId, path } }` or `{ url }`, JSONL or CSV), a
   * scorer (`exact`, `contains`, `numeric` with `metric`, `jsonField` with `field`, `llmJudge`
   * with `rubric`) and `concurrency` (pairs in flight, 1 to 16, default 4). The dataset is read
   * and checked now: a BadRequestError names the field at fault.
   */
  async create(params: ExperimentCreateParams, options?: RequestOptions): Promise<Experiment> {
    return (await this.http.json<Envelope>({ method: 'POST', path: '/api/experiments', body: params, options })).experiment;
  }

  /** Every experiment, newest first, across all pages (without progress and leaderboard: `get` one for those). */
  list(params?: ListParams, options?: RequestOptions): PageIterator<Experiment> {
    return paginate(this.http, '/api/experiments', params, options, (b: ExperimentList) => b.experiments);
  }

  /** With `progress` and the `leaderboard` (best first; lowest error first for `numeric`). */
  async get(experiment: string, options?: RequestOptions): Promise<Experiment> {
    return (await this.http.json<Envelope>({ method: 'GET', path: `/api/experiments/${seg(experiment)}`, options })).experiment;
  }

  /**
   * One row per (variant, item) that ran, by item then variant, across all pages; `instanceId`
   * (id or name) keeps one variant's.
   */
  results(experiment: string, params?: ExperimentResultsParams, options?: RequestOptions): PageIterator<ExperimentResult> {
    return paginate(
      this.http,
      `/api/experiments/${seg(experiment)}/results`,
      params,
      options,
      (b: ExperimentResultList) => b.results,
    );
  }

  /** Pairs not yet sent are not sent; results so far stay. A finished experiment is unchanged. */
  async cancel(experiment: string, options?: RequestOptions): Promise<Experiment> {
    return (await this.http.json<Envelope>({ method: 'POST', path: `/api/experiments/${seg(experiment)}/cancel`, options }))
      .experiment;
  }

  /**
   * Keeps the best `keep` variants of a succeeded experiment, makes new ones up to
   * `populationSize` (clones whose skill the platform's model rewrites, steered by
   * `instructions`) and starts the same items on the new generation (`wait` on its
   * `experiment.id`). Within the plan: `notMade` and `note` say what did not fit.
   */
  evolve(experiment: string, params: ExperimentEvolveParams, options?: RequestOptions): Promise<EvolvedExperiment> {
    return this.http.json({ method: 'POST', path: `/api/experiments/${seg(experiment)}/evolve`, body: params, options });
  }

  /** Deletes it with its results (a running one stops). */
  delete(experiment: string, options?: RequestOptions): Promise<OkResponse> {
    return this.http.json({ method: 'DELETE', path: `/api/experiments/${seg(experiment)}`, options });
  }

  /**
   * Polls `get` until the experiment is `succeeded`, `failed` or `cancelled`, and resolves with it
   * (check `status`). `options.signal` aborts the wait.
   */
  async wait(experiment: string, params: ExperimentWaitParams = {}, options?: RequestOptions): Promise<Experiment> {
    const timeoutMs = params.timeoutMs ?? 600_000;
    const intervalMs = params.intervalMs ?? 500;
    const end = Date.now() + timeoutMs;
    for (;;) {
      const e = await this.get(experiment, options);
      if (EXPERIMENT_TERMINAL_STATUSES.includes(e.status)) return e;
      if (Date.now() > end) {
        const done = e.progress ? ` (${e.progress.done}/${e.progress.total} done)` : '';
        throw new OperatorError({
          code: 'wait_timeout',
          message: `experiment ${e.id} is still ${e.status}${done} after ${timeoutMs} ms`,
        });
      }
      await pause(intervalMs, options?.signal);
    }
  }
}
