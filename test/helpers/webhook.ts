import { spawn, type ChildProcessWithoutNullStreams, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { openWebhookStore } from '../../src/services/webhooks/store.js';
import { parseStoredEvent } from '../../src/services/webhooks/records.js';
import type { StoredWebhookEvent } from '../../src/services/webhooks/store-types.js';
import { BIN, ROOT, baseEnv } from './cli.js';

/** Helpers for end-to-end tests of `tcb webhook listen`: a real process, real sockets. */

export const KEY = 'e2e-webhook-key-0123456789abcdef';
export const FIXTURES = [
  'webhook.cmb.slot-picker-happy-flow.json',
  'webhook.cmb.sim-info-unavailable.json',
  'webhook.cmb.not-interested.json',
  'webhook.user-feedback.json',
];
export const fixtureText = (name: string) => readFileSync(path.join(ROOT, 'test', 'fixtures', 'api', name), 'utf8');
export const fixture = (name: string) => JSON.parse(fixtureText(name));

export interface Listener {
  child: ChildProcessWithoutNullStreams;
  url: string;
  port: number;
  hook: string;
  info: Record<string, unknown>;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once stderr matches (the listener said it); rejects if it exits first. */
  waitForStderr: (pattern: RegExp) => Promise<string>;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  /** Run as another user (tests of permissions when the suite runs as root). */
  uid?: number;
  gid?: number;
  /** Start under this open-file limit (ulimit -n). */
  fdLimit?: number;
}

/**
 * Spawns `tcb webhook listen --port 0 --json` and reads its URL from the JSON it prints on stdout.
 * --json also makes the stderr log JSON lines; pass --log-format text for text lines.
 */
export function startListener(store: string, extraArgs: string[] = [], options: StartOptions = {}): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const args = [BIN, 'webhook', 'listen', '--store', store, '--port', '0', '--json', ...extraArgs];
    const spawnOptions: SpawnOptions = {
      cwd: ROOT,
      env: baseEnv({ TCB_WEBHOOK_KEY: KEY, ...options.env }),
      stdio: ['pipe', 'pipe', 'pipe'],
    };
    if (options.uid !== undefined) spawnOptions.uid = options.uid;
    if (options.gid !== undefined) spawnOptions.gid = options.gid;
    const child = (
      options.fdLimit === undefined
        ? spawn(process.execPath, args, spawnOptions)
        : spawn('/bin/sh', ['-c', `ulimit -n ${options.fdLimit} && exec "$0" "$@"`, process.execPath, ...args], spawnOptions)
    ) as ChildProcessWithoutNullStreams;
    let stdout = '';
    let stderr = '';
    let started = false;
    const watchers: Array<{ pattern: RegExp; resolve: (s: string) => void; reject: (e: Error) => void }> = [];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.on('close', (code, signal) => {
        for (const w of watchers.splice(0)) w.reject(new Error(`listener exited (${code ?? signal}) before stderr matched ${w.pattern}:\n${stderr}`));
        done({ code, signal });
      }),
    );
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`listener did not start:\n${stderr}`));
    }, 30_000);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      for (const w of [...watchers]) {
        const match = w.pattern.exec(stderr);
        if (match) {
          watchers.splice(watchers.indexOf(w), 1);
          w.resolve(match[0]);
        }
      }
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (started) return;
      try {
        const info = JSON.parse(stdout);
        started = true;
        clearTimeout(timer);
        resolve({
          child,
          url: info.url,
          port: info.port,
          hook: `${info.url}tcbiz-webhook?key=${KEY}`,
          info,
          stdout: () => stdout,
          stderr: () => stderr,
          exited,
          waitForStderr: (pattern) => {
            const match = pattern.exec(stderr);
            if (match) return Promise.resolve(match[0]);
            if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error(`listener already exited:\n${stderr}`));
            return new Promise((res, rej) => watchers.push({ pattern, resolve: res, reject: rej }));
          },
        });
      } catch {
        // not a complete JSON object yet
      }
    });
    void exited.then(({ code }) => {
      if (!started) {
        clearTimeout(timer);
        reject(Object.assign(new Error(`listener exited with ${code}:\n${stderr}`), { code, stderr, stdout }));
      }
    });
  });
}

/**
 * Waits until every request answered so far is in the access log (the log is written
 * asynchronously, after the answer): a marker request is logged after all of them.
 */
export async function logSettled(listener: Listener): Promise<void> {
  const marker = `settled-${Math.random().toString(36).slice(2)}`;
  await fetch(`${listener.url}healthz?${marker}`);
  await listener.waitForStderr(new RegExp(marker));
}

export async function stop(listener: Listener, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (listener.child.exitCode === null && listener.child.signalCode === null) listener.child.kill(signal);
  return listener.exited;
}

export async function post(url: string, body: string | object | Uint8Array): Promise<{ status: number; json: any; headers: Headers }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: response.status, json, headers: response.headers };
}

export function storedEvents(file: string): StoredWebhookEvent[] {
  const store = openWebhookStore(file, { readonly: true });
  try {
    return [...store.events()];
  } finally {
    store.close();
  }
}

export function storedEvent(file: string, eventId: string): (StoredWebhookEvent & { event: any }) | undefined {
  const found = storedEvents(file).find((e) => e.event_id === eventId);
  return found ? { ...found, event: parseStoredEvent(found) } : undefined;
}

/** A raw TCP connection to the listener, with what it received and when it closed. */
export interface RawConnection {
  socket: Socket;
  received: () => string;
  /** Resolves when the server (or anything) closed the connection. */
  closed: Promise<void>;
  /** Resolves once the received text matches. */
  waitFor: (pattern: RegExp) => Promise<void>;
}

export function rawConnection(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const watchers: Array<{ pattern: RegExp; resolve: () => void }> = [];
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      for (const w of [...watchers]) {
        if (w.pattern.test(received)) {
          watchers.splice(watchers.indexOf(w), 1);
          w.resolve();
        }
      }
    });
    socket.on('error', () => {});
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.once('connect', () =>
      resolve({
        socket,
        received: () => received,
        closed,
        waitFor: (pattern) => (pattern.test(received) ? Promise.resolve() : new Promise((res) => watchers.push({ pattern, resolve: res }))),
      }),
    );
    socket.once('error', reject);
  });
}
