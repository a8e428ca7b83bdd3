import { describe, expect, it } from 'vitest';
import { walkPages, type Page } from '../../src/api/pagination.js';
import { parseListOptions, parsePositiveInt } from '../../src/services/catalog/listing.js';

async function collect<T>(pages: AsyncGenerator<T[]>): Promise<T[][]> {
  const out: T[][] = [];
  for await (const page of pages) out.push(page);
  return out;
}

describe('walkPages', () => {
  it('follows the page count when the envelope has one', async () => {
    const calls: number[] = [];
    const pages = await collect(
      walkPages(async (page): Promise<Page<number>> => {
        calls.push(page);
        return { items: [page], totalPages: 3, page };
      }, 1, undefined),
    );
    expect(pages).toEqual([[1], [2], [3]]);
    expect(calls).toEqual([1, 2, 3]);
  });

  it('without a count, stops at a short or empty page', async () => {
    const data = [1, 2, 3, 4, 5];
    const pages = await collect(
      walkPages(async (page): Promise<Page<number>> => ({ items: data.slice((page - 1) * 2, page * 2), page }), 1, 2),
    );
    expect(pages).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('stops when a server ignores `page` and repeats itself', async () => {
    let calls = 0;
    const pages = await collect(
      walkPages(async (page): Promise<Page<string>> => {
        calls += 1;
        if (calls > 10) throw new Error('looping');
        return { items: ['same', 'page'], page };
      }, 1, undefined),
    );
    expect(pages).toEqual([['same', 'page']]);
    expect(calls).toBe(2);
  });
});

describe('list options', () => {
  it('whole numbers of at least 1, within the safe range, naming the flag', () => {
    expect(parsePositiveInt('25', '--limit')).toBe(25);
    expect(parsePositiveInt(undefined, '--limit')).toBeUndefined();
    expect(() => parsePositiveInt('0', '--limit')).toThrow(/--limit/);
    expect(() => parsePositiveInt('2.5', '--page')).toThrow(/--page/);
    expect(() => parsePositiveInt('99999999999999999999', '--limit')).toThrow(/--limit/);
  });

  it('empty filters are refused, others become query parameters', () => {
    expect(parseListOptions({ departmentId: ' d1 ' }, { departmentId: 'department_id' }).filters).toEqual({ department_id: 'd1' });
    expect(() => parseListOptions({ departmentId: ' ' }, { departmentId: 'department_id' })).toThrow(/--department-id/);
  });
});
