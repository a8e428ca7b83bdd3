/**
 * Files the user names as input (an upload CSV, a numbers file, a journal): a failure to read one
 * is the user's to fix, so it becomes a usage error (exit 2) naming the path, never a "bug".
 * Also: telling a text file from UTF-16 text or a binary file by its first bytes.
 */
import { UsageError } from '../errors.js';

/** Plain words for the file-system errors a path given on the command line can run into. */
const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ELOOP: 'too many levels of symbolic links, a loop?',
  ENAMETOOLONG: 'the name is too long',
  ENXIO: 'no such device or address (a socket?)',
  ENODEV: 'no such device',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  EBUSY: 'the file is busy',
  ETXTBSY: 'the file is busy',
  EAGAIN: 'the file is not ready to be read',
  EINVAL: 'the file cannot be read this way',
  ESTALE: 'stale file handle (network file system)',
};

/**
 * A file-system error on an input path as a usage error naming it (`cannot read --file x: …`), or
 * the error unchanged when it is not a file-system error. `label` is how to name the path: the
 * path itself, or the flag and path.
 */
export function inputFileError(error: unknown, label: string, extra: { field?: string; hint?: string } = {}): unknown {
  if (error instanceof UsageError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return error;
  const reason = REASONS[code] ?? (error as Error).message.replace(/^[A-Z0-9]+:\s*/, '').replace(/, \w+ '.*'$/, '');
  return new UsageError(`cannot read ${shortened(label)}: ${reason} (${code})`, { ...extra, cause: error });
}

/** A name of at most ~240 characters: an over-long path keeps its start and its end. */
function shortened(label: string): string {
  return label.length <= 240 ? label : `${label.slice(0, 120)}…${label.slice(-119)}`;
}

/** How many first bytes the sniffing looks at. */
export const SNIFF_BYTES = 4096;

/**
 * What the first bytes of a file say it is, when that is not UTF-8 (or ASCII) text: UTF-16 or
 * UTF-32 (with or without a byte-order mark), or binary (many NULs, control bytes or bytes that
 * are not UTF-8). undefined for text; a UTF-8 BOM is text.
 */
export function nonTextKind(head: Uint8Array): string | undefined {
  const b = head.subarray(0, SNIFF_BYTES);
  if (b.length >= 4 && b[0] === 0 && b[1] === 0 && b[2] === 0xfe && b[3] === 0xff) return 'UTF-32 text';
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xfe && b[2] === 0 && b[3] === 0) return 'UTF-32 text';
  if (b.length >= 2 && b[0] === 0xfe && b[1] === 0xff) return 'UTF-16 (big-endian) text';
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0xfe) return 'UTF-16 (little-endian) text';
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < b.length; i += 1) {
    if (b[i] === 0) {
      if (i % 2 === 0) evenNul += 1;
      else oddNul += 1;
    }
  }
  // ASCII in UTF-16 puts a NUL in every other byte: odd positions for little-endian, even for big.
  const pairs = Math.floor(b.length / 2);
  if (pairs > 0 && oddNul >= pairs * 0.3 && evenNul <= pairs * 0.02) return 'UTF-16 (little-endian) text without a byte-order mark';
  if (pairs > 0 && evenNul >= pairs * 0.3 && oddNul <= pairs * 0.02) return 'UTF-16 (big-endian) text without a byte-order mark';
  // A stray NUL or a few bytes that are not UTF-8 are the text's problem, reported at their line;
  // many of them (executables, compressed or random data) make it a binary file.
  const nul = evenNul + oddNul;
  if ((nul >= 8 && nul > b.length / 100) || unlikelyTextBytes(b) > b.length * 0.3) return 'not a text file (binary data)';
  return undefined;
}

/** Control bytes other than tab, line breaks and ESC, plus bytes that break UTF-8 sequences. */
function unlikelyTextBytes(b: Uint8Array): number {
  let count = 0;
  let i = 0;
  while (i < b.length) {
    const byte = b[i]!;
    if (byte < 0x80) {
      if (byte < 0x20 && byte !== 9 && byte !== 10 && byte !== 11 && byte !== 12 && byte !== 13 && byte !== 27) count += 1;
      i += 1;
      continue;
    }
    const length = byte >= 0xc2 && byte <= 0xdf ? 2 : byte >= 0xe0 && byte <= 0xef ? 3 : byte >= 0xf0 && byte <= 0xf4 ? 4 : 0;
    if (length === 0) {
      count += 1;
      i += 1;
      continue;
    }
    if (i + length > b.length) break; // cut off by the end of the sample
    let ok = true;
    for (let k = 1; k < length; k += 1) if ((b[i + k]! & 0xc0) !== 0x80) ok = false;
    if (ok) i += length;
    else {
      count += 1;
      i += 1;
    }
  }
  return count;
}

/** The usage error for a file nonTextKind recognised. */
export function nonTextError(label: string, kind: string, expected: string): UsageError {
  if (kind.startsWith('not a text file')) {
    return new UsageError(`${label} is ${kind}; expected ${expected}`, { hint: 'check the file name: this looks like a binary file' });
  }
  return new UsageError(`${label} is ${kind}, not UTF-8; expected ${expected}`, {
    hint: 'save it as UTF-8 (in Excel: "CSV UTF-8"), e.g. iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8.csv',
  });
}
