// Demo tour: call reasons (push, upload --wait, stream) and batch status.
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const FLOWER_ERA = '255297eb-7f13-44f9-967a-f287ff0f5025';

export async function tour({ run, say, configDir }) {
  say('Push one call reason now (real-time v2); --label is resolved through the labels API');
  await run([
    'call-reason', 'push', '--caller', '+91 12345 67890', '--receiver', '919876543210',
    '--label', 'FlowerEra', '--reason', 'Your bouquet is on its way', '--duration', '2h', '--format', 'table',
  ]);
  say('Invalid input is caught before anything is sent (exit 2, the field and flag named)');
  await run(
    ['call-reason', 'push', '--caller', '91123', '--receiver', '919876543210', '--label-id', FLOWER_ERA,
      '--reason', 'Pay <now>!', '--ends-at', '-1h'],
    { allowExit: [2] },
  );
  say('The API itself rejects a label that is not this account\'s (exit 4, field label_id)');
  await run(
    ['call-reason', 'push', '--caller', '911234567890', '--receiver', '919876543210',
      '--label-id', '00000000-0000-4000-8000-000000000001', '--duration', '1h'],
    { allowExit: [4] },
  );
  say('The deprecated v1 endpoint: its batch id only lives in the message text, tcb extracts it');
  await run([
    'call-reason', 'push', '--api', 'v1', '--caller', '911234567890', '--receiver', '919876543210',
    '--label-id', FLOWER_ERA, '--reason', 'Flower Delivery today', '--duration', '30m', '--json',
  ]);

  say('Upload a CSV (BOM, CRLF, quoted commas) and wait for every batch; receivers ending in 01-04 fail in the sandbox');
  const now = Date.now();
  const rows = ['\uFEFFcaller_number,receiver_number,starts_at,ends_at,label_id,dynamic_call_reason'];
  const suffixes = ['55', '01', '56', '57', '02', '58', '59', '60', '03', '61', '62', '63'];
  for (const [i, suffix] of suffixes.entries()) {
    const receiver = `9198765432${suffix}`;
    rows.push(`911234567890,${receiver},${now},${now + 2 * 3600_000},${FLOWER_ERA},"Delivery today, slot ${i + 1}"`);
  }
  const csv = path.join(configDir, 'demo-calls.csv');
  writeFileSync(csv, `${rows.join('\r\n')}\r\n`);
  await run(['call-reason', 'upload', csv, '--batch-size', '5', '--wait'], { allowExit: [0, 6] });

  say('Batch status of that upload: counts by status and reason per batch (exit 6: some records failed)');
  await run(['batch', 'status', '--upload', csv, '--format', 'table'], { allowExit: [0, 6] });
  say('The same as the API\'s own JSON objects, from the /v3 status path');
  await run(['batch', 'status', '--upload', csv, '--api-version', 'v3', '--format', 'ndjson'], { allowExit: [0, 6] });

  say('Stream NDJSON records (v2 or v1 names): one acknowledgement per batch on stdout; a bad line is reported and skipped');
  const feed = [
    `{"caller_number":"911234567890","receiver_number":"919876543270","reason":"ignored key"}`,
    `{"caller":"+91 12345 67890","receiver":"919876543271","call_reason":"Your parcel is here"}`,
    'not json',
    `{"caller_number":"911234567890","receiver_number":"919876543272","dynamic_call_reason":"Pay <now>!"}`,
    `{"caller_number":"911234567890","receiver_number":"919876543273"}`,
  ].join('\n');
  await run(['call-reason', 'stream', '--label-id', FLOWER_ERA, '--duration', '1h', '--batch-size', '2', '--max-latency', '200ms'], {
    input: `${feed}\n`,
    allowExit: [6],
  });
}
