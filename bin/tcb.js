#!/usr/bin/env node
// `tcb --version` is answered here, before any module loads: it is what scripts and shell
// prompts call most often, and commander alone costs more than the rest of start-up.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { readFileSync } = await import('node:fs');
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${version}\n`);
} else {
  const { main } = await import('../dist/main.js');
  await main();
}
