import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSandbox, type SandboxHandle, type SandboxOptions } from '../../src/sandbox/server.js';
import { tempDir } from './temp.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'tcb.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  cwd?: string;
  timeoutMs?: number;
}

/** A clean environment: no inherited TCB_* or colour variables leak into a test. */
export function baseEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (/^(TCB_|NO_COLOR$|FORCE_COLOR$|CI$)/.test(key)) continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs the built bin/tcb.js as a child process (no TTY), like a cron job or a pipeline. */
export function runTcb(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: baseEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

export { tempDir };

/** A sandbox on port 0 plus an isolated TCB_CONFIG_DIR and the env that logs into it. */
export interface Harness {
  sandbox: SandboxHandle;
  configDir: string;
  /** TCB_CONFIG_DIR + TCB_BASE_URL + the three credential variables (env-only mode). */
  env: Record<string, string>;
  run(args: string[], options?: RunOptions): Promise<RunResult>;
  close(): Promise<void>;
}

export async function startHarness(options: SandboxOptions = {}): Promise<Harness> {
  const sandbox = await startSandbox({ port: 0, ...options });
  const { dir, cleanup } = tempDir();
  const env = {
    TCB_CONFIG_DIR: dir,
    TCB_BASE_URL: sandbox.url,
    TCB_CLIENT_ACCOUNT_ID: sandbox.credentials.clientAccountId,
    TCB_KEY_ID: sandbox.credentials.keyId,
    TCB_API_KEY: sandbox.credentials.apiKey,
  };
  return {
    sandbox,
    configDir: dir,
    env,
    run: (args, runOptions = {}) => runTcb(args, { ...runOptions, env: { ...env, ...runOptions.env } }),
    async close() {
      await sandbox.close();
      cleanup();
    },
  };
}

/** Parses the single-line JSON error envelope written on stderr. */
export function errorEnvelope(stderr: string): { code: string; message: string; exit_code: number; http_status: number | null; slug: string | null; hint: string | null } {
  const line = stderr.trim().split('\n').filter((l) => l.startsWith('{"error"')).pop();
  if (!line) throw new Error(`no JSON error envelope on stderr:\n${stderr}`);
  return JSON.parse(line).error;
}
