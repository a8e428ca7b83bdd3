#!/usr/bin/env node
/**
 * Builds dist/ with esbuild, so that Node reads and compiles a handful of files per command instead
 * of hundreds of modules:
 *
 *  - dist/main.cjs: the entry bin/tcb.js requires: main.ts, the command registry (cli.ts) and
 *    commander, as CommonJS, so `tcb --help` and usage errors never start Node's ES module loader;
 *  - dist/<module>.js + dist/chunks/: everything the entry imports dynamically (each command,
 *    the context, errors, interrupt handling, help) as ES modules with shared chunks, loaded only
 *    when a command runs. Shared chunks keep one instance of every module (errors, the redactor).
 *
 * Native and server packages stay external (loaded from node_modules). Type checking is not done
 * here: `npm run build` runs `tsc` (noEmit) first.
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

/** The modules the CommonJS entry may contain; anything else it needs must be imported dynamically. */
const ENTRY_MODULES = ['main.ts', 'cli.ts'];

/**
 * Modules that benchmarks and demos import from dist/ (an in-process sandbox, the webhook listener
 * and store). Built with the chunks, so they share module instances with each other.
 */
const LIBRARY_ENTRIES = [
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

const COMMON = {
  absWorkingDir: ROOT,
  bundle: true,
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // Less to parse at start-up; identifiers stay, so stack traces (--verbose) still read.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
};

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

/**
 * In the CommonJS entry, `import('./x.js')` of a source module stays a dynamic import, of the ES
 * module built from it at the same place under dist/; the modules found are returned in `targets`.
 */
function dynamicImportsToChunks(targets) {
  return {
    name: 'dynamic-imports-to-chunks',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        const source = path.resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts');
        const relative = path.relative(SRC, source);
        targets.add(relative);
        return { path: `./${relative.replace(/\\/g, '/').replace(/\.ts$/, '.js')}`, external: true };
      });
    },
  };
}

async function exists(file) {
  return stat(file).then(() => true, () => false);
}

export async function bundle({ analyze = false } = {}) {
  await rm(DIST, { recursive: true, force: true });

  const lazyModules = new Set();
  const entry = await build({
    ...COMMON,
    entryPoints: [path.join(SRC, 'main.ts')],
    outfile: path.join(DIST, 'main.cjs'),
    format: 'cjs',
    // cli.ts finds package.json from import.meta.url.
    define: { 'import.meta.url': '__tcbModuleUrl' },
    banner: { js: "const __tcbModuleUrl=require('node:url').pathToFileURL(__filename).href;" },
    plugins: [lazyChildProcessForCommander, dynamicImportsToChunks(lazyModules)],
  });
  const bundled = Object.keys(entry.metafile.inputs)
    .filter((input) => input.startsWith('src/'))
    .map((input) => input.slice('src/'.length));
  const stray = bundled.filter((module) => !ENTRY_MODULES.includes(module));
  if (stray.length > 0) {
    throw new Error(`dist/main.cjs would contain its own copy of ${stray.join(', ')}: import them dynamically from main.ts/cli.ts`);
  }

  const chunks = await build({
    ...COMMON,
    entryPoints: [...lazyModules, ...LIBRARY_ENTRIES].map((module) => path.join(SRC, module)),
    outbase: SRC,
    outdir: DIST,
    format: 'esm',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    // CommonJS packages (ajv, cli-progress, ...) call require() for Node built-ins; ESM has none.
    banner: { js: "import{createRequire as __tcbCreateRequire}from'node:module';const require=__tcbCreateRequire(import.meta.url);" },
    plugins: [lazyChildProcessForCommander],
  });

  if (await exists(path.join(SRC, HELP_TOPICS))) {
    await cp(path.join(SRC, HELP_TOPICS), path.join(DIST, HELP_TOPICS), { recursive: true });
  }
  if (analyze) {
    console.log(await analyzeMetafile(entry.metafile));
    console.log(await analyzeMetafile(chunks.metafile));
  }
  return { entry, chunks };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundle({ analyze: process.argv.includes('--analyze') });
}
