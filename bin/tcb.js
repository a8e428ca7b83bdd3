#!/usr/bin/env node
'use strict';
// CommonJS (see bin/package.json), like the bundle it loads: `tcb --version`, what scripts and
// shell prompts call most, is answered before anything else loads; the bundle's entry loads a
// command's chunks only when it runs.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { readFileSync } = require('node:fs');
  const { version } = JSON.parse(readFileSync(require('node:path').join(__dirname, '..', 'package.json'), 'utf8'));
  process.stdout.write(`${version}\n`);
} else {
  // A bug's stack trace (printed with --verbose) then names src/ files and lines; reading the maps
  // costs start-up time, so only then.
  const debug = (process.env.TCB_DEBUG ?? '').toLowerCase();
  if (args.includes('--verbose') || (debug !== '' && debug !== '0' && debug !== 'false')) process.setSourceMapsEnabled(true);
  require('../dist/main.cjs').main();
}
