import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { openWebhookStore, type EventToStore, type WebhookStore } from '../../src/services/webhooks/store.js';
import { StoreWriter } from '../../src/services/webhooks/writer.js';
import { tempDir } from '../helpers/cli.js';

const fixture = (name: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'api', name), 'utf8');
const HAPPY = fixture('webhook.cmb.slot-picker-happy-flow.json');
const SIM = fixture('webhook.cmb.sim-info-unavailable.json');
const NOT_INTERESTED = fixture('webhook.cmb.not-interested.json');
const FEEDBACK = fixture('webhook.user-feedback.json');

function record(text: string): EventToStore {
  const event = JSON.parse(text);
  return { event_id: event.event_id, event_type: event.event_type, created_at: event.created_at, body: text };
}

function cmb(id: string, createdAtSeconds: number): EventToStore {
  const event = { ...JSON.parse(HAPPY), event_id: id, created_at: String(createdAtSeconds) };
  return record(JSON.stringify(event));
}

describe('webhook store', () => {
  let dir: string;
  let cleanup: () => void;
  let file: string;
  let store: WebhookStore;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir('tcb-webhook-store-'));
    file = path.join(dir, 'sub', 'events.sqlite');
    store = openWebhookStore(file);
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  it('creates a private file in WAL mode with synchronous=FULL', () => {
    expect(existsSync(file)).toBe(true);
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o077).toBe(0);
    const raw = (store as unknown as { db: { pragma(s: string, o: object): unknown } }).db;
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.pragma('synchronous', { simple: true })).toBe(2); // 2 = FULL
  });

  it('stores each event once and counts redeliveries', () => {
    const first = store.insertBatch([record(HAPPY), record(FEEDBACK)]);
    expect(first).toEqual([
      { seq: 1, duplicate: false },
      { seq: 2, duplicate: false },
    ]);
    const again = store.insertBatch([record(HAPPY), record(SIM), record(SIM)]);
    expect(again).toEqual([
      { seq: 1, duplicate: true },
      { seq: 4, duplicate: false },
      { seq: 4, duplicate: true },
    ]);
    const all = [...store.events()];
    expect(all.map((e) => e.event_id)).toEqual([
      '860a7f4c-6545-40f1-85be-3655edde650f',
      '7719f451-5436-470a-98ba-422b997582f8',
      '119be0c3-d23f-4728-8e42-d936c2e8dad6',
    ]);
    expect(all[0]!.deliveries).toBe(2);
    expect(all[2]!.deliveries).toBe(2);
    expect(all[1]!.deliveries).toBe(1);
  });

  it('keeps the body exactly as received and parses it back', () => {
    store.insertBatch([record(SIM)], Date.UTC(2026, 0, 2, 3, 4, 5));
    const [stored] = [...store.events()];
    expect(stored).toMatchObject({
      seq: 1,
      event_id: '119be0c3-d23f-4728-8e42-d936c2e8dad6',
      event_type: 'cmb',
      created_at: '1753945773',
      received_at: '2026-01-02T03:04:05.000Z',
    });
    expect(stored!.event).toEqual(JSON.parse(SIM));
    expect(stored!.event.cmb_payload!.client_number).toBe('Phone number not available');
  });

  it('filters by type, created_at range (from inclusive, to exclusive) and afterSeq, in insertion order', () => {
    store.insertBatch([cmb('c', 3000), cmb('a', 1000), record(FEEDBACK), cmb('b', 2000)]);
    const ids = (filter: Parameters<WebhookStore['events']>[0]) => [...store.events(filter)].map((e) => e.event_id);
    expect(ids({ type: 'cmb' })).toEqual(['c', 'a', 'b']);
    expect(ids({ type: 'user_feedback' })).toEqual(['7719f451-5436-470a-98ba-422b997582f8']);
    expect(ids({ type: 'cmb', fromMs: 2_000_000 })).toEqual(['c', 'b']);
    expect(ids({ type: 'cmb', toMs: 2_000_000 })).toEqual(['a']);
    expect(ids({ type: 'cmb', fromMs: 1_000_000, toMs: 3_000_000 })).toEqual(['a', 'b']);
    expect(ids({ afterSeq: 2 })).toEqual(['7719f451-5436-470a-98ba-422b997582f8', 'b']);
    expect(ids({ type: 'cmb', limit: 2 })).toEqual(['c', 'a']);
    expect(store.lastSeq()).toBe(4);
    expect(store.lastSeq('user_feedback')).toBe(3);
    expect(store.count({ type: 'cmb' })).toBe(3);
  });

  it('iterates past one chunk without losing or repeating events', () => {
    const items = Array.from({ length: 1234 }, (_, i) => cmb(`e${i}`, 1_700_000_000 + i));
    store.insertBatch(items);
    const seen = [...store.events({ type: 'cmb' })].map((e) => e.event_id);
    expect(seen.length).toBe(1234);
    expect(new Set(seen).size).toBe(1234);
    expect(seen[0]).toBe('e0');
    expect(seen[1233]).toBe('e1233');
    expect(store.count({ fromMs: (1_700_000_000 + 1000) * 1000 })).toBe(234);
  });

  it('reads through a read-only handle while the writer is open, and after it closed', () => {
    store.insertBatch([record(HAPPY), record(NOT_INTERESTED)]);
    const reader = openWebhookStore(file, { readonly: true });
    try {
      expect([...reader.events()].length).toBe(2);
      store.insertBatch([record(FEEDBACK)]);
      expect([...reader.events({ afterSeq: 2 })].map((e) => e.event_type)).toEqual(['user_feedback']);
      expect(() => reader.insertBatch([record(SIM)])).toThrow(/read-only/);
    } finally {
      reader.close();
    }
    store.close();
    const later = openWebhookStore(file, { readonly: true });
    try {
      expect(later.count()).toBe(3);
    } finally {
      later.close();
    }
  });

  it('a read-only open of a missing or foreign file is a usage error', () => {
    expect(() => openWebhookStore(path.join(dir, 'nope.sqlite'), { readonly: true })).toThrow(UsageError);
    const foreign = path.join(dir, 'foreign.sqlite');
    writeFileSync(foreign, 'this is not sqlite at all, just some text that is long enough to matter');
    expect(() => openWebhookStore(foreign, { readonly: true })).toThrow(UsageError);
    expect(() => openWebhookStore(foreign)).toThrow(UsageError);
  });
});

describe('StoreWriter: group commit on a worker thread', () => {
  let dir: string;
  let cleanup: () => void;
  let file: string;
  let store: WebhookStore;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir('tcb-webhook-writer-'));
    file = path.join(dir, 'events.sqlite');
    store = openWebhookStore(file);
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  it('concurrent adds are committed in few transactions, each resolving after its commit', async () => {
    const writer = await StoreWriter.open(file);
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => writer.add(cmb(`g${i % 40}`, 1_753_945_760))));
      expect(results.filter((r) => !r.duplicate)).toHaveLength(40);
      expect(results.filter((r) => r.duplicate)).toHaveLength(10);
      expect(writer.stats.events).toBe(50);
      expect(writer.stats.commits).toBeLessThan(50);
      // Every resolved add is visible to another connection: it was committed before resolving.
      expect(store.count()).toBe(40);
    } finally {
      await writer.close();
    }
  });

  it('maxBatch 1 commits one event per transaction', async () => {
    const writer = await StoreWriter.open(file, 1);
    try {
      await Promise.all(Array.from({ length: 5 }, (_, i) => writer.add(cmb(`one${i}`, 1_753_945_760))));
      expect(writer.stats).toMatchObject({ commits: 5, events: 5, largestBatch: 1 });
    } finally {
      await writer.close();
    }
  });

  it('a failed transaction rejects every event of its batch and stores none of them', async () => {
    // A trigger from another connection makes any batch holding "boom" fail, like a disk error would.
    const raw = (store as unknown as { db: { exec(sql: string): void } }).db;
    raw.exec("CREATE TRIGGER fail_boom BEFORE INSERT ON events WHEN NEW.event_id = 'boom' BEGIN SELECT RAISE(ABORT, 'simulated I/O error'); END");
    const writer = await StoreWriter.open(file);
    try {
      const outcomes = await Promise.allSettled([writer.add(cmb('ok-1', 1_753_945_760)), writer.add(cmb('boom', 1)), writer.add(cmb('ok-2', 1))]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(String((outcomes[1] as PromiseRejectedResult).reason)).toContain('simulated I/O error');
      expect(store.count()).toBe(0);
      // The writer keeps working for later batches.
      await writer.add(cmb('ok-3', 1));
      expect(store.count()).toBe(1);
    } finally {
      await writer.close();
    }
  });

  it('close() commits what is queued first, then refuses new events', async () => {
    const writer = await StoreWriter.open(file);
    const pending = Array.from({ length: 20 }, (_, i) => writer.add(cmb(`late${i}`, 1)));
    await writer.close();
    expect((await Promise.all(pending)).every((r) => !r.duplicate)).toBe(true);
    expect(store.count()).toBe(20);
    await expect(writer.add(cmb('after-close', 1))).rejects.toThrow(/closing/);
    expect(writer.healthy).toBe(false);
  });
});
