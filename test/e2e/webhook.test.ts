import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorEnvelope, runTcb, tempDir } from '../helpers/cli.js';
import { FIXTURES, KEY, fixture, fixtureText, logSettled, post, startListener, stop, storedEvent, storedEvents, type Listener } from '../helpers/webhook.js';

/** The JSON lines a listener started with --json wrote on stderr. */
function logLines(listener: Listener): Array<Record<string, any>> {
  return listener
    .stderr()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

describe('tcb webhook listen', () => {
  const tmp = tempDir('tcb-webhook-e2e-');
  let listener: Listener;
  let storeFile: string;

  beforeAll(async () => {
    storeFile = path.join(tmp.dir, 'events.sqlite');
    listener = await startListener(storeFile, ['--verbose', '--max-body-bytes', '4096']);
  });
  afterAll(async () => {
    if (listener) await stop(listener);
    tmp.cleanup();
  });

  it('prints its URL as JSON data on stdout and answers the health check without a key', async () => {
    expect(listener.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const health = await fetch(`${listener.url}healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
  });

  it('stores every documented example payload exactly as it came', async () => {
    for (const name of FIXTURES) {
      const answer = await post(listener.hook, fixtureText(name));
      expect(answer.status, name).toBe(200);
      expect(answer.json).toEqual({ status: 'ok', event_id: fixture(name).event_id, duplicate: false });
    }
    for (const name of FIXTURES) {
      const match = storedEvent(storeFile, fixture(name).event_id);
      expect(match, name).toBeDefined();
      expect(Buffer.from(match!.body).toString('utf8')).toBe(fixtureText(name));
      expect(match!.event).toEqual(fixture(name));
      expect(match!.created_at).toBe(fixture(name).created_at);
      expect(match!.unrecognised_reason).toBeNull();
    }
  });

  it('rejects a wrong or missing key with 401 and stores nothing', async () => {
    const before = storedEvents(storeFile).length;
    const event = { ...fixture(FIXTURES[0]!), event_id: 'wrong-key-event' };
    expect((await post(`${listener.url}tcbiz-webhook?key=${KEY}x`, event)).status).toBe(401);
    expect((await post(`${listener.url}tcbiz-webhook?key=${KEY.slice(0, -1)}`, event)).status).toBe(401);
    expect((await post(`${listener.url}tcbiz-webhook`, event)).status).toBe(401);
    expect((await post(`${listener.url}tcbiz-webhook?key=`, event)).status).toBe(401);
    const after = storedEvents(storeFile);
    expect(after.length).toBe(before);
    expect(after.find((e) => e.event_id === 'wrong-key-event')).toBeUndefined();
  });

  it('answers 400 only for what cannot be stored at all: not JSON, not an object, no string event_id', async () => {
    const before = storedEvents(storeFile).length;
    const good = fixture('webhook.cmb.slot-picker-happy-flow.json');
    const cases: Array<[string | object, RegExp]> = [
      ['{not json', /not valid JSON/],
      ['', /empty/],
      ['[1,2]', /JSON object/],
      ['"text"', /JSON object/],
      [{ ...good, event_id: undefined }, /event_id is missing/],
      [{ ...good, event_id: 42 }, /event_id must be a string/],
      [{ ...good, event_id: null }, /event_id must be a string/],
    ];
    for (const [body, reason] of cases) {
      const answer = await post(listener.hook, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.json.error).toMatch(reason);
    }
    expect(storedEvents(storeFile).length).toBe(before);
  });

  it('answers 413 for a body above --max-body-bytes and stores nothing', async () => {
    const before = storedEvents(storeFile).length;
    const big = { ...fixture(FIXTURES[0]!), event_id: 'too-big', padding: 'x'.repeat(5000) };
    expect((await post(listener.hook, big)).status).toBe(413);
    // Without a Content-Length (chunked), the limit is enforced while reading.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request(listener.hook, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(JSON.stringify(big).slice(0, 3000));
      req.end(JSON.stringify(big).slice(3000));
    });
    expect(chunked).toBe(413);
    expect(storedEvents(storeFile).length).toBe(before);
  });

  it('acknowledges a redelivered event with 200 and stores it once', async () => {
    const event = { ...fixture(FIXTURES[1]!), event_id: 'redelivered-1' };
    const first = await post(listener.hook, event);
    const second = await post(listener.hook, event);
    expect(first).toMatchObject({ status: 200, json: { status: 'ok', event_id: 'redelivered-1', duplicate: false } });
    expect(second).toMatchObject({ status: 200, json: { status: 'ok', event_id: 'redelivered-1', duplicate: true } });
    expect(second.json.conflict).toBeUndefined();
    const matches = storedEvents(storeFile).filter((e) => e.event_id === 'redelivered-1');
    expect(matches).toHaveLength(1);
    expect(matches[0]!).toMatchObject({ deliveries: 2, conflicts: 0 });
  });

  it('200 parallel posts (with redeliveries among them): all acknowledged, each event stored once', async () => {
    const base = fixture('webhook.user-feedback.json');
    const ids = Array.from({ length: 150 }, (_, i) => `parallel-${i}`);
    const bodies = [...ids, ...ids.slice(0, 50)].map((id) => ({ ...base, event_id: id }));
    const answers = await Promise.all(bodies.map((body) => post(listener.hook, body)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => a.json.duplicate === false)).toHaveLength(150);
    expect(answers.filter((a) => a.json.duplicate === true)).toHaveLength(50);
    const stored = storedEvents(storeFile).filter((e) => e.event_id.startsWith('parallel-'));
    expect(stored.map((e) => e.event_id).sort()).toEqual([...ids].sort());
    expect(stored.filter((e) => e.deliveries === 2)).toHaveLength(50);
  });

  it('logs every request on stderr as JSON lines (--json), with a timestamp, never showing the key', async () => {
    await logSettled(listener);
    const lines = logLines(listener);
    const requests = lines.filter((line) => line.msg === 'request');
    expect(requests.length).toBeGreaterThan(200);
    for (const line of lines) expect(new Date(line.time).toISOString()).toBe(line.time);
    expect(requests.find((r) => r.method === 'POST' && r.status === 200)).toMatchObject({
      level: 'info',
      client: '127.0.0.1',
      method: 'POST',
      path: '/tcbiz-webhook?key=[REDACTED]',
      outcome: 'stored',
    });
    expect(typeof requests[0]!.ms).toBe('number');
    expect(requests.find((r) => r.status === 401)).toMatchObject({ outcome: 'unauthorized', event_id: null });
    expect(requests.find((r) => r.status === 400)).toMatchObject({ outcome: 'rejected', detail: expect.stringMatching(/not valid JSON/) });
    expect(requests.find((r) => r.outcome === 'duplicate')).toMatchObject({ status: 200, event_id: 'redelivered-1' });
    expect(listener.stderr()).not.toContain(KEY);
    expect(listener.stderr()).not.toContain(KEY.slice(0, -1));
    expect(listener.stdout()).not.toContain(KEY);
  });

  it('stops on SIGTERM with exit 0, the store closed and consistent', async () => {
    const result = await stop(listener);
    expect(result).toEqual({ code: 0, signal: null });
    expect(logLines(listener).map((line) => line.msg)).toContainEqual(expect.stringMatching(/^stopped; this run: \d+ stored/));
    expect(storedEvents(storeFile).length).toBe(FIXTURES.length + 1 + 150);
  });
});

describe('tcb webhook listen: durability and shutdown', () => {
  const tmp = tempDir('tcb-webhook-e2e-');
  afterAll(() => tmp.cleanup());

  it('an event acknowledged with 200 survives kill -9 and is there after a restart', async () => {
    const storeFile = path.join(tmp.dir, 'kill9.sqlite');
    const first = await startListener(storeFile);
    const event = { ...fixture('webhook.cmb.sim-info-unavailable.json'), event_id: 'survives-kill-9' };
    const answer = await post(first.hook, event);
    expect(answer.status).toBe(200);
    first.child.kill('SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });

    const second = await startListener(storeFile);
    try {
      const info = JSON.parse(second.stdout());
      expect(info.events_stored).toBe(1);
      const again = await post(second.hook, event);
      expect(again.json.duplicate).toBe(true);
    } finally {
      expect((await stop(second)).code).toBe(0);
    }
    const stored = storedEvents(storeFile);
    expect(stored.map((e) => e.event_id)).toEqual(['survives-kill-9']);
    expect(storedEvent(storeFile, 'survives-kill-9')!.event).toEqual(event);
  });

  it('SIGTERM lets an in-flight request finish (and store its event) before exiting 0', async () => {
    const storeFile = path.join(tmp.dir, 'inflight.sqlite');
    const listener = await startListener(storeFile, ['--verbose']);
    const body = JSON.stringify({ ...fixture('webhook.user-feedback.json'), event_id: 'in-flight-1' });
    const status = new Promise<number>((resolve, reject) => {
      // Expect: 100-continue: the server answers "100 Continue" once it has the headers and is
      // handling the request, so the request is known to be in flight before the signal is sent.
      const req = request(listener.hook, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.on('continue', () => {
        listener.child.kill('SIGTERM');
        // Send the body only once the listener says it is stopping.
        listener.waitForStderr(/stopping/).then(() => req.end(body), reject);
      });
      req.flushHeaders();
    });
    expect(await status).toBe(200);
    expect(await listener.exited).toEqual({ code: 0, signal: null });
    expect(storedEvents(storeFile).map((e) => e.event_id)).toEqual(['in-flight-1']);
  });

  it('without TCB_WEBHOOK_KEY and without a terminal: exit 2 naming TCB_WEBHOOK_KEY, nothing listening', async () => {
    const result = await runTcb(['webhook', 'listen', '--store', path.join(tmp.dir, 'nokey.sqlite'), '--port', '0'], {
      env: { TCB_WEBHOOK_KEY: undefined },
    });
    expect(result.code).toBe(2);
    const envelope = errorEnvelope(result.stderr);
    expect(envelope.exit_code).toBe(2);
    expect(envelope.message).toContain('TCB_WEBHOOK_KEY');
    expect(result.stdout).toBe('');
  });

  it('a key given on argv is not an option: exit 2', async () => {
    const result = await runTcb(['webhook', 'listen', '--store', path.join(tmp.dir, 'argv.sqlite'), '--port', '0', '--key', KEY], {
      env: { TCB_WEBHOOK_KEY: KEY },
    });
    expect(result.code).toBe(2);
  });
});

describe('tcb webhook test', () => {
  const tmp = tempDir('tcb-webhook-e2e-');
  let listener: Listener;
  let storeFile: string;
  beforeAll(async () => {
    storeFile = path.join(tmp.dir, 'test.sqlite');
    listener = await startListener(storeFile);
  });
  afterAll(async () => {
    if (listener) await stop(listener);
    tmp.cleanup();
  });

  it('sends each documented example with a fresh event_id; the key comes from TCB_WEBHOOK_KEY, never printed', async () => {
    const sent: Record<string, string> = {};
    for (const example of ['cmb.slot-picker-happy-flow', 'cmb.sim-info-unavailable', 'cmb.not-interested', 'user-feedback']) {
      const result = await runTcb(['webhook', 'test', '--url', `${listener.url}tcbiz-webhook`, '--example', example, '--json'], {
        env: { TCB_WEBHOOK_KEY: KEY },
      });
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout);
      expect(report).toMatchObject({ status: 200, ok: true, example, response: { status: 'ok', duplicate: false } });
      expect(typeof report.latency_ms).toBe('number');
      expect(report.url).toBe(`${listener.url}tcbiz-webhook?key=[REDACTED]`);
      expect(result.stdout + result.stderr).not.toContain(KEY);
      sent[example] = report.event_id;
    }
    const docs: Record<string, string> = {
      'cmb.slot-picker-happy-flow': 'webhook.cmb.slot-picker-happy-flow.json',
      'cmb.sim-info-unavailable': 'webhook.cmb.sim-info-unavailable.json',
      'cmb.not-interested': 'webhook.cmb.not-interested.json',
      'user-feedback': 'webhook.user-feedback.json',
    };
    for (const [example, id] of Object.entries(sent)) {
      const event = storedEvent(storeFile, id)!.event;
      const doc = fixture(docs[example]!);
      expect(id).not.toBe(doc.event_id);
      expect(Number(event.created_at)).toBeGreaterThan(Number(doc.created_at));
      const payloadKey = doc.event_type === 'cmb' ? 'cmb_payload' : 'survey_payload';
      expect(Object.keys(event[payloadKey] as object)).toEqual(Object.keys(doc[payloadKey]));
      expect((event[payloadKey] as Record<string, unknown>).client_number).toBe(doc[payloadKey].client_number);
    }
  });

  it('a key in --url is refused (it would sit in argv): exit 2, nothing sent', async () => {
    const before = storedEvents(storeFile).length;
    const result = await runTcb(['webhook', 'test', '--url', `${listener.url}tcbiz-webhook?key=${KEY}`], { env: { TCB_WEBHOOK_KEY: KEY } });
    expect(result.code).toBe(2);
    expect(errorEnvelope(result.stderr).hint).toContain('TCB_WEBHOOK_KEY');
    expect(result.stderr).not.toContain(KEY);
    expect(storedEvents(storeFile)).toHaveLength(before);
  });

  it('a receiver answering 401 is exit 4 with the status reported on stdout', async () => {
    const result = await runTcb(['webhook', 'test', '--url', `${listener.url}tcbiz-webhook`, '--type', 'user_feedback'], {
      env: { TCB_WEBHOOK_KEY: 'not-the-listener-key' },
    });
    expect(result.code).toBe(4);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 401, ok: false, event_type: 'user_feedback' });
    expect(errorEnvelope(result.stderr).http_status).toBe(401);
  });

  it('an unreachable receiver is exit 5; a bad URL is exit 2', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createNetServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const unreachable = await runTcb(['webhook', 'test', '--url', `http://127.0.0.1:${closedPort}/hook`]);
    expect(unreachable.code, unreachable.stderr).toBe(5);
    const bad = await runTcb(['webhook', 'test', '--url', 'not a url']);
    expect(bad.code).toBe(2);
    const mismatch = await runTcb(['webhook', 'test', '--url', listener.url, '--type', 'cmb', '--example', 'user-feedback']);
    expect(mismatch.code).toBe(2);
  });
});

describe('from the listener to the exports: by range, in every format', () => {
  const tmp = tempDir('tcb-webhook-e2e-');
  let listener: Listener;
  let storeFile: string;
  const env = () => ({ TCB_CONFIG_DIR: path.join(tmp.dir, 'config') });
  const T0 = 1_760_000_000; // epoch seconds
  const cmbIds = ['range-cmb-0', 'range-cmb-1', 'range-cmb-2', 'range-cmb-3'];
  const export_ = (noun: 'cmb' | 'feedback', extra: string[]) =>
    runTcb([noun, 'export', '--source', 'webhook', '--store', storeFile, '--from', String((T0 + 50) * 1000), '--to', String((T0 + 250) * 1000), ...extra], {
      env: env(),
    });

  beforeAll(async () => {
    storeFile = path.join(tmp.dir, 'range.sqlite');
    listener = await startListener(storeFile);
    const cmb = fixture('webhook.cmb.sim-info-unavailable.json');
    const feedback = fixture('webhook.user-feedback.json');
    // created_at T0, T0+100, T0+200, T0+300: the range [T0+50, T0+250) holds the middle two.
    for (const [i, id] of cmbIds.entries()) {
      expect((await post(listener.hook, { ...cmb, event_id: id, created_at: String(T0 + i * 100) })).status).toBe(200);
      expect((await post(listener.hook, { ...feedback, event_id: `range-fb-${i}`, created_at: String(T0 + i * 100) })).status).toBe(200);
    }
  });
  afterAll(async () => {
    if (listener) await stop(listener);
    tmp.cleanup();
  });

  // The listener keeps running: exports read the store while it is open for writing.
  it('json: the events in range, raw values with ISO times next to them', async () => {
    const result = await export_('cmb', ['--format', 'json']);
    expect(result.code, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout);
    expect(rows.map((r: { event_id: string }) => r.event_id)).toEqual(['range-cmb-1', 'range-cmb-2']);
    expect(rows[0]).toMatchObject({
      created_at: String(T0 + 100),
      created_at_iso: new Date((T0 + 100) * 1000).toISOString(),
      client_number: 'Phone number not available',
      preferred_from_time: '1754031600',
      preferred_from_time_iso: '2025-08-01T07:00:00.000Z',
      deliveries: 1,
    });
  });

  it('ndjson and csv: one feedback record per question/response pair', async () => {
    const ndjson = await export_('feedback', ['--format', 'ndjson']);
    expect(ndjson.code, ndjson.stderr).toBe(0);
    const rows = ndjson.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(rows.map((r) => `${r.event_id}#${r.response_index}`)).toEqual(['range-fb-1#1', 'range-fb-1#2', 'range-fb-2#1', 'range-fb-2#2']);
    expect(rows[1]).toMatchObject({ question: 'Flower Quality?', response: 'Good' });

    const csv = await export_('feedback', ['--format', 'csv']);
    expect(csv.code, csv.stderr).toBe(0);
    const lines = csv.stdout.trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toContain('event_id,event_type,client_account_id,created_at,created_at_iso,survey_name');
    expect(lines.slice(1).every((line) => /^range-fb-[12],user_feedback,/.test(line))).toBe(true);
  });

  it('table, and --output FILE written atomically', async () => {
    const table = await export_('cmb', ['--format', 'table']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain('Phone number not available');
    expect(table.stdout.match(/Phone number not available/g)).toHaveLength(2);

    const file = path.join(tmp.dir, 'cmb.csv');
    const written = await export_('cmb', ['--output', file]);
    expect(written.code, written.stderr).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^range-cmb-1,cmb,/);
  });
});
