import path from 'node:path';
import { UsageError } from '../../errors.js';
import type { EventReader, EventSink } from './store-types.js';

/**
 * Opens a store by its --store value. A path is an SQLite file; a postgres:// or postgresql:// URL
 * is a PostgreSQL database (never taken for a file name). Each kind's driver is imported only here,
 * when it is used.
 */
export function isDatabaseUrl(location: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(location.trim());
}

function unsupported(location: string): UsageError {
  return new UsageError('PostgreSQL stores are not supported by this build of tcb', {
    field: '--store',
    hint: 'pass a file path for an SQLite store',
    details: { scheme: location.split(':')[0] },
  });
}

/**
 * The listener's store, ready to write: refuses (exit 2, naming the store) one it cannot write,
 * before the listener says it is ready.
 */
export async function openEventSink(location: string): Promise<EventSink> {
  if (isDatabaseUrl(location)) throw unsupported(location);
  const { SqliteSink } = await import('./sqlite-sink.js');
  const sink = await SqliteSink.open(path.resolve(location));
  const check = await sink.checkWritable();
  if (!check.ok) {
    await sink.close();
    throw new UsageError(`cannot write to the webhook store ${sink.location}: ${check.reason}`, {
      field: '--store',
      hint: 'the listener needs write access to the file and its folder (SQLite adds -wal and -shm files next to it)',
    });
  }
  return sink;
}

/** The exports' reader; never writes. */
export async function openEventReader(location: string): Promise<EventReader> {
  if (isDatabaseUrl(location)) throw unsupported(location);
  const { sqliteEventReader } = await import('./store.js');
  return sqliteEventReader(path.resolve(location));
}
