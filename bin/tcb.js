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
  require('../dist/main.cjs').main();
}
