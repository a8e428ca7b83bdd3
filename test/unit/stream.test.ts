// The stream service in-process: line splitting, record parsing, and the engine driven with a fake
// transport whose requests the test holds and releases (and fake timers for the latency bound).
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuthError, TransientError } from '../../src/errors.js';
import { LineSplitter } from '../../src/services/call-reasons/stream/lines.js';
import { CsvLines, parseNdjsonLine } from '../../src/services/call-reasons/stream/records.js';
import {
  CallReasonStream,
  type SendHooks,
  type StreamAck,
  type StreamOptions,
  type StreamTransport,
} from '../../src/services/call-reasons/stream/stream.js';
import type { CallReasonRecord } from '../../src/services/call-reasons/record.js';

const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';
const line = (n: number) => JSON.stringify({ caller_number: '911234567890', receiver_number: `9170${String(n).padStart(8, '0')}`, label_id: LABEL });

describe('LineSplitter', () => {
  it('splits across chunks, drops CR and a leading BOM, and ends a last line without newline', () => {
    const splitter = new LineSplitter();
    const first = splitter.push(Buffer.from('\uFEFFab\r\ncd'));
    const second = splitter.push(Buffer.from('e\n\nf'));
    expect([...first, ...second, ...splitter.end()]).toEqual([
      { number: 1, text: 'ab' },
      { number: 2, text: 'cde' },
      { number: 3, text: '' },
      { number: 4, text: 'f' },
    ]);
  });

  it('marks a line over the cap (keeping only a preview) and invalid UTF-8, and goes on', () => {
    const splitter = new LineSplitter(10);
    const lines = [
      ...splitter.push(Buffer.from('0123456789ABCDEF')),
      ...splitter.push(Buffer.from('GHIJ\nok\n')),
      ...splitter.push(Buffer.from([0xc3, 0x28, 0x0a])),
    ];
    expect(lines.map((l) => [l.number, l.problem, l.text])).toEqual([
      [1, 'too-long', '0123456789ABCDEF'],
      [2, undefined, 'ok'],
      [3, 'not-utf8', '\uFFFD('],
    ]);
  });
});

describe('parseNdjsonLine', () => {
  const at = (text: string) => parseNdjsonLine({ number: 7, text });
  it('reads v2 and v1 names, numbers as text, and ignores other keys', () => {
    expect(at('{"caller":911234567890,"receiver_number":"91 98765 43210","starts_at":1700000000000,"call_id":"x"}')).toEqual({
      line: 7,
      input: { caller_number: '911234567890', receiver_number: '91 98765 43210', starts_at: '1700000000000' },
      raw: '{"caller":911234567890,"receiver_number":"91 98765 43210","starts_at":1700000000000,"call_id":"x"}',
    });
  });
  it('blank lines are nothing; non-objects, a field twice and odd value types are errors', () => {
    expect(at('   ')).toBeUndefined();
    expect(at('[1]')).toMatchObject({ error: 'not a JSON object' });
    expect(at('{"caller":"1","caller_number":"2"}')).toMatchObject({ error: 'caller_number is given twice (with its v1 and its v2 name)' });
    expect(at('{"label_id":true}')).toMatchObject({ error: 'label_id must be a string or a number' });
    expect(at('{')).toMatchObject({ line: 7, error: expect.stringMatching(/^not JSON/) });
  });
});

describe('CsvLines', () => {
  it('joins lines while a quote is open, and rejects an unclosed quote without losing the stream', () => {
    const csv = new CsvLines({ duration_ms: 3_600_000, label_id: LABEL });
    const out = [];
    const texts = ['caller_number,receiver_number,dynamic_call_reason', '1,2,"a', 'b"', '3,4,"never closed'];
    for (let i = 0; i < 110; i += 1) texts.push(`${i},x,y`);
    texts.forEach((text, index) => out.push(...csv.push({ number: index + 1, text })));
    out.push(...csv.end());
    expect(out[0]).toMatchObject({ line: 2, input: { caller_number: '1', receiver_number: '2', dynamic_call_reason: 'a\nb' } });
    expect(out[1]).toMatchObject({ line: 4, error: 'a quoted field is not closed' });
    // Reading goes on after the broken record.
    expect(out.length).toBeGreaterThan(2);
    expect(out.at(-1)).toMatchObject({ line: 114, input: { caller_number: '109' } });
  });
});

// ---------------------------------------------------------------------------------------------
// The engine

interface Held {
  records: CallReasonRecord[];
  hooks: SendHooks;
  resolve(batchId: string): void;
  reject(error: unknown): void;
}

/** A transport whose requests wait until the test passes them through the "limiter" and answers them. */
function heldTransport() {
  const held: Held[] = [];
  const transport: StreamTransport = {
    sendBatch: (records: CallReasonRecord[], hooks) =>
      new Promise<string>((resolve, reject) => held.push({ records, hooks, resolve, reject })),
    sendRecord: (record, hooks) =>
      new Promise<void>((resolve, reject) => held.push({ records: [record], hooks, resolve: () => resolve(), reject })),
  };
  return { held, transport };
}

function engine(transport: StreamTransport, options: Partial<StreamOptions> = {}) {
  const acks: StreamAck[] = [];
  const rejects: number[] = [];
  const stream = new CallReasonStream(
    {
      mode: 'batch',
      format: 'ndjson',
      batchSize: 10,
      maxLatencyMs: 3_600_000,
      defaults: { duration_ms: 3_600_000 },
      maxInFlight: 4,
      maxBufferedRecords: 40,
      ...options,
    },
    transport,
    { ack: (ack) => acks.push(ack), reject: (r) => rejects.push(r.line) },
  );
  return { stream, acks, rejects };
}

/** Lets every promise and stream callback that is ready run (no clock involved). */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

afterEach(() => {
  vi.useRealTimers();
});

describe('CallReasonStream', () => {
  it('stops reading while a few batches wait: the source is pulled no further until requests are answered', async () => {
    let pulled = 0;
    const source = Readable.from(
      (function* () {
        // Finite, so that a stream that does not hold back fails the test instead of filling the memory.
        for (let chunk = 0; chunk < 1000; chunk += 1) {
          pulled += 1;
          yield Buffer.from(Array.from({ length: 5 }, (_, i) => `${line(chunk * 5 + i + 1)}\n`).join(''));
        }
      })(),
      { objectMode: false, highWaterMark: 1 },
    );
    const { held, transport } = heldTransport();
    const { stream, acks } = engine(transport);
    const running = stream.run(source);
    await settle();
    const first = pulled;
    await settle();
    expect(pulled).toBe(first);
    // 40 buffered + 4 × 10 in the requests at the limiter, plus what the source and the stream hold in their buffers.
    expect(stream.stats().buffered).toBeGreaterThanOrEqual(40);
    expect(stream.stats().buffered).toBeLessThan(50);
    expect(pulled * 5).toBeLessThan(40 + 40 + 30);
    expect(held).toHaveLength(4);

    // Let requests through and answer them: reading resumes.
    held[0]!.hooks.onSend();
    held[0]!.resolve('b1');
    await settle();
    expect(pulled).toBeGreaterThan(first);
    expect(acks[0]).toEqual({ status: 'accepted', batch_id: 'b1', first_line: 1, last_line: 10, records: 10 });

    stream.abandon();
    await running;
  });

  it('keeps four requests waiting for the rate limiter, and at most maxInFlight in all', async () => {
    const source = new PassThrough();
    const { held, transport } = heldTransport();
    const { stream } = engine(transport, { maxInFlight: 5, maxBufferedRecords: 1000 });
    const running = stream.run(source);
    source.write(Array.from({ length: 100 }, (_, i) => `${line(i + 1)}\n`).join(''));
    await settle();
    expect(held).toHaveLength(4);
    held[0]!.hooks.onSend();
    await settle();
    expect(held).toHaveLength(5);
    held[1]!.hooks.onSend();
    await settle();
    expect(held).toHaveLength(5);
    held[0]!.resolve('b1');
    await settle();
    expect(held).toHaveLength(6);
    stream.abandon();
    await running;
  });

  it('sends a batch once --max-latency has passed since its first record (time driven by the test)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const source = new PassThrough();
    const { held, transport } = heldTransport();
    const { stream, acks } = engine(transport, { maxLatencyMs: 2000 });
    const running = stream.run(source);
    source.write(`${line(1)}\n`);
    await settle();
    vi.advanceTimersByTime(1999);
    await settle();
    expect(held).toHaveLength(0);
    source.write(`${line(2)}\n`);
    await settle();
    vi.advanceTimersByTime(1);
    await settle();
    expect(held.map((h) => h.records.length)).toEqual([2]);
    held[0]!.hooks.onSend();
    held[0]!.resolve('b1');
    source.end();
    const result = await running;
    expect(result.end).toBe('eof');
    expect(acks).toEqual([{ status: 'accepted', batch_id: 'b1', first_line: 1, last_line: 2, records: 2 }]);
  });

  it('stop() sends what is buffered and waits for the answers', async () => {
    const source = new PassThrough();
    const { held, transport } = heldTransport();
    const { stream, acks } = engine(transport);
    const running = stream.run(source);
    source.write(`${line(1)}\n${line(2)}\n`);
    await settle();
    expect(held).toHaveLength(0);
    stream.stop();
    await settle();
    expect(held.map((h) => h.records.length)).toEqual([2]);
    held[0]!.hooks.onSend();
    held[0]!.resolve('b1');
    const result = await running;
    expect(result.end).toBe('stopped');
    expect(acks).toEqual([{ status: 'accepted', batch_id: 'b1', first_line: 1, last_line: 2, records: 2 }]);
  });

  it('abandon() reports what is on the wire as uncertain and the rest as unsent, at once', async () => {
    const source = new PassThrough();
    const { held, transport } = heldTransport();
    const { stream, acks } = engine(transport, { batchSize: 2, maxBufferedRecords: 100 });
    const running = stream.run(source);
    source.write(Array.from({ length: 7 }, (_, i) => `${line(i + 1)}\n`).join(''));
    await settle();
    held[0]!.hooks.onSend();
    await settle();
    expect(held).toHaveLength(3);
    stream.abandon();
    const result = await running;
    expect(result.end).toBe('abandoned');
    expect(acks.map((a) => ('first_line' in a ? [a.status, a.first_line, a.last_line] : []))).toEqual([
      ['uncertain', 1, 2],
      ['unsent', 3, 4],
      ['unsent', 5, 6],
      ['unsent', 7, 7],
    ]);
    // A request released after abandonment is not sent.
    expect(() => held[1]!.hooks.onSend()).toThrow(/abandoned/);
  });

  it('an authentication failure stops the stream: the batch failed, what waits unsent, reading ended', async () => {
    const source = new PassThrough();
    const { held, transport } = heldTransport();
    const { stream, acks } = engine(transport, { batchSize: 2, maxBufferedRecords: 100 });
    const running = stream.run(source);
    source.write(Array.from({ length: 5 }, (_, i) => `${line(i + 1)}\n`).join(''));
    await settle();
    held[0]!.hooks.onSend();
    held[0]!.reject(new AuthError('401 please login again'));
    const result = await running;
    expect(result.end).toBe('fatal');
    expect(result.fatal).toBeInstanceOf(AuthError);
    expect(acks.map((a) => a.status)).toEqual(['failed', 'unsent', 'unsent']);
    expect(result.stats.requests).toBe(1);
    // The request that was waiting for the rate limiter never goes out.
    expect(() => held[1]!.hooks.onSend()).toThrow(/abandoned/);
  });

  it('three unknown outcomes in a row stop the stream (exit 5), never resending them', async () => {
    const source = new PassThrough();
    const { held, transport } = heldTransport();
    const { stream, acks } = engine(transport, { batchSize: 1, maxBufferedRecords: 100 });
    const running = stream.run(source);
    source.write(Array.from({ length: 6 }, (_, i) => `${line(i + 1)}\n`).join(''));
    for (let i = 0; i < 3; i += 1) {
      await settle();
      held[i]!.hooks.onSend();
      held[i]!.reject(new TransientError('500', { details: { outcome: 'unknown' } }));
    }
    const result = await running;
    expect(result.fatal).toBeInstanceOf(TransientError);
    expect(acks.filter((a) => a.status === 'uncertain')).toHaveLength(3);
    expect(result.stats.requests).toBe(3);
    expect(acks.filter((a) => a.status === 'unsent').length).toBeGreaterThan(0);
  });

  it('requests that were out together and fail together (a burst of resets) count as one incident', async () => {
    const source = new PassThrough();
    const { held, transport } = heldTransport();
    const { stream, acks } = engine(transport, { batchSize: 1, maxBufferedRecords: 100 });
    const running = stream.run(source);
    source.write(Array.from({ length: 4 }, (_, i) => `${line(i + 1)}\n`).join(''));
    await settle();
    for (const request of held.slice(0, 4)) request.hooks.onSend();
    for (const request of held.slice(0, 3)) request.reject(new TransientError('ECONNRESET', { details: { outcome: 'unknown' } }));
    await settle();
    held[3]!.resolve('b4');
    source.end();
    const result = await running;
    expect(result.fatal).toBeUndefined();
    expect(result.end).toBe('eof');
    expect(acks.map((a) => a.status)).toEqual(['uncertain', 'uncertain', 'uncertain', 'accepted']);
  });

  it('invalid lines are reported by number and skipped; relative default times count from each record', async () => {
    const source = new PassThrough();
    const { held, transport } = heldTransport();
    let now = 1_800_000_000_000;
    const { stream, rejects } = engine(transport, { defaults: { starts_at: '+5m', duration_ms: 60_000 }, now: () => now });
    const running = stream.run(source);
    source.write(`${line(1)}\nnot json\n`);
    await settle();
    now += 86_400_000;
    source.write(`${line(3)}\n`);
    source.end();
    await settle();
    held[0]!.hooks.onSend();
    held[0]!.resolve('b');
    await running;
    expect(rejects).toEqual([2]);
    expect(held[0]!.records.map((r) => r.starts_at)).toEqual([1_800_000_000_000 + 300_000, 1_800_086_400_000 + 300_000]);
  });
});
