// Where the stream reads from: stdin ("-"), a regular file (read to its end), or a FIFO (read
// through a non-blocking pipe handle, so a stop signal never waits on a blocked read).
import { createReadStream, fstatSync, open, statSync, type Stats } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { UsageError } from '../../../errors.js';

const openFd = promisify(open);

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

export async function openInput(file: string, stdin: Readable = process.stdin): Promise<Readable> {
  if (file === '-') return stdin;
  let stats: Stats;
  try {
    stats = statSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `${file} does not exist` : `cannot read ${file}: ${(error as Error).message}`);
  }
  if (stats.isDirectory()) throw new UsageError(`${file} is a directory; give a file, a FIFO, or - for stdin`);
  try {
    if (stats.isFIFO()) {
      // Opening a FIFO waits for its writer; the handle is then read like a pipe.
      const fd = await openFd(file, 'r');
      return new Socket({ fd, readable: true, writable: false });
    }
    const stream = createReadStream(file);
    await new Promise<void>((resolve, reject) => stream.once('open', () => resolve()).once('error', reject));
    return stream;
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/** True when writing to `path` would feed the stream its own output (the same file as the input). */
export function sameFileAsInput(path: string, file: string): boolean {
  const target = statOrNull(path);
  if (!target) return false;
  let source: Stats | null;
  if (file === '-') {
    try {
      source = fstatSync(0);
    } catch {
      return false;
    }
  } else source = statOrNull(file);
  return source !== null && source.dev === target.dev && source.ino === target.ino && target.isFile();
}
