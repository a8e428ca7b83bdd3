import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/tcb.js', import.meta.url));
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 15);

function timeOnce(args) {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited ${result.status}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Start-up cost: medians of interleaved runs, so machine noise hits every variant alike. */
export async function bench({ report }) {
  const variants = {
    'node -e 0': ['-e', '0'],
    'tcb --version': [BIN, '--version'],
    'tcb --help': [BIN, '--help'],
    'tcb completion bash': [BIN, 'completion', 'bash'],
  };
  const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  for (const args of Object.values(variants)) timeOnce(args); // warm the file cache
  for (let i = 0; i < RUNS; i += 1) {
    for (const [name, args] of Object.entries(variants)) samples[name].push(timeOnce(args));
  }
  const base = median(samples['node -e 0']);
  const version = median(samples['tcb --version']);
  const help = median(samples['tcb --help']);
  const completion = median(samples['tcb completion bash']);
  report('startup', {
    runs: RUNS,
    'node -e 0 median ms': base.toFixed(1),
    'tcb --version median ms': version.toFixed(1),
    'tcb --help median ms': help.toFixed(1),
    'tcb completion bash median ms': completion.toFixed(1),
    '--version / node': `${(version / base).toFixed(2)}x (goal <= 1.3x)`,
    '--help / node': `${(help / base).toFixed(2)}x (goal <= 1.6x)`,
    'completion bash / --help': `${(completion / help).toFixed(2)}x (the generator only: close to 1)`,
  });
}
