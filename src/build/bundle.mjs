#!/usr/bin/env node
/**
 * Builds dist/ with esbuild: a small entry (dist/main.js: commander and the command registry) plus
 * chunks that load only when a command runs, so Node reads and compiles a handful of files instead
 * of hundreds of modules. Native and server packages stay external (loaded from node_modules).
 * Type checking is not done here: `npm run build` runs `tsc --noEmit` first.
 *
 *   node src/build/bundle.mjs            build dist/
 *   node src/build/bundle.mjs --analyze  also print what each output file is made of
 */
import { cp, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeMetafile, build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = path.join(ROOT, 'src');
const DIST = path.join(ROOT, 'dist');

/**
 * dist/main.js is what bin/tcb.js runs. The other entries are modules that benchmarks and demos
 * import from dist/ (an in-process sandbox, the webhook listener and store); they share chunks with
 * the CLI, so a module's state is never duplicated between them.
 */
const ENTRIES = [
  'main.ts',
  'sandbox/server.ts',
  'sandbox/routes/logs.ts',
  'sandbox/routes/numbers.ts',
  'services/webhooks/listener.ts',
  'services/webhooks/store.ts',
];

/** Native addons and server frameworks: resolved from node_modules at run time, never bundled. */
const EXTERNAL = ['better-sqlite3', 'pg', 'fastify', 'pino'];

/** Markdown for `tcb help TOPIC`: its loader looks for help/topics above the running module. */
const HELP_TOPICS = 'help/topics';

/**
 * commander requires node:child_process (and with it net and dgram) when it loads, only to spawn
 * stand-alone executable subcommands, which tcb does not have. Its copy is resolved on first use.
 */
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(build) {
    build.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy-builtin' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({
      contents: "let loaded; module.exports = new Proxy({}, { get: (_, key) => (loaded ??= require('node:child_process'))[key] });",
      loader: 'js',
    }));
  },
};

async function exists(file) {
  return stat(file).then(() => true, () => false);
}

export async function bundle({ analyze = false } = {}) {
  await rm(DIST, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ENTRIES.map((entry) => path.join(SRC, entry)),
    outbase: SRC,
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: EXTERNAL,
    chunkNames: 'chunks/[name]-[hash]',
    // Less to parse at start-up; identifiers stay, so stack traces (--verbose) still read.
    minifyWhitespace: true,
    minifySyntax: true,
    // CommonJS packages (commander, ajv, ...) call require() for Node built-ins; ESM has none.
    banner: { js: "import{createRequire as __tcbCreateRequire}from'node:module';const require=__tcbCreateRequire(import.meta.url);" },
    legalComments: 'eof',
    plugins: [lazyChildProcessForCommander],
    metafile: true,
    logLevel: 'warning',
  });
  if (await exists(path.join(SRC, HELP_TOPICS))) {
    await cp(path.join(SRC, HELP_TOPICS), path.join(DIST, HELP_TOPICS), { recursive: true });
  }
  if (analyze) console.log(await analyzeMetafile(result.metafile));
  return result;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundle({ analyze: process.argv.includes('--analyze') });
}
