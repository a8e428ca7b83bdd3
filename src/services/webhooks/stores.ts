import { UsageError } from '../../errors.js';
import { redactor } from '../../output/redact.js';
import type { PgStoreOptions } from './pg-store.js';
import { looksLikeUrl, parseStoreLocation, type StoreLocation } from './store-location.js';
import type { EventReader, EventSink } from './store-types.js';

/**
 * Opens a store by its --store value. A path is an SQLite file; a postgres:// or postgresql:// URL
 * is a PostgreSQL database (completed from the PG* variables; never taken for a file name). Each
 * kind's driver is imported only here, when it is used.
 */
export function isDatabaseUrl(location: string): boolean {
  return looksLikeUrl(location);
}

/**
 * Parses --store and registers the password (in every form it could be printed in) with the
 * redactor before anything can print it. Use `display` wherever the store is shown.
 */
export function resolveStoreLocation(value: string, env: Record<string, string | undefined> = process.env, flag = '--store'): StoreLocation {
  const location = parseStoreLocation(value, { env, flag });
  if (location.kind === 'postgres') for (const secret of location.secrets) redactor.addSecret(secret);
  return location;
}

function asLocation(location: string | StoreLocation): StoreLocation {
  return typeof location === 'string' ? resolveStoreLocation(location) : location;
}

export interface OpenSinkOptions {
  /** PostgreSQL: told when the database becomes unreachable and when it answers again. */
  onStateChange?: PgStoreOptions['onStateChange'];
}

/**
 * The listener's store, ready to write: refuses (exit 2, naming the store) one it cannot write,
 * before the listener says it is ready.
 */
export async function openEventSink(location: string | StoreLocation, options: OpenSinkOptions = {}): Promise<EventSink> {
  const resolved = asLocation(location);
  if (resolved.kind === 'postgres') {
    const { PostgresSink } = await import('./pg-store.js');
    return PostgresSink.open(resolved, { onStateChange: options.onStateChange });
  }
  const { SqliteSink } = await import('./sqlite-sink.js');
  const sink = await SqliteSink.open(resolved.file);
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
export async function openEventReader(location: string | StoreLocation): Promise<EventReader> {
  const resolved = asLocation(location);
  if (resolved.kind === 'postgres') {
    const { PostgresReader } = await import('./pg-store.js');
    return PostgresReader.open(resolved);
  }
  const { sqliteEventReader } = await import('./store.js');
  return sqliteEventReader(resolved.file);
}
