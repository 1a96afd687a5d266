// Starts the real embedded Operator server (target/debug/operator, built by
// `cargo build -p operator-cli`; OPERATOR_BIN overrides) on a free port with a fresh data
// directory and a random bootstrap key, and stops it (SIGTERM, which stops its instances).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const BIN = process.env.OPERATOR_BIN ?? join(REPO, 'target/debug/operator');

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor(what, check, { timeoutMs = 30_000, intervalMs = 100 } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function startServer({ env = {} } = {}) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`cargo build -p operator-cli\` first`);
  const dir = mkdtempSync(join(tmpdir(), 'operator-ts-sdk-'));
  const dataDir = join(dir, 'data');
  const key = `ck_live_${randomBytes(24).toString('hex')}`;
  const childEnv = { ...process.env, RUST_LOG: 'info', OPERATOR_BOOTSTRAP_KEY: key, ...env };
  for (const name of ['OPERATOR_MASTER_KEY', 'OPERATOR_PUBLIC_URL', 'OPERATOR_API_KEY', 'OPERATOR_URL']) delete childEnv[name];
  if (!env.OPERATOR_LLM) for (const name of ['OPERATOR_LLM', 'OPERATOR_LLM_MODEL', 'OPERATOR_LLM_BASE_URL']) delete childEnv[name];
  const logPath = join(dir, 'server.log');
  const child = spawn(BIN, ['serve', '--addr', '127.0.0.1:0', '--data-dir', dataDir], {
    env: childEnv,
    stdio: ['ignore', 'pipe', openSync(logPath, 'a')],
  });
  const lines = [];
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${lines.join('\n')}\n${log()}`)), 30_000);
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      lines.push(line);
      const m = /^Listening on (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}): ${lines.join('\n')}\n${log()}`));
    });
  });
  function log() {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  }
  return {
    url,
    key,
    dataDir,
    log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
