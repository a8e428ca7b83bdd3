import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';

/**
 * A file that appears under its name only when complete: data goes to a temporary file in
 * the same folder (so rename is atomic) and is renamed into place by commit().
 */
export interface AtomicFile {
  readonly path: string;
  readonly tempPath: string;
  readonly stream: WriteStream;
  write(text: string): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

const pending = new Set<string>();

/** Temporary files still open when the process is interrupted are removed by the top level. */
export async function removePendingTempFiles(): Promise<void> {
  await Promise.all([...pending].map((file) => rm(file, { force: true })));
  pending.clear();
}

export async function openAtomicFile(target: string, mode = 0o644): Promise<AtomicFile> {
  const resolved = path.resolve(target);
  const dir = path.dirname(resolved);
  await mkdir(dir, { recursive: true });
  const tempPath = path.join(dir, `.${path.basename(resolved)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const stream = createWriteStream(tempPath, { mode, flags: 'wx' });
  pending.add(tempPath);
  await once(stream, 'open');
  let finished = false;
  return {
    path: resolved,
    tempPath,
    stream,
    async write(text: string) {
      if (!stream.write(text)) await once(stream, 'drain');
    },
    async commit() {
      if (finished) return;
      finished = true;
      await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
      await rename(tempPath, resolved);
      pending.delete(tempPath);
    },
    async abort() {
      if (finished) return;
      finished = true;
      // A write still in flight fails once the stream is gone; nobody needs that error now.
      stream.on('error', () => {});
      stream.destroy();
      await rm(tempPath, { force: true });
      pending.delete(tempPath);
    },
  };
}
