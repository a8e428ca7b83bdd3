import path from 'node:path';
import { createHash } from 'node:crypto';
import lockfile from 'proper-lockfile';
import { ensurePrivateDir, readJsonFile, writePrivateJson } from '../../auth/files.js';
import { TransientError } from '../../errors.js';

/**
 * --since-last state: one private (0600) JSON file in the config directory, an entry per
 * profile, export type, survey and source. An entry is written only after a run's output is
 * complete, so a failed or interrupted run is simply repeated by the next one.
 */
export const EXPORT_STATE_FILE = 'export-state.json';
const STATE_VERSION = 1;

export interface ExportStateEntry {
  profile: string;
  type: string;
  source: string;
  /** The other key parts (account, survey_id, store…), for people reading the file. */
  scope: Record<string, string>;
  /** Source-specific: {to, unit, boundary} for the API, {seq} for the webhook store. */
  cursor: unknown;
  updated_at: string;
  last_run: { records: number; skipped: number; range: string };
}

interface StateFile {
  version: number;
  exports: Record<string, ExportStateEntry>;
}

/** The entry's key: readable, stable, one per profile/type/source/scope. */
export function exportStateKey(profile: string, type: string, source: string, scope: Record<string, string>): string {
  const parts = Object.keys(scope)
    .sort()
    .map((name) => `${name}=${scope[name]}`);
  return [`profile=${profile}`, `type=${type}`, `source=${source}`, ...parts].join(';');
}

export class ExportStateStore {
  readonly file: string;

  constructor(readonly configDir: string) {
    this.file = path.join(configDir, EXPORT_STATE_FILE);
  }

  private async read(): Promise<StateFile> {
    const data = await readJsonFile<StateFile>(this.file);
    if (!data || typeof data !== 'object' || typeof data.exports !== 'object' || data.exports === null) {
      return { version: STATE_VERSION, exports: {} };
    }
    return data;
  }

  async get(key: string): Promise<ExportStateEntry | undefined> {
    return (await this.read()).exports[key];
  }

  /** Read-modify-write under a short lock, so parallel exports of other types keep their entries. */
  async put(key: string, entry: ExportStateEntry): Promise<void> {
    await ensurePrivateDir(this.configDir);
    // proper-lockfile tracks locks per target path: each lock gets its own (never created) target.
    const target = path.join(this.configDir, 'export-state');
    const release = await lockfile.lock(target, {
      lockfilePath: `${target}.lock`,
      realpath: false,
      stale: 15_000,
      retries: { retries: 200, factor: 1.2, minTimeout: 20, maxTimeout: 250, randomize: true },
    });
    try {
      const data = await this.read();
      data.version = STATE_VERSION;
      data.exports[key] = entry;
      await writePrivateJson(this.file, data);
    } finally {
      await release();
    }
  }

  /**
   * Held for a whole --since-last run: two overlapping runs of the same export (a slow cron job
   * and the next one) would both start from the same cursor and export the same records.
   */
  async lockRun(key: string, describe: string): Promise<() => Promise<void>> {
    await ensurePrivateDir(this.configDir);
    const digest = createHash('sha256').update(key).digest('hex').slice(0, 16);
    try {
      const target = path.join(this.configDir, `export-${digest}`);
      return await lockfile.lock(target, {
        lockfilePath: `${target}.lock`,
        realpath: false,
        stale: 30_000,
        update: 10_000,
        retries: 0,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
        throw new TransientError(`another --since-last export of ${describe} is running`, {
          code: 'export_in_progress',
          hint: 'wait for it to finish; a crashed run releases the lock after 30 s',
        });
      }
      throw error;
    }
  }
}
