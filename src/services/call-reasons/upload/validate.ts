// Pass 1: every row validated (and the file hashed for the journal) before anything is sent.
import type { AtomicFile } from '../../../output/atomic-file.js';
import { openAtomicFile } from '../../../output/atomic-file.js';
import { quoteValue } from '../../../util/text.js';
import { validateCallReason, type CallReasonInput } from '../record.js';
import type { Coverage } from './batching.js';
import { BatchCounter } from './batching.js';
import { checkRequiredColumns, fillInput, readCsv, type ColumnMap } from './csv-reader.js';
import { csvRow } from './csv-writer.js';
import { SHOWN_INVALID_ROWS, type InvalidRow, type UploadEvents, type UploadOptions } from './types.js';

export interface ValidationResult {
  rows: number;
  valid: number;
  invalid: number;
  covered: number;
  toSend: number;
  batches: number;
  firstInvalid: InvalidRow[];
  sha256?: string;
  stopped: boolean;
}

export async function validationPass(
  file: string,
  size: number,
  options: UploadOptions,
  coverage: Coverage,
  events: UploadEvents,
  isInterrupted: () => boolean,
): Promise<ValidationResult> {
  const result: ValidationResult = { rows: 0, valid: 0, invalid: 0, covered: 0, toSend: 0, batches: 0, firstInvalid: [], stopped: false };
  const counter = new BatchCounter(options.batchSize);
  const input: CallReasonInput = {};
  const { now, defaults } = options;
  let columns: ColumnMap | undefined;
  let skipFile: AtomicFile | undefined;
  let skipBuffer = '';
  const coverageEmpty = coverage.empty;
  let bytesSeen = 0;
  const chunkBytes = 64 * 1024;

  const noteInvalid = (line: number, fields: string[], errors: InvalidRow['errors']) => {
    result.invalid += 1;
    if (result.firstInvalid.length < SHOWN_INVALID_ROWS) result.firstInvalid.push({ line, errors });
    if (skipFile) skipBuffer += csvRow([...fields, line, errors.map((e) => e.message).join('; ')]);
  };

  try {
    if (options.skipInvalid) skipFile = await openAtomicFile(options.destinations?.skipInvalid ?? options.skipInvalid);
    const read = await readCsv(file, {
      label: options.file === '-' ? 'stdin' : options.file,
      hash: !options.dryRun && !options.resume,
      onHeader(map) {
        columns = map;
        checkRequiredColumns(map, defaults);
        if (skipFile) skipBuffer += csvRow([...map.header, 'line', 'error']);
        if (map.ignored.length > 0) {
          const more = map.ignored.length > 10 ? ` and ${map.ignored.length - 10} more` : '';
          events.note?.(`ignoring column(s) ${map.ignored.slice(0, 10).map((c) => quoteValue(c)).join(', ')}${more}`);
        }
      },
      onRow(line, fields) {
        result.rows += 1;
        if (!coverageEmpty && coverage.covers(line)) {
          result.covered += 1;
          counter.boundary();
          return;
        }
        if (fields.length !== columns!.header.length) {
          noteInvalid(line, fields, [
            { field: 'row', message: `the row has ${fields.length} field(s); the header has ${columns!.header.length}` },
          ]);
          return;
        }
        fillInput(fields, columns!, input);
        const validated = validateCallReason(input, { now, defaults });
        if (validated.ok) {
          result.valid += 1;
          result.toSend += 1;
          counter.add();
        } else noteInvalid(line, fields, validated.errors);
      },
      async afterChunk() {
        bytesSeen += chunkBytes;
        if (skipFile && skipBuffer.length > 0) {
          await skipFile.write(skipBuffer);
          skipBuffer = '';
        }
        events.progress?.({ phase: 'validating', done: Math.min(bytesSeen, size), total: size, batchesDone: 0, batchesTotal: 0 });
      },
      shouldStop: isInterrupted,
    });
    result.stopped = read.stopped;
    result.sha256 = read.sha256;
    result.batches = counter.batches;
    if (skipFile) {
      if (skipBuffer) await skipFile.write(skipBuffer);
      if (read.stopped) await skipFile.abort();
      else await skipFile.commit();
    }
    return result;
  } catch (error) {
    await skipFile?.abort();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
