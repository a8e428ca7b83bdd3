#!/usr/bin/env node
/**
 * npm run bench: every test/bench/<area>.mjs exports bench({ report }); figures are printed as
 * ratios against baselines measured in the same run. `npm run bench -- startup` runs one area.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const dir = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const order = ['startup'];
const areas = readdirSync(dir)
  .filter((file) => file.endsWith('.mjs') && file !== 'run.mjs')
  .map((file) => file.replace(/\.mjs$/, ''))
  .filter((name) => only.length === 0 || only.includes(name))
  .sort((a, b) => (order.indexOf(b) - order.indexOf(a)) || a.localeCompare(b));

const results = {};
function report(name, figures) {
  results[name] = figures;
  console.log(`\n## ${name}`);
  for (const [key, value] of Object.entries(figures)) console.log(`  ${key.padEnd(40)} ${value}`);
}

for (const area of areas) {
  const module = await import(pathToFileURL(path.join(dir, `${area}.mjs`)).href);
  await module.bench({ report });
}
if (process.env.BENCH_JSON) console.log(JSON.stringify(results, null, 2));
