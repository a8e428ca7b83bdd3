// tcb batch status against the sandbox, through the built binary. Batches are created by POSTing to
// the sandbox directly, like any API client would.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errorEnvelope, startHarness, type Harness } from '../helpers/cli.js';
import { callReasonSandbox, completeBatches } from '../../src/sandbox/routes/call-reasons.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { JournalWriter, JOURNAL_VERSION, journalPath, type JournalHeader } from '../../src/services/call-reasons/upload/journal.js';
import { hashFile } from '../../src/services/call-reasons/upload/csv-reader.js';

const FLOWER_ERA = '255297eb-7f13-44f9-967a-f287ff0f5025';

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness();
  const res = await fetch(`${h.sandbox.url}/clients/${h.sandbox.credentials.clientAccountId}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Public-Access': 'allow' },
    body: JSON.stringify({ key_id: h.sandbox.credentials.keyId, api_key: h.sandbox.credentials.apiKey }),
  });
  token = ((await res.json()) as { token: string }).token;
});
afterAll(() => h.close());

const config = () => callReasonSandbox(h.sandbox.state).config;
beforeEach(() => {
  config().batchDelayMs = 0;
});

let serial = 0;
function records(suffixes: string[], v1 = false): Record<string, unknown>[] {
  const now = Date.now();
  return suffixes.map((suffix) => {
    serial += 1;
    const receiver = `9198${String(serial).padStart(6, '0')}${suffix}`;
    const reason = 'Your parcel arrives today';
    return v1
      ? { caller: '911234567890', receiver, starts_at: now, ends_at: now + 3600_000, label_id: FLOWER_ERA, call_reason: reason }
      : { caller_number: '911234567890', receiver_number: receiver, starts_at: now, ends_at: now + 3600_000, label_id: FLOWER_ERA, dynamic_call_reason: reason };
  });
}

async function createBatch(suffixes: string[], version: 'v1' | 'v2' = 'v2'): Promise<string> {
  const account = h.sandbox.credentials.clientAccountId;
  const path = version === 'v2' ? `/v2/clients/${account}/dynamic_call_records` : `/clients/${account}/dynamic_call_records`;
  const res = await fetch(`${h.sandbox.url}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ call_records: records(suffixes, version === 'v1') }),
  });
  const body = (await res.json()) as { batch_id?: string; message?: string };
  if (res.status !== 200) throw new Error(`batch not accepted: ${JSON.stringify(body)}`);
  return body.batch_id ?? /BatchID: (\S+)/.exec(body.message!)![1]!;
}

describe('batch status', () => {
  it('prints the API objects in JSON; exit 0 when every record succeeded', async () => {
    const id = await createBatch(['55', '56']);
    const res = await h.run(['batch', 'status', id]);
    expect(res.code).toBe(0);
    const body = JSON.parse(res.stdout);
    expect(body).toHaveLength(1);
    expect(body[0].batch_id).toBe(id);
    expect(body[0].client_account_id).toBe(h.sandbox.credentials.clientAccountId);
    expect(body[0].data.map((r: { status_info: { status: string } }) => r.status_info.status)).toEqual(['success', 'success']);
  });

  it('counts by status and reason in the table; exit 6 when a record failed', async () => {
    const id = await createBatch(['01', '01', '02', '55', '56', '57']);
    const res = await h.run(['batch', 'status', id, '--format', 'table']);
    expect(res.code).toBe(6);
    const rows = res.stdout.split('\n');
    expect(rows.find((r) => r.includes('success'))).toMatch(/│ 3\s+│$/);
    expect(rows.find((r) => r.includes('Not a Truecaller user'))).toMatch(/failed.*│ 2\s+│$/);
    expect(rows.find((r) => r.includes('OS not supported'))).toMatch(/│ 1\s+│$/);
    expect(errorEnvelope(res.stderr)).toMatchObject({ code: 'partial_failure', exit_code: 6 });
    expect(errorEnvelope(res.stderr).message).toMatch(/3 of 6 records failed/);
  });

  it('a pending batch without --wait: shown as pending, exit 0', async () => {
    config().batchDelayMs = 600_000;
    const id = await createBatch(['01']);
    const res = await h.run(['batch', 'status', id, '--format', 'table']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/pending/);
  });

  it('--wait polls until the batches complete', async () => {
    // The batches complete when the test says so, after the CLI has polled each of them twice.
    config().batchDelayMs = 600_000;
    const a = await createBatch(['55']);
    const b = await createBatch(['03', '55']);
    const polls = h.sandbox.counters().requests['cp-batch-v2-status'] ?? 0;
    const running = h.run(['batch', 'status', a, b, '--wait', '--interval', '1']);
    await h.sandbox.whenRequests('cp-batch-v2-status', polls + 4);
    expect(completeBatches(h.sandbox.state, Date.now(), a) + completeBatches(h.sandbox.state, Date.now(), b)).toBe(2);
    const res = await running;
    expect(res.code).toBe(6);
    const body = JSON.parse(res.stdout);
    expect(body.map((x: { batch_id: string }) => x.batch_id)).toEqual([a, b]);
    expect(body[0].data[0].status_info).toEqual({ status: 'success' });
    expect(body[1].data.map((r: { status_info: unknown }) => r.status_info)).toEqual([
      { status: 'failed', message: 'App version not supported' },
      { status: 'success' },
    ]);
  });

  it('--wait gives up at --timeout with exit 7', async () => {
    config().batchDelayMs = 600_000;
    const id = await createBatch(['55']);
    const res = await h.run(['batch', 'status', id, '--wait', '--interval', '1', '--timeout', '1', '--format', 'table']);
    expect(res.code).toBe(7);
    expect(res.stdout).toMatch(/pending/);
    const envelope = errorEnvelope(res.stderr) as ReturnType<typeof errorEnvelope> & { details?: { pending_batch_ids?: string[] } };
    expect(envelope.code).toBe('wait_timeout');
    expect(envelope.details?.pending_batch_ids).toEqual([id]);
  });

  it('--api-version v3 uses the /v3 path', async () => {
    const id = await createBatch(['55']);
    const res = await h.run(['batch', 'status', id, '--api-version', 'v3', '--verbose']);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(new RegExp(`GET \\S+/v3/clients/\\S+/dynamic_call_records\\?batchId=${id}`));
    expect(JSON.parse(res.stdout)[0].batch_id).toBe(id);
  });

  it('--api v1 reads the v1 status (bare array of records)', async () => {
    const id = await createBatch(['04', '55'], 'v1');
    const before = h.sandbox.counters().requests['cp-batch-status-v1'] ?? 0;
    const res = await h.run(['batch', 'status', id, '--api', 'v1']);
    expect(res.code).toBe(6);
    const body = JSON.parse(res.stdout);
    expect(body.map((r: { status: string }) => r.status)).toEqual(['failed', 'success']);
    expect(body[0].batch_id).toBe(id);
    expect(h.sandbox.counters().requests['cp-batch-status-v1']).toBe(before + 1);
  });

  it('csv: one row per batch, status and reason', async () => {
    const id = await createBatch(['02', '55']);
    const res = await h.run(['batch', 'status', id, '--format', 'csv']);
    expect(res.code).toBe(6);
    expect(res.stdout.trim().split(/\r?\n/)).toEqual([
      'batch_id,state,status,reason,count,first_line,last_line',
      `${id},complete,success,,1,,`,
      `${id},complete,failed,OS not supported,1,,`,
    ]);
  });

  it('an unknown batch → exit 4; no batch id → exit 2; bad flags → exit 2', async () => {
    expect((await h.run(['batch', 'status', 'no-such-batch'])).code).toBe(4);
    expect((await h.run(['batch', 'status'])).code).toBe(2);
    expect((await h.run(['batch', 'status', 'x', '--api-version', 'v9'])).code).toBe(2);
    expect((await h.run(['batch', 'status', 'x', '--wait', '--interval', 'soon'])).code).toBe(2);
  });
});

describe('batch status of an upload (--journal / --upload)', () => {
  async function writeJournal(file: string, csv: string, sha256: string, batches: { id?: string; state: 'accepted' | 'uncertain'; first: number; last: number }[]) {
    const header: JournalHeader = {
      type: 'upload',
      version: JOURNAL_VERSION,
      sha256,
      file: csv,
      size: 0,
      api: 'v2',
      base_url: h.sandbox.url,
      client_account_id: h.sandbox.credentials.clientAccountId,
      created_at: new Date().toISOString(),
    };
    const writer = await JournalWriter.open(file, header);
    writer.append({ type: 'run', run: 1, pid: process.pid, at: new Date().toISOString(), resume: false });
    batches.forEach((b, index) => {
      const base = { type: 'batch' as const, seq: index + 1, first_line: b.first, last_line: b.last, records: b.last - b.first + 1, at: new Date().toISOString() };
      writer.append({ ...base, state: 'sending' });
      writer.append({ ...base, state: b.state, ...(b.id ? { batch_id: b.id } : {}) });
    });
    writer.append({ type: 'end', run: 1, at: new Date().toISOString(), outcome: 'complete' });
    writer.close();
  }

  it('--journal FILE checks every accepted batch, with its lines', async () => {
    const a = await createBatch(['55', '56']);
    const b = await createBatch(['01', '55']);
    const file = path.join(h.configDir, 'some-journal.jsonl');
    await writeJournal(file, '/tmp/calls.csv', 'f'.repeat(64), [
      { id: a, state: 'accepted', first: 2, last: 3 },
      { id: b, state: 'accepted', first: 4, last: 5 },
      { state: 'uncertain', first: 6, last: 7 },
    ]);
    const res = await h.run(['batch', 'status', '--journal', file, '--format', 'table']);
    expect(res.code).toBe(6);
    expect(res.stdout).toContain(a);
    expect(res.stdout).toContain(b);
    expect(res.stdout).toMatch(/│ 2-3\s+│/);
    expect(res.stdout).toMatch(/│ 4-5\s+│/);
    expect(res.stdout).toContain('Not a Truecaller user');
    expect(res.stdout).toMatch(/Total \(2 batches\)/);
  });

  it('--upload FILE finds the journal of the file\'s content; --wait waits for every record', async () => {
    config().batchDelayMs = 1000;
    const csv = path.join(h.configDir, 'calls.csv');
    writeFileSync(csv, 'caller_number,receiver_number\n911234567890,919800000055\n');
    const id = await createBatch(['55']);
    const sha = await hashFile(csv);
    await writeJournal(journalPath(h.configDir, sha, h.sandbox.url, h.sandbox.credentials.clientAccountId), csv, sha, [
      { id, state: 'accepted', first: 2, last: 2 },
    ]);
    const res = await h.run(['batch', 'status', '--upload', csv, '--wait', '--interval', '1']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)[0].data[0].status_info.status).toBe('success');
  });

  it('--upload of a file never uploaded is a usage error', async () => {
    const csv = path.join(h.configDir, 'never.csv');
    writeFileSync(csv, 'caller_number\n1\n');
    const res = await h.run(['batch', 'status', '--upload', csv]);
    expect(res.code).toBe(2);
    expect(errorEnvelope(res.stderr).message).toMatch(/no upload journal/);
  });
});
