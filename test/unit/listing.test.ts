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
    const calls: number[] = [];
    const pages = await collect(
      walkPages(async (page): Promise<Page<number>> => {
        calls.push(page);
        return { items: data.slice((page - 1) * 2, page * 2), page };
      }, 1, 2),
    );
    expect(pages).toEqual([[1, 2], [3, 4], [5]]);
    // The short page is the last: no request for a page after it.
    expect(calls).toEqual([1, 2, 3]);
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
  it('starts at the page asked for and stops at the last page the envelope names', async () => {
    const calls: number[] = [];
    const pages = await collect(
      walkPages(async (page): Promise<Page<number>> => {
        calls.push(page);
        return { items: [page * 10], totalPages: 4, page };
      }, 3, 1),
    );
    expect(pages).toEqual([[30], [40]]);
    expect(calls).toEqual([3, 4]);
  });

  it('a page count of one, or a start past the count, fetches one page', async () => {
    let calls = 0;
    const one = await collect(walkPages(async (page): Promise<Page<string>> => ((calls += 1), { items: ['a', 'b'], totalPages: 1, page }), 1, 1));
    expect(one).toEqual([['a', 'b']]);
    expect(calls).toBe(1);
    const past = await collect(walkPages(async (page): Promise<Page<string>> => ({ items: [], totalPages: 2, page }), 5, undefined));
    expect(past).toEqual([]);
  });

  it('an empty page ends the walk even when the envelope promises more', async () => {
    const calls: number[] = [];
    const pages = await collect(
      walkPages(async (page): Promise<Page<number>> => {
        calls.push(page);
        if (calls.length > 5) throw new Error('looping');
        return { items: page === 1 ? [1] : [], totalPages: 9, page };
      }, 1, undefined),
    );
    expect(pages).toEqual([[1]]);
    expect(calls).toEqual([1, 2]);
  });

  it('without a count or a limit, full pages go on until an empty one', async () => {
    const data = [[1, 2], [3], [4, 5, 6], []];
    const calls: number[] = [];
    const pages = await collect(
      walkPages(async (page): Promise<Page<number>> => {
        calls.push(page);
        return { items: data[page - 1] ?? [], page };
      }, 1, undefined),
    );
    expect(pages).toEqual([[1, 2], [3], [4, 5, 6]]);
    expect(calls).toEqual([1, 2, 3, 4]);
  });

  it('a page as long as the limit asks for the next one', async () => {
    const calls: number[] = [];
    const pages = await collect(
      walkPages(async (page): Promise<Page<number>> => {
        calls.push(page);
        return { items: page < 3 ? [page, page] : [], page };
      }, 1, 2),
    );
    expect(pages).toEqual([[1, 1], [2, 2]]);
    expect(calls).toEqual([1, 2, 3]);
  });

  it('equal pages that are not consecutive are both kept', async () => {
    const data = [['x'], ['y'], ['x']];
    const pages = await collect(walkPages(async (page): Promise<Page<string>> => ({ items: data[page - 1]!, totalPages: 3, page }), 1, undefined));
    expect(pages).toEqual([['x'], ['y'], ['x']]);
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
