// stdin (or a pipe or device given as the file) is copied to a private temporary file first,
// because an upload reads its input twice. The copy is checked on the way, so endless or binary
// input is refused at once instead of filling the disk, and Ctrl-C stops it at once.
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InterruptedError, UsageError } from '../../../errors.js';
import { inputFileError, nonTextError, nonTextKind, SNIFF_BYTES } from '../../../util/input-file.js';
import { MAX_CSV_RECORD_BYTES, recordTooLong } from './csv-reader.js';

export interface Spool {
  file: string;
  cleanup(): void;
}

const LF = 10;
const CR = 13;

/**
 * Passes bytes through, refusing UTF-16 or binary input (from its first bytes) and any line longer
 * than a CSV record may be (a line is part of one record, so a longer line is a longer record).
 */
class SpoolCheck extends Transform {
  private held: Buffer[] | undefined = [];
  private heldBytes = 0;
  private lineBytes = 0;
  private line = 1;

  constructor(private readonly label: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      if (this.held) {
        this.held.push(chunk);
        this.heldBytes += chunk.length;
        if (this.heldBytes >= SNIFF_BYTES) this.release();
      } else this.pass(chunk);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.held) this.release();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  private release(): void {
    const held = this.held!;
    this.held = undefined;
    const kind = nonTextKind(Buffer.concat(held, Math.min(this.heldBytes, SNIFF_BYTES * 2)));
    if (kind) throw nonTextError(this.label, kind, 'a CSV file with a header row');
    for (const chunk of held) this.pass(chunk);
  }

  private pass(chunk: Buffer): void {
    let run = this.lineBytes;
    for (let i = 0; i < chunk.length; i += 1) {
      const byte = chunk[i];
      if (byte === LF || byte === CR) {
        if (byte === LF) this.line += 1;
        run = 0;
      } else if (++run > MAX_CSV_RECORD_BYTES) {
        throw recordTooLong(this.label, this.line);
      }
    }
    this.lineBytes = run;
    this.push(chunk);
  }
}

/**
 * Copies `source` (named `label` in messages) to a private temporary file. An abort of `signal`
 * (Ctrl-C, SIGTERM) stops the copy at once, even while the producer is silent, and removes it.
 */
export async function spoolInput(
  source: NodeJS.ReadableStream,
  label: string,
  signal: AbortSignal,
  note?: (message: string) => void,
): Promise<Spool> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tcb-upload-'));
  const file = path.join(dir, 'stdin.csv');
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const copying = pipeline(source, new SpoolCheck(label), createWriteStream(file, { mode: 0o600 }), { signal });
    // Said once the copy exists and is under way.
    note?.(`reading ${label} into a temporary file (an upload reads its input twice)`);
    await copying;
  } catch (error) {
    cleanup();
    if (signal.aborted) throw new InterruptedError(`interrupted while reading ${label}: nothing was sent`);
    const failedPath = (error as NodeJS.ErrnoException).path;
    if (failedPath?.startsWith(dir)) {
      throw new UsageError(`cannot copy ${label} to a temporary file in ${tmpdir()} (${(error as NodeJS.ErrnoException).code})`, {
        hint: 'set TMPDIR to a directory with space that this user can write',
        cause: error,
      });
    }
    throw inputFileError(error, label);
  }
  return { file, cleanup };
}
