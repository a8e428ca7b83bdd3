import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/server.js';
import {
  CMB_LOG_COLUMNS,
  SANDBOX_SURVEYS,
  cmbLogEvents,
  configureLogs,
  feedbackLogEvents,
  serveLogDownloadsFrom,
  type CmbLogEvent,
} from '../../src/sandbox/routes/logs.js';
import { openWebhookStore } from '../../src/services/webhooks/store.js';
import { classifyDelivery } from '../../src/services/webhooks/validate.js';
import { BIN, ROOT, baseEnv, errorEnvelope, startHarness, tempDir, type Harness } from '../helpers/cli.js';
import { whenInDirectory } from '../helpers/watch.js';

let h: Harness;
let storage: SandboxHandle;
let events: CmbLogEvent[];

beforeAll(async () => {
  h = await startHarness();
  storage = await startSandbox({ port: 0 });
  events = cmbLogEvents(h.sandbox.state);
});
afterAll(async () => {
  await h.close();
  await storage.close();
});
beforeEach(() => {
  configureLogs(h.sandbox.state, { downloadHost: undefined, downloadOverride: undefined, answer: 'url', noDataStatus: 200 });
});

/** The seeded events between two of them (inclusive), as the sandbox serves them. */
function idsBetween(from: number, to: number): string[] {
  return events.filter((e) => e.requestedAt >= from && e.requestedAt <= to).map((e) => e.id);
}

const csvRows = (text: string) => parse(text, { columns: true }) as Record<string, string>[];

describe('tcb cmb export', () => {
  it('exports exactly the seeded records of a range, in every format', async () => {
    const from = events[20]!.requestedAt;
    const to = events[59]!.requestedAt;
    const expected = idsBetween(from, to);
    expect(expected).toHaveLength(40);
    const range = ['--from', new Date(from).toISOString(), '--to', String(to)];

    const json = await h.run(['cmb', 'export', ...range, '--format', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const array = JSON.parse(json.stdout) as Record<string, string>[];
    expect(array.map((r) => r.request_id)).toEqual(expected);
    expect(Object.keys(array[0]!)).toEqual([...CMB_LOG_COLUMNS]);

    const ndjson = await h.run(['cmb', 'export', ...range, '--format', 'ndjson']);
    const lines = ndjson.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(lines.map((r) => r.request_id)).toEqual(expected);

    const csv = await h.run(['cmb', 'export', ...range, '--format', 'csv']);
    expect(csv.stdout.split('\n')[0]).toBe(CMB_LOG_COLUMNS.join(','));
    expect(csvRows(csv.stdout).map((r) => r.request_id)).toEqual(expected);
    expect(csvRows(csv.stdout)).toEqual(array);

    const table = await h.run(['cmb', 'export', ...range, '--format', 'table']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('requested_at');
    const dataLines = table.stdout.split('\n').filter((l) => /^│ \d{4}-/.test(l));
    expect(dataLines).toHaveLength(40);
    // stdout is data only: nothing on stderr without a TTY.
    expect(json.stderr + csv.stderr + table.stderr).toBe('');
  });

  it('treats "No CMB found" as an empty result whatever its status: [] / header-only CSV, exit 0', async () => {
    const future = ['--from', '+1d', '--to', '+2d'];
    const json = await h.run(['cmb', 'export', ...future, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);
    const csv = await h.run(['cmb', 'export', ...future, '--format', 'csv']);
    expect(csv.stdout).toBe(`${CMB_LOG_COLUMNS.join(',')}\n`);
    const ndjson = await h.run(['cmb', 'export', ...future, '--format', 'ndjson']);
    expect(ndjson.stdout).toBe('');

    configureLogs(h.sandbox.state, { noDataStatus: 404 });
    const notFound = await h.run(['cmb', 'export', ...future, '--json'], { env: { TCB_MAX_RETRIES: '0' } });
    expect(notFound.code, notFound.stderr).toBe(0);
    expect(JSON.parse(notFound.stdout)).toEqual([]);
  });

  it('uses the answer itself when the API sends the CSV instead of a link', async () => {
    configureLogs(h.sandbox.state, { answer: 'inline-csv' });
    const from = events[3]!.requestedAt;
    const to = events[7]!.requestedAt;
    const result = await h.run(['cmb', 'export', '--from', String(from), '--to', String(to), '--json']);
    expect((JSON.parse(result.stdout) as { request_id: string }[]).map((r) => r.request_id)).toEqual(idsBetween(from, to));
  });

  it('reads a download served as JSON, and a broken one is exit 4, not a crash', async () => {
    const from = events[0]!.requestedAt;
    const to = events[5]!.requestedAt;
    const records = [{ request_id: 'r-1', client_number: '919800000001' }, { request_id: 'r-2', client_number: '919800000002' }];
    configureLogs(h.sandbox.state, { downloadOverride: { contentType: 'application/json', body: JSON.stringify(records) } });
    const json = await h.run(['cmb', 'export', '--from', String(from), '--to', String(to), '--format', 'ndjson']);
    expect(json.code).toBe(0);
    expect(json.stdout.trim().split('\n').map((l) => JSON.parse(l).request_id)).toEqual(['r-1', 'r-2']);
    configureLogs(h.sandbox.state, { downloadOverride: { contentType: 'application/json', body: '[{"request_id": "r-1",' } });
    const broken = await h.run(['cmb', 'export', '--from', String(from), '--to', String(to)]);
    expect(broken.code).toBe(4);
    expect(errorEnvelope(broken.stderr).message).toContain('says it is JSON but is not');
  });

  it('guards cells that a spreadsheet would run (= + - @ tab CR) in CSV, and quotes a CR (RFC 4180); JSON keeps them as they are', async () => {
    const dangerous = ['=HYPERLINK("http://evil.example/x")', '+1+2', '-3+4', '@SUM(A1:A2)', '\t=1+1', '\r=1+1', 'plain'];
    const download = stringify(
      [CMB_LOG_COLUMNS, ...dangerous.map((value, i) => CMB_LOG_COLUMNS.map((column) => (column === 'request_id' ? `r-${i}` : column === 'cmb_config_name' ? value : '')))],
      { record_delimiter: '\r\n', quoted: true },
    );
    configureLogs(h.sandbox.state, { downloadOverride: { contentType: 'text/csv', body: download } });
    const range = ['--from', String(events[0]!.requestedAt), '--to', String(events[5]!.requestedAt)];

    const csv = await h.run(['cmb', 'export', ...range, '--format', 'csv']);
    expect(csv.code, csv.stderr).toBe(0);
    // Read as RFC 4180 readers do: an unquoted CR ends a record.
    const parsed = parse(csv.stdout, { columns: true, record_delimiter: ['\r\n', '\n', '\r'] }) as Record<string, string>[];
    expect(parsed.map((r) => [r.request_id, r.cmb_config_name])).toEqual([
      ['r-0', `'=HYPERLINK("http://evil.example/x")`],
      ['r-1', "'+1+2"],
      ['r-2', "'-3+4"],
      ['r-3', "'@SUM(A1:A2)"],
      ['r-4', "'\t=1+1"],
      ['r-5', "'\r=1+1"],
      ['r-6', 'plain'],
    ]);

    const json = await h.run(['cmb', 'export', ...range, '--json']);
    expect((JSON.parse(json.stdout) as { cmb_config_name: string }[]).map((r) => r.cmb_config_name)).toEqual(dangerous);
  });

  it('sends seconds with --time-unit s', async () => {
    const before = h.sandbox.counters().extra.logQueriesInSeconds ?? 0;
    const from = events[30]!.requestedAt;
    const to = events[35]!.requestedAt;
    const result = await h.run(['cmb', 'export', '--from', String(from), '--to', String(to), '--time-unit', 's', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(h.sandbox.counters().extra.logQueriesInSeconds).toBe(before + 2);
    // The events sit on whole seconds, so the same records come back.
    expect((JSON.parse(result.stdout) as { request_id: string }[]).map((r) => r.request_id)).toEqual(idsBetween(from, to));
  });

  it('sends the bearer token to a download on the API host, and never to another host', async () => {
    const range = ['--from', String(events[0]!.requestedAt), '--to', String(events[9]!.requestedAt), '--json'];
    const sameHostBefore = h.sandbox.counters().extra.logDownloadsWithAuthorization ?? 0;
    const otherHostBefore = storage.counters().extra.logDownloads ?? 0;
    const same = await h.run(['cmb', 'export', ...range]);
    expect(JSON.parse(same.stdout)).toHaveLength(10);
    // Control: the counter sees an Authorization header when one is sent.
    expect(h.sandbox.counters().extra.logDownloadsWithAuthorization).toBe(sameHostBefore + 1);

    serveLogDownloadsFrom(h.sandbox, storage);
    const other = await h.run(['cmb', 'export', ...range]);
    expect(other.code, other.stderr).toBe(0);
    expect(JSON.parse(other.stdout)).toHaveLength(10);
    expect(storage.counters().extra.logDownloads).toBe(otherHostBefore + 1);
    expect(storage.counters().extra.logDownloadsWithAuthorization ?? 0).toBe(0);
  });

  it('writes --output atomically: no temporary file left, and an existing file survives a failed run unchanged', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'cmb-2026.csv');
      const from = events[0]!.requestedAt;
      const to = events[49]!.requestedAt;
      const result = await h.run(['cmb', 'export', '--from', String(from), '--to', String(to), '--output', file]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe('');
      // csv from the extension.
      expect(csvRows(readFileSync(file, 'utf8')).map((r) => r.request_id)).toEqual(idsBetween(from, to));
      expect(readdirSync(dir)).toEqual(['cmb-2026.csv']);

      // A download that breaks after rows have been written leaves the existing file as it was.
      const before = readFileSync(file, 'utf8');
      const broken: Server = createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/csv' });
        const rows = Array.from({ length: 2000 }, (_, i) => `id-${i},2026-05-01T00:00:00Z,91,fs,91,NA,NA,,,false,,CMBName`);
        res.write(`${CMB_LOG_COLUMNS.join(',')}\n${rows.join('\n')}\n`, () => res.socket!.end());
      });
      await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
      try {
        configureLogs(h.sandbox.state, { downloadHost: { url: `http://127.0.0.1:${(broken.address() as AddressInfo).port}`, state: storage.state } });
        const failedRun = await h.run(['cmb', 'export', '--from', String(from), '--to', String(to), '--output', file]);
        expect(failedRun.code, failedRun.stderr).toBe(5);
      } finally {
        configureLogs(h.sandbox.state, { downloadHost: undefined });
        broken.closeAllConnections();
        broken.close();
      }
      expect(readFileSync(file, 'utf8')).toBe(before);
      expect(readdirSync(dir)).toEqual(['cmb-2026.csv']);

      // A failed download leaves no file at all.
      const failed = path.join(dir, 'failed.csv');
      h.sandbox.inject({ endpoint: 'logs-download', status: 404 });
      const refused = await h.run(['cmb', 'export', '--from', String(from), '--to', String(to), '--output', failed]);
      expect(refused.code).toBe(4);
      expect(errorEnvelope(refused.stderr).message).toMatch(/download was refused \(HTTP 404\)/);
      expect(readdirSync(dir)).toEqual(['cmb-2026.csv']);
    } finally {
      cleanup();
    }
  });

  it('an interrupted run leaves no file and does not move the --since-last cursor', async () => {
    // A download host that sends part of a big file and then stalls.
    const stall: Server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/csv' });
      res.write(`${CMB_LOG_COLUMNS.join(',')}\n`);
      for (let i = 0; i < 3000; i += 1) res.write(`id-${i},2026-05-01T00:00:00Z,91,fs,91,NA,NA,,,false,,CMBName\n`);
    });
    await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
    const stallUrl = `http://127.0.0.1:${(stall.address() as AddressInfo).port}`;
    configureLogs(h.sandbox.state, { downloadHost: { url: stallUrl, state: storage.state } });
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'out.csv');
    try {
      const child = spawn(
        process.execPath,
        [BIN, 'cmb', 'export', '--from', String(events[0]!.requestedAt), '--to', String(events[9]!.requestedAt), '--since-last', '--output', file],
        { cwd: ROOT, env: baseEnv(h.env), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      // Once rows have reached the temporary file, Ctrl-C.
      const temp = await whenInDirectory(dir, () =>
        readdirSync(dir).find((name) => name.endsWith('.tmp') && statSync(path.join(dir, name)).size > 0),
      );
      expect(temp, stderr).toMatch(/^\.out\.csv\.\d+\.[0-9a-f]{8}\.tmp$/);
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(readdirSync(dir)).toEqual([]);
      expect(existsSync(path.join(h.configDir, 'export-state.json'))).toBe(false);
    } finally {
      stall.closeAllConnections();
      stall.close();
      cleanup();
    }
  });

  it('--since-last exports each record exactly once, boundary records included', async () => {
    expect.hasAssertions();
    const { dir, cleanup } = tempDir();
    const env = { TCB_CONFIG_DIR: dir };
    const ids = async (args: string[]) => {
      const result = await h.run(['cmb', 'export', '--since-last', '--json', ...args], { env });
      expect(result.code, result.stderr).toBe(0);
      return (JSON.parse(result.stdout) as { request_id: string }[]).map((r) => r.request_id);
    };
    try {
      const start = events[100]!.requestedAt;
      // Run 1 stops exactly on a record; the sandbox's ranges are inclusive, so run 2 is served it again.
      const edge = events[110]!;
      const run1 = await ids(['--from', String(start), '--to', String(edge.requestedAt)]);
      expect(run1).toEqual(idsBetween(start, edge.requestedAt));
      expect(run1).toContain(edge.id);
      const stateFile = path.join(dir, 'export-state.json');
      expect(statSync(stateFile).mode & 0o777).toBe(0o600);

      const run2 = await ids(['--to', String(events[120]!.requestedAt)]);
      expect(run2).not.toContain(edge.id);
      expect(run2).toEqual(idsBetween(edge.requestedAt + 1, events[120]!.requestedAt));

      const run3 = await ids([]);
      const run4 = await ids([]);
      expect(run4).toEqual([]);

      // A record that arrives after the last run is exported by the next one, once.
      const late: CmbLogEvent = { ...events[0]!, id: 'late-arrival-0001', requestedAt: Date.now() };
      events.push(late);
      const run5 = await ids([]);
      const run6 = await ids([]);
      events.splice(events.indexOf(late), 1);
      expect(run5).toEqual(['late-arrival-0001']);
      expect(run6).toEqual([]);

      const all = [...run1, ...run2, ...run3, ...run5];
      expect(new Set(all).size).toBe(all.length);
      expect(all).toEqual([...events.filter((e) => e.requestedAt >= start).map((e) => e.id), 'late-arrival-0001']);
    } finally {
      cleanup();
    }
  });

  it('maps failures to exit codes; a 403 names the access level', async () => {
    h.sandbox.state.apiKeys.push({
      keyId: 'e2e-no-logs-key',
      apiKey: 'e2e-no-logs-secret',
      clientAccountId: h.sandbox.credentials.clientAccountId,
      name: 'no log access',
      access: new Set(['labels']),
    });
    const forbidden = await h.run(['cmb', 'export', '--from', '-1d'], {
      env: { TCB_KEY_ID: 'e2e-no-logs-key', TCB_API_KEY: 'e2e-no-logs-secret' },
    });
    expect(forbidden.code).toBe(3);
    expect(errorEnvelope(forbidden.stderr).hint).toMatch(/Call Me Back access level/);

    h.sandbox.inject({ endpoint: 'cmb-logs-v1', status: 500, count: 2 });
    const transient = await h.run(['cmb', 'export', '--from', '-1d'], { env: { TCB_MAX_RETRIES: '1' } });
    expect(transient.code).toBe(5);

    const usage = await h.run(['cmb', 'export', '--from', 'someday']);
    expect(usage.code).toBe(2);
    expect(errorEnvelope(usage.stderr).message).toMatch(/--from/);
  });
});

describe('tcb feedback export', () => {
  const survey = SANDBOX_SURVEYS[1]!;

  it('exports one row per question/response from --from on, and applies --to itself', async () => {
    const responses = feedbackLogEvents(h.sandbox.state).filter((e) => e.surveyId === survey.id);
    const from = responses[10]!.requestedAt;
    const to = responses[20]!.requestedAt;
    const all = await h.run(['feedback', 'export', '--survey-id', survey.id, '--from', String(from), '--format', 'csv']);
    expect(all.code, all.stderr).toBe(0);
    const rows = csvRows(all.stdout);
    expect(rows).toHaveLength((responses.length - 10) * survey.questions.length);
    // The formula-looking answer is guarded in CSV: the parsed cell starts with a quote.
    const freeText = rows.filter((r) => r.question === 'Anything else?').map((r) => r.response);
    expect(freeText).toContain(`'=HYPERLINK("http://example.com")`);
    expect(freeText.filter((answer) => /^[=+\-@\t\r]/.test(answer!))).toEqual([]);

    const bounded = await h.run(['feedback', 'export', '--survey-id', survey.id, '--from', String(from), '--to', String(to), '--json']);
    const ids = new Set((JSON.parse(bounded.stdout) as { response_id: string }[]).map((r) => r.response_id));
    expect([...ids]).toEqual(responses.slice(10, 20).map((r) => r.id));
  });

  it('needs --survey-id, and an unknown survey is exit 4', async () => {
    expect((await h.run(['feedback', 'export', '--from', '-1d'])).code).toBe(2);
    const unknown = await h.run(['feedback', 'export', '--survey-id', '00000000-0000-4000-8000-000000000000', '--from', '-1d']);
    expect(unknown.code).toBe(4);
  });

  it('--since-last: the second run exports nothing new', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const args = ['feedback', 'export', '--survey-id', survey.id, '--since-last', '--json'];
      const first = await h.run([...args, '--from', '-3d'], { env: { TCB_CONFIG_DIR: dir } });
      expect(JSON.parse(first.stdout).length).toBeGreaterThan(0);
      const second = await h.run(args, { env: { TCB_CONFIG_DIR: dir } });
      expect(second.code, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout)).toEqual([]);
    } finally {
      cleanup();
    }
  });
});

describe('--source webhook', () => {
  const fixture = (name: string) => readFileSync(path.join(ROOT, 'test', 'fixtures', 'api', name), 'utf8');
  const toStore = (body: string) => {
    const classified = classifyDelivery(Buffer.from(body));
    if (!classified.ok) throw new Error(classified.reason);
    return classified.record;
  };

  it('exports stored events like the logs, and --since-last follows the insertion order', async () => {
    const { dir, cleanup } = tempDir();
    const file = path.join(dir, 'events.sqlite');
    try {
      const store = openWebhookStore(file);
      store.insertBatch(
        ['webhook.cmb.slot-picker-happy-flow.json', 'webhook.cmb.sim-info-unavailable.json', 'webhook.cmb.not-interested.json', 'webhook.user-feedback.json'].map(
          (name) => toStore(fixture(name)),
        ),
      );
      store.close();

      const cmb = await h.run(['cmb', 'export', '--source', 'webhook', '--store', file, '--format', 'csv']);
      expect(cmb.code, cmb.stderr).toBe(0);
      const rows = csvRows(cmb.stdout);
      expect(rows.map((r) => r.event_id).sort()).toEqual(
        ['860a7f4c-6545-40f1-85be-3655edde650f', '119be0c3-d23f-4728-8e42-d936c2e8dad6', '17c023e6-444c-4938-b09f-69b31aa2e55a'].sort(),
      );
      const feedback = await h.run(['feedback', 'export', '--source', 'webhook', '--store', file, '--json']);
      expect((JSON.parse(feedback.stdout) as { question: string }[]).map((r) => r.question)).toEqual([
        'How was the delivery experience?',
        'Flower Quality?',
      ]);

      // Time range on created_at (2025-07-31T07:09:20Z .. 2025-07-31T07:09:33Z).
      const ranged = await h.run(['cmb', 'export', '--source', 'webhook', '--store', file, '--from', '1753945760000', '--to', '1753945770000', '--json']);
      expect((JSON.parse(ranged.stdout) as { event_id: string }[]).map((r) => r.event_id)).toEqual(['860a7f4c-6545-40f1-85be-3655edde650f']);

      const since = ['cmb', 'export', '--source', 'webhook', '--store', file, '--since-last', '--json'];
      const first = await h.run(since);
      expect(JSON.parse(first.stdout)).toHaveLength(3);
      expect(JSON.parse((await h.run(since)).stdout)).toEqual([]);

      // A late delivery with an old created_at is still exported by the next run.
      const late = JSON.parse(fixture('webhook.cmb.not-interested.json'));
      late.event_id = '0b8f1f0e-0000-4000-8000-00000000late';
      late.created_at = '1700000000';
      const writer = openWebhookStore(file);
      writer.insertBatch([toStore(JSON.stringify(late))]);
      writer.close();
      const third = await h.run(since);
      expect((JSON.parse(third.stdout) as { event_id: string }[]).map((r) => r.event_id)).toEqual([late.event_id]);
    } finally {
      cleanup();
    }
  });

  it('rejects --store without --source webhook, and a missing store is exit 2', async () => {
    expect((await h.run(['cmb', 'export', '--from', '-1d', '--store', 'x.sqlite'])).code).toBe(2);
    expect((await h.run(['cmb', 'export', '--source', 'webhook', '--store', '/nonexistent/x.sqlite'])).code).toBe(2);
  });
});
