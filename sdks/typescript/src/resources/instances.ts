// `/api/instances`: isolated agent workspaces, their files, activity, commands, agent and browser.
import type { HttpClient, RequestOptions } from '../core.js';
import type { PageIterator } from '../pagination.js';
import type {
  Activity,
  ActivityParams,
  CronJob,
  CronJobParams,
  CronJobs,
  BrowserOpenParams,
  BrowserPage,
  ExecParams,
  ExecResult,
  FileNode,
  FileWritten,
  Instance,
  InstanceCloneParams,
  InstanceCreateParams,
  InstanceList,
  InstanceListParams,
  InstanceMessageParams,
  InstanceMessageReply,
  InstanceUpdateParams,
  OkResponse,
  components,
} from '../types.js';
import { paginate, seg } from './paginate.js';

type Envelope = components['schemas']['InstanceEnvelope'];

/** Exec's default command timeout on the server (ms). */
const EXEC_DEFAULT_MS = 30_000;
/** Slack on top of a command's own timeout before the HTTP request gives up (ms). */
const EXEC_SLACK_MS = 30_000;

/** How long `message` waits for the instance agent's reply by default (ms). */
const MESSAGE_TIMEOUT_MS = 10 * 60 * 1000;

/** What `files.write` accepts: text is sent as UTF-8, bytes as they are. */
export type FileContent = string | Uint8Array | ArrayBuffer | Blob;

export class InstanceFiles {
  constructor(private readonly http: HttpClient) {}

  /** A folder listing (`type: 'directory'`) or a file with its content (`type: 'file'`). Path relative to the workspace; empty for the root. */
  read(instance: string, path = '', options?: RequestOptions): Promise<FileNode> {
    return this.http.json({ method: 'GET', path: `/api/instances/${seg(instance)}/files`, query: { path }, options });
  }

  /** Writes `content` (the raw body, up to 10 MiB) to `path`; folders are created as needed. */
  write(instance: string, path: string, content: FileContent, options?: RequestOptions): Promise<FileWritten> {
    return this.http.json({
      method: 'PUT',
      path: `/api/instances/${seg(instance)}/files`,
      query: { path },
      rawBody: content,
      contentType: typeof content === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream',
      options,
    });
  }

  /** Removes a file or an empty folder. */
  delete(instance: string, path: string, options?: RequestOptions): Promise<OkResponse> {
    return this.http.json({ method: 'DELETE', path: `/api/instances/${seg(instance)}/files`, query: { path }, options });
  }
}

export class InstanceBrowser {
  constructor(private readonly http: HttpClient) {}

  /** Loads an http(s) URL in the instance's headless browser: `{ url, title, text }`. */
  open(instance: string, params: BrowserOpenParams, options?: RequestOptions): Promise<BrowserPage> {
    return this.http.json({ method: 'POST', path: `/api/instances/${seg(instance)}/browser/open`, body: params, options });
  }

  /** A PNG of the current page. */
  async screenshot(instance: string, options?: RequestOptions): Promise<Uint8Array> {
    const { data } = await this.http.bytes({
      method: 'GET',
      path: `/api/instances/${seg(instance)}/browser/screenshot`,
      accept: 'image/png',
      options,
    });
    return data;
  }
}

/** An `openclaw` instance's own scheduler: jobs that run inside the instance. */
export class InstanceCron {
  constructor(private readonly http: HttpClient) {}

  /** Its jobs, OpenClaw's built-in ones (`builtIn`) included. */
  async list(instance: string, options?: RequestOptions): Promise<CronJob[]> {
    const r = await this.http.json<CronJobs>({ method: 'GET', path: `/api/instances/${seg(instance)}/cron`, options });
    return r.jobs;
  }

  /** A job that asks the instance's agent `message` on `schedule` (`cron`+`tz`, `everySeconds` or `at`). */
  async add(instance: string, params: CronJobParams, options?: RequestOptions): Promise<CronJob> {
    const r = await this.http.json<{ job: CronJob }>({
      method: 'POST',
      path: `/api/instances/${seg(instance)}/cron`,
      body: params,
      options,
    });
    return r.job;
  }
}

export class Instances {
  readonly files: InstanceFiles;
  readonly browser: InstanceBrowser;
  readonly cron: InstanceCron;

  constructor(private readonly http: HttpClient) {
    this.files = new InstanceFiles(http);
    this.browser = new InstanceBrowser(http);
    this.cron = new InstanceCron(http);
  }

  /** Creates an instance; it starts `provisioning` and becomes `active` (or `failed`). */
  async create(params: InstanceCreateParams, options?: RequestOptions): Promise<Instance> {
    const r = await this.http.json<Envelope>({ method: 'POST', path: '/api/instances', body: params, options });
    return r.instance;
  }

  /** Every instance, newest first, across all pages (`.page()` for one). */
  list(params?: InstanceListParams, options?: RequestOptions): PageIterator<Instance> {
    return paginate(this.http, '/api/instances', params, options, (b: InstanceList) => b.instances);
  }

  /** By id (`inst_...`) or by name. */
  async get(instance: string, options?: RequestOptions): Promise<Instance> {
    const r = await this.http.json<Envelope>({ method: 'GET', path: `/api/instances/${seg(instance)}`, options });
    return r.instance;
  }

  /** Renames it or replaces its `env` or `config`. */
  async update(instance: string, params: InstanceUpdateParams, options?: RequestOptions): Promise<Instance> {
    const r = await this.http.json<Envelope>({ method: 'PUT', path: `/api/instances/${seg(instance)}`, body: params, options });
    return r.instance;
  }

  /** Restarts its container (`restarting`, then `active`); the workspace is kept. */
  async restart(instance: string, options?: RequestOptions): Promise<Instance> {
    const r = await this.http.json<Envelope>({ method: 'POST', path: `/api/instances/${seg(instance)}/restart`, options });
    return r.instance;
  }

  /** A new instance with a copy of this one's workspace and settings. */
  async clone(instance: string, params: InstanceCloneParams, options?: RequestOptions): Promise<Instance> {
    const r = await this.http.json<Envelope>({
      method: 'POST',
      path: `/api/instances/${seg(instance)}/clone`,
      body: params,
      options,
    });
    return r.instance;
  }

  /** Stops it; the status becomes `inactive` and the name is free again. */
  delete(instance: string, options?: RequestOptions): Promise<OkResponse> {
    return this.http.json({ method: 'DELETE', path: `/api/instances/${seg(instance)}`, options });
  }

  /** The instance agent's sessions and the JSONL lines of one; pass `cursor` back for new lines only. */
  activity(instance: string, params?: ActivityParams, options?: RequestOptions): Promise<Activity> {
    return this.http.json({ method: 'GET', path: `/api/instances/${seg(instance)}/activity`, query: params, options });
  }

  /** Runs a command with `bash -c` in the workspace. */
  exec(instance: string, params: ExecParams, options?: RequestOptions): Promise<ExecResult> {
    const timeout = Math.max(this.http.config.timeout, (params.timeoutMs ?? EXEC_DEFAULT_MS) + EXEC_SLACK_MS);
    return this.http.json({
      method: 'POST',
      path: `/api/instances/${seg(instance)}/exec`,
      body: params,
      options: { ...options, timeout: options?.timeout ?? timeout },
    });
  }

  /** Sends text to the instance's own agent and returns its reply and session id. */
  message(instance: string, params: InstanceMessageParams, options?: RequestOptions): Promise<InstanceMessageReply> {
    return this.http.json({
      method: 'POST',
      path: `/api/instances/${seg(instance)}/messages`,
      body: params,
      options: { ...options, timeout: options?.timeout ?? Math.max(this.http.config.timeout, MESSAGE_TIMEOUT_MS) },
    });
  }
}
