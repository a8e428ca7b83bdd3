// --report FILE: each failed record placed on its CSV line by the fields the API returns in clear.
import type { CallRecordV2 } from '../../../api/call-reasons.js';
import { openAtomicFile } from '../../../output/atomic-file.js';
import type { Destination } from '../../../output/destination.js';
import { classifyStatus, recordStatus } from '../batch-status.js';
import { validateCallReason, type CallReasonInput } from '../record.js';
import { fillInput, readCsv, type ColumnMap } from './csv-reader.js';
import { csvRow } from './csv-writer.js';
import type { UploadOptions } from './types.js';

interface StatusRecord {
  status: string;
  reason: string | undefined;
}

/** A status record's status (lower case) and reason, v2 or v1 shape. */
export function statusOf(record: Record<string, unknown>): StatusRecord {
  const { status, reason } = recordStatus(record);
  return { status: status.toLowerCase(), reason };
}

export function isSuccess(status: string): boolean {
  return classifyStatus(status) === 'success';
}

export interface ReturnedRecord extends StatusRecord {
  raw: Record<string, unknown>;
}

export interface FailedBatch {
  batchId: string;
  /** The CSV lines the batch carried, in the order they were sent. */
  lines: number[];
  returned: ReturnedRecord[];
}

interface SentRow {
  line: number;
  fields: string[];
  /** The record as it was sent (re-validated); undefined if that can no longer be rebuilt. */
  record?: CallRecordV2;
}

function text(value: unknown): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : String(value);
}

/**
 * Could this returned status record be this sent record? The API masks the numbers and documents
 * no order, so records are matched on the fields it returns in clear; a field only one side
 * has is not compared.
 */
export function couldBe(raw: Record<string, unknown>, record: CallRecordV2 | undefined): boolean {
  if (!record) return false;
  const pairs: Array<[unknown, unknown]> = [
    [raw.starts_at, record.starts_at],
    [raw.ends_at, record.ends_at],
    [raw.label_id, record.label_id],
    [raw.dynamic_call_reason ?? raw.call_reason, record.dynamic_call_reason],
    [raw.dynamic_label_name ?? raw.label_name, record.dynamic_label_name],
  ];
  for (const [returned, sent] of [
    [raw.caller_number ?? raw.caller, record.caller_number],
    [raw.receiver_number ?? raw.receiver, record.receiver_number],
  ] as Array<[unknown, string]>) {
    const clear = text(returned)?.replace(/^\+/, '');
    if (clear && /^\d+$/.test(clear)) pairs.push([clear, sent]);
  }
  return pairs.every(([returned, sent]) => text(returned) === undefined || text(sent) === undefined || text(returned) === text(sent));
}

/**
 * Which sent row each failed status belongs to. In order when the answer lines up with what was
 * sent; otherwise by content, and a failure that fits several different rows stays unplaced
 * rather than blaming the wrong line.
 */
export function placeFailures(returned: ReturnedRecord[], rows: SentRow[]): Array<{ status: ReturnedRecord; row?: SentRow }> {
  const inOrder = returned.length === rows.length && returned.every((status, i) => couldBe(status.raw, rows[i]!.record));
  const taken = new Set<SentRow>();
  const placed: Array<{ status: ReturnedRecord; row?: SentRow }> = [];
  returned.forEach((status, i) => {
    if (isSuccess(status.status)) return;
    if (inOrder) {
      placed.push({ status, row: rows[i] });
      return;
    }
    const candidates = rows.filter((row) => !taken.has(row) && couldBe(status.raw, row.record));
    const first = candidates[0];
    const identical = first && candidates.every((row) => JSON.stringify(row.record) === JSON.stringify(first.record));
    if (first && identical) {
      taken.add(first);
      placed.push({ status, row: first });
    } else {
      placed.push({ status });
    }
  });
  return placed;
}

/**
 * The failed records with their CSV line, the reason and the row as it was in the file. The file
 * is read once more; only one batch's rows are held at a time.
 */
export async function writeReport(file: string, target: string | Destination, failedBatches: FailedBatch[], options: UploadOptions): Promise<void> {
  const batchOfLine = new Map<number, FailedBatch>();
  for (const batch of failedBatches) for (const line of batch.lines) batchOfLine.set(line, batch);
  const rowsOf = new Map<FailedBatch, SentRow[]>();
  const unplaced: string[] = [];
  const input: CallReasonInput = {};
  const out = await openAtomicFile(target);
  try {
    let buffer = '';
    let columns: ColumnMap | undefined;
    const emit = (batch: FailedBatch, rows: SentRow[]) => {
      const placed = placeFailures(batch.returned, rows);
      const byLine = placed.filter((p) => p.row).sort((a, b) => a.row!.line - b.row!.line);
      for (const { status, row } of byLine) {
        buffer += csvRow([row!.line, batch.batchId, status.status, status.reason ?? status.status, ...row!.fields]);
      }
      for (const { status, row } of placed) {
        if (!row) unplaced.push(csvRow(['', batch.batchId, status.status, status.reason ?? status.status, ...columns!.header.map(() => '')]));
      }
    };
    await readCsv(file, {
      onHeader(map) {
        columns = map;
        buffer += csvRow(['line', 'batch_id', 'status', 'reason', ...map.header]);
      },
      onRow(line, fields) {
        const batch = batchOfLine.get(line);
        if (!batch) return;
        let record: CallRecordV2 | undefined;
        if (fields.length === columns!.header.length) {
          fillInput(fields, columns!, input);
          const validated = validateCallReason(input, { now: options.now, defaults: options.defaults });
          if (validated.ok) record = validated.record as CallRecordV2;
        }
        const rows = rowsOf.get(batch) ?? [];
        rows.push({ line, fields: [...fields], record });
        rowsOf.set(batch, rows);
        if (line === batch.lines[batch.lines.length - 1]) {
          emit(batch, rows);
          rowsOf.delete(batch);
        }
      },
      async afterChunk() {
        if (buffer) await out.write(buffer);
        buffer = '';
      },
    });
    // Batches whose last line is gone from the file (it should not happen: the hash is checked).
    for (const [batch, rows] of rowsOf) emit(batch, rows);
    buffer += unplaced.join('');
    if (buffer) await out.write(buffer);
    await out.commit();
  } catch (error) {
    await out.abort();
    throw error;
  }
}

