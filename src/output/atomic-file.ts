import { randomBytes } from 'node:crypto';
import { createWriteStream, rmSync, rmdirSync, type WriteStream } from 'node:fs';
import { mkdir, rename, rm, rmdir } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { Destination } from './destination.js';

/**
 * A file that appears under its name only when complete: data goes to a temporary file in
 * the same folder (so rename is atomic) and is renamed into place by commit(). A failed commit,
 * abort(), or a signal (removePendingTempFiles) leaves nothing behind: not the temporary file,
 * and not the folders this run created for it.
 */
export interface AtomicFile {
  readonly path: string;
  readonly tempPath: string;
  readonly stream: WriteStream;
  write(text: string): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

interface Pending {
  tempPath: string;
  /** Folders created for this file, outermost first. */
  createdDirs: string[];
}

const pending = new Set<Pending>();

async function cleanUp(entry: Pending): Promise<void> {
  await rm(entry.tempPath, { force: true }).catch(() => {});
  // Only if still empty: another process may have put something there meanwhile.
  for (const dir of [...entry.createdDirs].reverse()) await rmdir(dir).catch(() => {});
  pending.delete(entry);
}

/** Temporary files still open when the process is interrupted are removed by the top level. */
export async function removePendingTempFiles(): Promise<void> {
  await Promise.all([...pending].map(cleanUp));
}

/** The same, synchronously: for the last moment before an exit that cannot wait. */
export function removePendingTempFilesSync(): void {
  for (const entry of pending) {
    rmSync(entry.tempPath, { force: true });
    for (const dir of [...entry.createdDirs].reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // not empty, or already gone
      }
    }
  }
  pending.clear();
}

// However the process ends (an error, a closed pipe, process.exit), no partial file stays behind.
process.once('exit', removePendingTempFilesSync);

/** A write failure the user can act on (disk full, folder gone …): exit 2 naming the file. */
export function fileError(error: unknown, file: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  const reasons: Record<string, string> = {
    ENOSPC: 'the disk is full',
    EDQUOT: 'the disk quota is exceeded',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'the file system is read-only',
    EISDIR: 'it is a directory',
    ENOTDIR: 'a part of the path is not a folder',
    ENOENT: 'its folder disappeared',
    EEXIST: 'a file with the temporary name exists',
  };
  if (code && reasons[code]) return new UsageError(`cannot write ${file}: ${reasons[code]}`, { cause: error });
  return error;
}

/**
 * Opens the temporary file. Give a Destination from checkDestination() (missing folders are
 * created and removed again on failure); a plain path is taken as is, its folders created.
 */
export async function openAtomicFile(target: string | Destination, mode = 0o644): Promise<AtomicFile> {
  const resolved = typeof target === 'string' ? path.resolve(target) : target.path;
  const dir = path.dirname(resolved);
  const entry: Pending = { tempPath: path.join(dir, `.${path.basename(resolved)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`), createdDirs: [] };
  pending.add(entry);
  let stream: WriteStream;
  try {
    if (typeof target === 'string') {
      // EEXIST here means a file stands where a folder of the path should be.
      await mkdir(dir, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
        throw error.code === 'EEXIST' ? Object.assign(new Error(error.message), { code: 'ENOTDIR' }) : error;
      });
    }
    for (const folder of typeof target === 'string' ? [] : target.missingDirs) {
      try {
        await mkdir(folder);
        entry.createdDirs.push(folder);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    stream = createWriteStream(entry.tempPath, { mode, flags: 'wx' });
    await once(stream, 'open');
  } catch (error) {
    await cleanUp(entry);
    throw fileError(error, resolved);
  }
  // Errors surface through write()/commit(); without a listener one would crash the process.
  let streamError: unknown;
  stream.on('error', (error) => {
    streamError ??= error;
  });
  let finished = false;
  return {
    path: resolved,
    tempPath: entry.tempPath,
    stream,
    async write(text: string) {
      if (streamError) throw fileError(streamError, resolved);
      if (!stream.write(text)) {
        await Promise.race([once(stream, 'drain'), once(stream, 'error')]);
        if (streamError) throw fileError(streamError, resolved);
      }
    },
    async commit() {
      if (finished) return;
      finished = true;
      try {
        if (streamError) throw streamError;
        await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
        await rename(entry.tempPath, resolved);
        pending.delete(entry);
      } catch (error) {
        stream.destroy();
        await cleanUp(entry);
        throw fileError(error, resolved);
      }
    },
    async abort() {
      if (finished) return;
      finished = true;
      // A write still in flight fails once the stream is gone; nobody needs that error now.
      stream.on('error', () => {});
      stream.destroy();
      await cleanUp(entry);
    },
  };
}
