// CSV files and journals for call-reason upload tests.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { onDirectoryChange, whenInDirectory } from './watch.js';

/** FlowerEra, a seeded label of the sandbox. */
export const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';
export const HEADER = 'caller_number,receiver_number,starts_at,ends_at,label_id,dynamic_label_name,dynamic_call_reason';

/** n unique, valid rows (receiver numbers never end in 01-04, so no record fails in the sandbox). */
export function rows(n: number, offset = 0): string[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => {
    const k = offset + i;
    return `91800${String(k).padStart(7, '0')},9190${String(k).padStart(6, '0')}55,${now},${now + 3_600_000},${LABEL},Acme Bank,Your parcel ${k} is on its way`;
  });
}

export function writeCsv(dir: string, name: string, lines: string[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, [HEADER, ...lines].join('\n') + '\n');
  return file;
}

/** Every entry of every upload journal under configDir, in file order. */
export function journalEntries(configDir: string): Record<string, unknown>[] {
  const dir = path.join(configDir, 'uploads');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.jsonl'))
    .flatMap((name) =>
      readFileSync(path.join(dir, name), 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    );
}

/**
 * Resolves with the journal entries once `predicate` holds, looking again at every change in the
 * config folder or its uploads folder. A torn last line (being written) is read again next time.
 */
export function whenJournal(
  configDir: string,
  predicate: (entries: Record<string, unknown>[]) => boolean,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>[]> {
  const uploads = path.join(configDir, 'uploads');
  let stopUploads: (() => void) | undefined;
  const check = (): Record<string, unknown>[] | undefined => {
    if (!stopUploads && existsSync(uploads)) stopUploads = onDirectoryChange(uploads, recheck);
    let entries: Record<string, unknown>[];
    try {
      entries = journalEntries(configDir);
    } catch {
      return undefined; // a line half written
    }
    return predicate(entries) ? entries : undefined;
  };
  let recheck = () => {};
  const result = new Promise<Record<string, unknown>[]>((resolve, reject) => {
    recheck = () => {
      const entries = check();
      if (entries) resolve(entries);
    };
    whenInDirectory(configDir, check, timeoutMs).then(resolve, reject);
  });
  return result.finally(() => stopUploads?.());
}
