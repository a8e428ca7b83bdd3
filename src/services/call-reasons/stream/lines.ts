// Bytes → numbered lines, for input that arrives over time: LF or CRLF, a UTF-8 BOM dropped, and a
// cap on the length of a line so a producer that never writes a newline cannot fill the memory.
import { isUtf8 } from 'node:buffer';

export interface Line {
  /** 1-based. */
  number: number;
  text: string;
  /** Why the line cannot be read as text; `text` then holds a shortened preview. */
  problem?: 'too-long' | 'not-utf8';
}

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;
const PREVIEW_BYTES = 200;
const LF = 10;
const CR = 13;

export class LineSplitter {
  private parts: Buffer[] = [];
  private length = 0;
  private tooLong = false;
  private next = 1;

  constructor(private readonly maxBytes = DEFAULT_MAX_LINE_BYTES) {}

  /** The complete lines of this chunk (the rest waits for the next chunk). */
  push(chunk: Buffer): Line[] {
    const lines: Line[] = [];
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(LF, start);
      if (end === -1) {
        this.keep(chunk.subarray(start));
        return lines;
      }
      this.keep(chunk.subarray(start, end));
      lines.push(this.take());
      start = end + 1;
    }
  }

  /** The last line when the input ends without a newline. */
  end(): Line[] {
    return this.length > 0 || this.tooLong ? [this.take()] : [];
  }

  private keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.tooLong) return;
    if (this.length + bytes.length > this.maxBytes) {
      // Keep a preview for the report, drop the rest of the line as it comes.
      this.tooLong = true;
      this.parts = [Buffer.concat([...this.parts, bytes]).subarray(0, PREVIEW_BYTES)];
      this.length = this.parts[0]!.length;
      return;
    }
    this.parts.push(bytes);
    this.length += bytes.length;
  }

  private take(): Line {
    const number = this.next;
    this.next += 1;
    let bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.length);
    const tooLong = this.tooLong;
    this.parts = [];
    this.length = 0;
    this.tooLong = false;
    if (tooLong) return { number, text: bytes.toString('utf8'), problem: 'too-long' };
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    if (number === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    if (!isUtf8(bytes)) return { number, text: bytes.subarray(0, PREVIEW_BYTES).toString('utf8'), problem: 'not-utf8' };
    return { number, text: bytes.toString('utf8') };
  }
}
