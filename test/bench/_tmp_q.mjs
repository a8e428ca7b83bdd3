import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
const file = process.argv[3] ?? '/tmp/tcbx/1m.csv';
const mode = process.argv[2];
const t = performance.now();
let n = 0;
if (mode === 'api') {
  const p = parse({ bom: true, skip_empty_lines: true, relax_column_count: true });
  const api = p.api;
  const info = p.info;
  const push = (r) => { n++; if (process.env.SHOW) console.log(info.lines, info.empty_lines, JSON.stringify(r)); };
  for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
    const err = api.parse(chunk, false, push, () => {});
    if (err) throw err;
  }
  const err = api.parse(undefined, true, push, () => {});
  if (err) throw err;
}
const s = (performance.now() - t) / 1000;
console.log(mode, n, s.toFixed(2), Math.round(n / s), 'rows/s', 'rss', Math.round(process.resourceUsage().maxRSS/1024), 'MB');
