#!/usr/bin/env node
'use strict';
// CommonJS (see bin/package.json): `tcb --version`, what scripts and shell prompts call most, is
// answered before anything else loads; the rest starts in the CommonJS entry of the bundle, which
// loads a command's ES module chunks only when it runs.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { readFileSync } = require('node:fs');
  const { version } = JSON.parse(readFileSync(require('node:path').join(__dirname, '..', 'package.json'), 'utf8'));
  process.stdout.write(`${version}\n`);
} else {
  require('../dist/main.cjs').main();
}
