import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CMB_LOG_COLUMNS, cmbLogEvents, configureLogs, type CmbLogEvent } from '../../src/sandbox/routes/logs.js';
import { openWebhookStore } from '../../src/services/webhooks/store.js';
import { classifyDelivery } from '../../src/services/webhooks/validate.js';
import { BIN, ROOT, baseEnv, errorEnvelope, startHarness, tempDir, type Harness, type RunResult } from '../helpers/cli.js';

let h: Harness;
let events: CmbLogEvent[];
let dirs: { cleanup: () => void }[] = [];

beforeAll(async () => {
  h = await startHarness();
  events = cmbLogEvents(h.sandbox.state);
});
afterAll(async () => {
  await h.close();
});
afterEach(() => {
  configureLogs(h.sandbox.state, { downloadHost: undefined });
  for (const d of dirs) d.cleanup();
  dirs = [];
});

function work(): string {
  const d = tempDir('tcb-out-');
  dirs.push(d);
  return d.dir;
}

const range = () => ['--from', String(events[0]!.requestedAt), '--to', String(events[9]!.requestedAt)];

/** Runs tcb and returns what the sandbox received meanwhile. */
async function runCounting(args: string[], options: Parameters<Harness['run']>[1] = {}): Promise<RunResult & { requests: number }> {
  const before = h.sandbox.requests().length;
  const result = await h.run(args, options);
  return { ...result, requests: h.sandbox.requests().length - before };
}

function expectRefused(result: RunResult & { requests: number }, message: RegExp): void {
  expect(result.code, result.stderr).toBe(2);
  expect(result.requests).toBe(0);
  expect(result.stdout).toBe('');
  expect(errorEnvelope(result.stderr).message).toMatch(message);
}

/** A body as the listener would store it (raw bytes, classified). */
function storable(body: string) {
  const classified = classifyDelivery(Buffer.from(body));
  if (!classified.ok) throw new Error(classified.reason);
  return classified.record;
}

describe('--output is checked before anything is sent', () => {
  it('never replaces the webhook store it exports from, or its -wal/-shm, even through a symbolic link', async () => {
    const dir = work();
    const store = path.join(dir, 'wh.sqlite');
    const body = readFileSync(path.join(ROOT, 'test', 'fixtures', 'api', 'webhook.cmb.not-interested.json'), 'utf8');
    const event = JSON.parse(body);
    const writer = openWebhookStore(store);
    writer.insertBatch([storable(body)]);
    writer.close();
    const before = readFileSync(store);
    symlinkSync(store, path.join(dir, 'link.csv'));
    for (const output of [store, `${store}-wal`, `${store}-shm`, path.join(dir, 'link.csv'), path.join(dir, '.', 'wh.sqlite')]) {
      const result = await runCounting(['cmb', 'export', '--source', 'webhook', '--store', store, '--output', output]);
      expectRefused(result, /webhook store/);
    }
    expect(readFileSync(store).equals(before)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['link.csv', 'wh.sqlite']);
  });

  it("never writes over tcb's own files: profiles, tokens, cursors, journals", async () => {
    for (const file of ['export-state.json', 'tokens.json', 'config.json', path.join('uploads', 'x.jsonl')]) {
      const result = await runCounting(['cmb', 'export', ...range(), '--output', path.join(h.configDir, file)]);
      expectRefused(result, /configuration directory/);
    }
  });

  it('an existing directory is exit 2 naming it, and leaves nothing behind', async () => {
    const dir = work();
    const result = await runCounting(['cmb', 'export', ...range(), '--output', dir]);
    expectRefused(result, new RegExp(`--output ${dir}: is a directory`));
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a read-only file is not replaced without --force', async () => {
    const dir = work();
    const file = path.join(dir, 'cmb.csv');
    writeFileSync(file, 'keep me\n');
    chmodSync(file, 0o444);
    const refused = await runCounting(['cmb', 'export', ...range(), '--output', file]);
    expectRefused(refused, /read-only; it is not replaced without --force/);
    expect(readFileSync(file, 'utf8')).toBe('keep me\n');

    const forced = await h.run(['cmb', 'export', ...range(), '--output', file, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(parse(readFileSync(file, 'utf8'), { columns: true })).toHaveLength(10);
    expect(readdirSync(dir)).toEqual(['cmb.csv']);
  });

  it('a missing folder is created; when the run fails, it is removed again with the file', async () => {
    const dir = work();
    const file = path.join(dir, 'exports', '2026', 'cmb.csv');
    const ok = await h.run(['cmb', 'export', ...range(), '--output', file]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(parse(readFileSync(file, 'utf8'), { columns: true })).toHaveLength(10);

    h.sandbox.inject({ endpoint: 'logs-download', status: 404 });
    const failed = await h.run(['cmb', 'export', ...range(), '--output', path.join(dir, 'other', 'deeper', 'cmb.csv')]);
    expect(failed.code).toBe(4);
    expect(readdirSync(dir)).toEqual(['exports']);
  });

  it('a folder this user cannot write in is exit 2 before the download, not a bug after it', async () => {
    const dir = work();
    const locked = path.join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    // root writes anywhere: run tcb as nobody then, with a config directory it can use.
    const asRoot = process.getuid?.() === 0;
    const config = path.join(dir, 'config');
    mkdirSync(config, { mode: 0o700 });
    if (asRoot) {
      chownSync(config, 65534, 65534);
      chmodSync(dir, 0o755);
    }
    const before = h.sandbox.requests().length;
    const result = await runAs(asRoot ? 65534 : undefined, ['cmb', 'export', ...range(), '--output', path.join(locked, 'cmb.csv')], {
      ...h.env,
      TCB_CONFIG_DIR: config,
    });
    expect(result.code, result.stderr).toBe(2);
    expect(h.sandbox.requests().length - before).toBe(0);
    expect(errorEnvelope(result.stderr).message).toMatch(/folder .*locked is not writable/);
    expect(readdirSync(locked)).toEqual([]);
  });
});

/** Runs the built CLI, as another user when uid is given (the tests may run as root). */
function runAs(uid: number | undefined, args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: baseEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(uid === undefined ? {} : { uid, gid: uid }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('file formats', () => {
  it('an unknown extension gets csv with every column (never a table), and --format table with --output is exit 2', async () => {
    const dir = work();
    const file = path.join(dir, 'cmb.txt');
    const result = await h.run(['cmb', 'export', ...range(), '--output', file], { env: { TCB_FORMAT: 'table' } });
    expect(result.code, result.stderr).toBe(0);
    const rows = parse(readFileSync(file, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(10);
    expect(Object.keys(rows[0]!)).toEqual([...CMB_LOG_COLUMNS]);

    const table = await runCounting(['cmb', 'export', ...range(), '--format', 'table', '--output', path.join(dir, 'x.csv')]);
    expectRefused(table, /--format table/);
    expect(readdirSync(dir)).toEqual(['cmb.txt']);
  });

  it('--json with another --format is exit 2, in either order', async () => {
    for (const args of [['--json', '--format', 'csv'], ['--format', 'csv', '--json']]) {
      const result = await runCounting(['labels', 'list', ...args]);
      expectRefused(result, /--json and --format csv conflict/);
    }
    const same = await h.run(['labels', 'list', '--json', '--format', 'json']);
    expect(same.code, same.stderr).toBe(0);
  });

  it('--all --json that fails part way prints nothing on stdout, never a broken array', async () => {
    // Page 1 answers, page 2 fails for good.
    h.sandbox.inject({ endpoint: 'numbers-details', status: 503, after: 1 });
    const json = await h.run(['numbers', 'list', '--all', '--limit', '2', '--json'], { env: { TCB_MAX_RETRIES: '0' } });
    expect(json.code).toBe(5);
    expect(json.stdout).toBe('');
    // ndjson streams: the first page is there, each line valid.
    h.sandbox.inject({ endpoint: 'numbers-details', status: 503, after: 1 });
    const ndjson = await h.run(['numbers', 'list', '--all', '--limit', '2', '--format', 'ndjson'], { env: { TCB_MAX_RETRIES: '0' } });
    expect(ndjson.code).toBe(5);
    const lines = ndjson.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) JSON.parse(line);
  });
});

describe('CSV with a bare CR in a value', () => {
  /** Like Python's csv and spreadsheets: CR, LF and CRLF all end a record outside quotes. */
  const strictCsv = (text: string) => parse(text, { columns: true, record_delimiter: ['\r\n', '\n', '\r'] }) as Record<string, string>[];

  it('a webhook event stays one record, the formula guard included', async () => {
    const dir = work();
    const store = path.join(dir, 'wh.sqlite');
    const event = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'api', 'webhook.cmb.slot-picker-happy-flow.json'), 'utf8'));
    event.cmb_payload.feature_set = 'Fresh\rFlower';
    event.cmb_payload.cmb_config_name = '\rCMB';
    const body = JSON.stringify(event);
    const writer = openWebhookStore(store);
    writer.insertBatch([storable(body)]);
    writer.close();
    const result = await h.run(['cmb', 'export', '--source', 'webhook', '--store', store, '--format', 'csv']);
    expect(result.code, result.stderr).toBe(0);
    const rows = strictCsv(result.stdout);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ event_id: event.event_id, feature_set: 'Fresh\rFlower', cmb_config_name: "'\rCMB" });
  });

  it('a log download cell stays one record', async () => {
    const at = events[5]!.requestedAt;
    const odd: CmbLogEvent = { ...events[5]!, id: 'cr-in-a-cell', featureSet: 'Fresh\rFlower', requestedAt: at };
    events.splice(6, 0, odd);
    try {
      const result = await h.run(['cmb', 'export', '--from', String(at), '--to', String(at), '--format', 'csv']);
      expect(result.code, result.stderr).toBe(0);
      const rows = strictCsv(result.stdout);
      expect(rows.map((r) => r.request_id)).toEqual([events[5]!.id, 'cr-in-a-cell']);
      expect(rows[1]!.feature_set).toBe('Fresh\rFlower');
    } finally {
      events.splice(events.indexOf(odd), 1);
    }
  });
});

describe('signals while writing --output', () => {
  let stall: Server;
  let stallUrl: string;
  let served: Promise<void>;
  beforeAll(async () => {
    let arrived!: () => void;
    served = new Promise((resolve) => (arrived = resolve));
    // A download that sends part of a file and then stalls.
    stall = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/csv' });
      res.write(`${CMB_LOG_COLUMNS.join(',')}\n`);
      for (let i = 0; i < 2000; i += 1) res.write(`id-${i},2026-05-01T00:00:00Z,91,fs,91,NA,NA,,,false,,CMBName\n`);
      arrived();
    });
    await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
    stallUrl = `http://127.0.0.1:${(stall.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    stall.closeAllConnections();
    stall.close();
  });

  it('SIGHUP stops like SIGTERM: exit 130, an error line, no temporary file, no cursor moved', async () => {
    configureLogs(h.sandbox.state, { downloadHost: { url: stallUrl, state: h.sandbox.state } });
    const dir = work();
    const config = path.join(dir, 'config');
    const out = path.join(dir, 'out');
    mkdirSync(out);
    const tempAppeared = new Promise<void>((resolve) => {
      const watcher = watch(out, (_event, name) => {
        if (name && String(name).endsWith('.tmp')) {
          watcher.close();
          resolve();
        }
      });
    });
    const child = spawn(process.execPath, [BIN, 'cmb', 'export', ...range(), '--since-last', '--output', path.join(out, 'cmb.csv')], {
      cwd: ROOT,
      env: baseEnv({ ...h.env, TCB_CONFIG_DIR: config }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal })),
    );
    await served;
    await tempAppeared;
    child.kill('SIGHUP');
    expect(await exited).toEqual({ code: 130, signal: null });
    expect(readdirSync(out)).toEqual([]);
    expect(errorEnvelope(stderr).code).toBe('interrupted');
    expect(existsSync(path.join(config, 'export-state.json'))).toBe(false);
  });
});

describe('upload --skip-invalid and --report', () => {
  const HEADER = 'caller_number,receiver_number,starts_at,ends_at,label_id,dynamic_label_name,dynamic_call_reason';
  const row = (i: number) =>
    `91800${String(i).padStart(7, '0')},9190${String(i).padStart(6, '0')}55,${Date.now()},${Date.now() + 3_600_000},255297eb-7f13-44f9-967a-f287ff0f5025,Acme Bank,Your parcel ${i} is on its way`;

  it('refuses the input itself (also through a link), a directory, or the same file twice: nothing sent, input intact', async () => {
    const dir = work();
    const input = path.join(dir, 'calls.csv');
    const content = `${[HEADER, row(1), 'not,a,valid,row,,,', row(2)].join('\n')}\n`;
    writeFileSync(input, content);
    symlinkSync(input, path.join(dir, 'alias.csv'));
    const cases: [string[], RegExp][] = [
      [['--skip-invalid', input], /file being uploaded/],
      [['--skip-invalid', path.join(dir, 'alias.csv')], /file being uploaded/],
      [['--wait', '--report', input], /file being uploaded/],
      [['--skip-invalid', dir], /is a directory/],
      [['--skip-invalid', path.join(dir, 'x.csv'), '--report', path.join(dir, 'x.csv')], /--skip-invalid file of this run/],
    ];
    for (const [flags, message] of cases) {
      const result = await runCounting(['call-reason', 'upload', input, ...flags]);
      expectRefused(result, message);
    }
    expect(readFileSync(input, 'utf8')).toBe(content);
    expect(readdirSync(dir).sort()).toEqual(['alias.csv', 'calls.csv']);
    expect(statSync(input).isFile()).toBe(true);
  });
});
