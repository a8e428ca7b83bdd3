import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { csvBatches } from '../../src/services/exports/csv-records.js';

async function readAll(input: Readable | string): Promise<Record<string, string>[]> {
  const rows: Record<string, string>[] = [];
  for await (const batch of csvBatches(input, 2).batches) rows.push(...batch);
  return rows;
}

describe('csvBatches', () => {
  it('reads rows in batches keyed by the header', async () => {
    expect(await readAll('a,b\r\n1,2\r\n3,4\r\n5,6\r\n')).toEqual([
      { a: '1', b: '2' },
      { a: '3', b: '4' },
      { a: '5', b: '6' },
    ]);
  });

  it('a stream that failed before it was read fails the read (instead of waiting for ever)', async () => {
    const download = new PassThrough();
    download.on('error', () => {});
    download.write('a,b\n1,2\n');
    download.destroy(new Error('terminated'));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(readAll(download)).rejects.toThrow('terminated');
  });

  it('a stream closed before its end, without an error, fails the read too', async () => {
    const download = new PassThrough();
    download.write('a,b\n1,2\n');
    download.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    await expect(readAll(download)).rejects.toThrow('the stream was closed before its end');
  });
});
