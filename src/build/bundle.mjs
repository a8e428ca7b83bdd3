#!/usr/bin/env node
/**
 * Builds dist/ with esbuild, so that Node reads and compiles a handful of files per command instead
 * of hundreds of modules:
 *
 *  - dist/main.cjs: the entry bin/tcb.js requires: main.ts, the command registry (cli.ts) and
 *    commander: all that `tcb --help` and usage errors load;
 *  - dist/<module>.js + dist/chunks/: everything the entry imports dynamically (each command,
 *    the context, errors, interrupt handling, help), split into chunks shared between commands and
 *    loaded only when a command runs. Shared chunks keep one instance of every module (errors,
 *    the redactor, the interrupt controller).
 *
 * esbuild splits only ES modules, so that is how everything is built; each output file is then
 * turned into CommonJS (dist/package.json says so): Node's ES module loader costs a command about
 * as much start-up time as commander does, and its CommonJS loader needs none of it.
 *
 * Native and server packages stay external (loaded from node_modules). Type checking is not done
 * here: `npm run build` runs `tsc` (noEmit) first.
 *
 *   node src/build/bundle.mjs            build dist/
 *   node src/build/bundle.mjs --analyze  also print what each output file is made of
 */
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeMetafile, build, transform } from 'esbuild';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = path.join(ROOT, 'src');
const DIST = path.join(ROOT, 'dist');

/** The modules the entry may contain; anything else it needs must be imported dynamically. */
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
  'services/webhooks/log.ts',
  'services/webhooks/store.ts',
  'services/webhooks/stores.ts',
];

/** A native addon and the server-side packages: resolved from node_modules at run time, never bundled. */
const EXTERNAL = ['better-sqlite3', 'pg', 'pino'];

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
  // Carried through the CommonJS step into dist/**/*.map: a bug's stack trace under --verbose
  // names src/ files and lines (bin/tcb.js turns source maps on only then: they cost start-up).
  sourcemap: 'inline',
  sourcesContent: false,
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
 * In the entry, `import('./x.js')` of a source module stays a dynamic import, of the module built
 * from it at the same place under dist/; the modules found are returned in `targets`.
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

/**
 * Every command is run after the context and interrupt handling are loaded (cli.ts), so each
 * command's entry imports them too: esbuild then sees the context's modules used by every command
 * alike and keeps them in one shared chunk, instead of cutting them into a dozen small files by
 * which commands happen to import which of them (every file costs load time).
 */
const ALWAYS_LOADED = ['context.ts', 'util/interrupt.ts'];
function commandEntry(module) {
  return ALWAYS_LOADED.includes(module) || module === 'errors.ts'
    ? { in: path.join(SRC, module), out: module.replace(/\.ts$/, '') }
    : { in: `command-entry:${module}`, out: module.replace(/\.ts$/, '') };
}
const commandEntries = {
  name: 'command-entries',
  setup(build) {
    build.onResolve({ filter: /^command-entry:/ }, (args) => ({ path: args.path.slice('command-entry:'.length), namespace: 'command-entry' }));
    build.onLoad({ filter: /.*/, namespace: 'command-entry' }, async (args) => {
      const file = path.join(SRC, args.path);
      const source = JSON.stringify(file);
      const shared = ALWAYS_LOADED.map((module) => `import ${JSON.stringify(path.join(SRC, module))};`).join('');
      const hasDefault = /^export default /m.test(await readFile(file, 'utf8'));
      return {
        contents: `${shared}export * from ${source};${hasDefault ? `export { default } from ${source};` : ''}`,
        resolveDir: SRC,
        loader: 'js',
        watchFiles: [file],
      };
    });
  },
};

/**
 * One ES module output file → CommonJS, in place: imports become require() (dynamic ones inside a
 * promise, as import() behaves), exports become getters (live, like ES module bindings), and
 * import.meta.url the file's own URL. Node then loads every file with its CommonJS loader.
 */
async function toCommonJs(file) {
  const result = await transform(await readFile(file, 'utf8'), {
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    supported: { 'dynamic-import': false },
    define: { 'import.meta.url': '__tcbModuleUrl' },
    // The ES modules it came from were strict; CommonJS is only when it says so.
    banner: "'use strict';const __tcbModuleUrl=require('node:url').pathToFileURL(__filename).href;",
    minifyWhitespace: true,
    legalComments: 'eof',
    sourcefile: path.relative(ROOT, file),
    sourcemap: 'external',
    sourcesContent: false,
  });
  // Its sources are relative to the file (../src/…), so they hold wherever the package is installed.
  await writeFile(`${file}.map`, result.map);
  await writeFile(file, `${result.code}//# sourceMappingURL=${path.basename(file)}.map\n`);
}

/**
 * Where each output file's code comes from and what it imports, for the start-up tests (what a
 * command loads before it runs). Kept out of dist/, so it is never shipped.
 */
export const MODULE_MAP = path.join(ROOT, 'node_modules', '.cache', 'tcb', 'bundle-modules.json');

function packageOf(input) {
  const parts = input.split('node_modules/').pop().split('/');
  return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

async function writeModuleMap(results) {
  const outputs = {};
  for (const { metafile } of results) {
    for (const [output, { imports, inputs }] of Object.entries(metafile.outputs)) {
      outputs[output] = {
        imports: imports.map(({ path: target, kind, external }) => ({ path: target, kind, external: Boolean(external) })),
        sources: Object.keys(inputs).filter((input) => input.startsWith('src/')),
        packages: [...new Set(Object.keys(inputs).filter((input) => input.includes('node_modules/')).map(packageOf))].sort(),
      };
    }
  }
  await mkdir(path.dirname(MODULE_MAP), { recursive: true });
  await writeFile(MODULE_MAP, `${JSON.stringify(outputs, null, 1)}\n`);
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
    format: 'esm',
    plugins: [lazyChildProcessForCommander, dynamicImportsToChunks(lazyModules)],
  });
  await toCommonJs(path.join(DIST, 'main.cjs'));
  const bundled = Object.keys(entry.metafile.inputs)
    .filter((input) => input.startsWith('src/'))
    .map((input) => input.slice('src/'.length));
  const stray = bundled.filter((module) => !ENTRY_MODULES.includes(module));
  if (stray.length > 0) {
    throw new Error(`dist/main.cjs would contain its own copy of ${stray.join(', ')}: import them dynamically from main.ts/cli.ts`);
  }

  const esm = {
    ...COMMON,
    outbase: SRC,
    outdir: DIST,
    format: 'esm',
    splitting: true,
    plugins: [lazyChildProcessForCommander],
  };
  const chunks = await build({
    ...esm,
    entryPoints: [...lazyModules].map(commandEntry),
    chunkNames: 'chunks/[name]-[hash]',
    plugins: [...esm.plugins, commandEntries],
  });
  // Built apart, so that they do not cut the command chunks into smaller pieces.
  const library = await build({
    ...esm,
    entryPoints: LIBRARY_ENTRIES.map((module) => path.join(SRC, module)),
    chunkNames: 'lib/[name]-[hash]',
  });
  for (const output of [...Object.keys(chunks.metafile.outputs), ...Object.keys(library.metafile.outputs)]) {
    await toCommonJs(path.join(ROOT, output));
  }
  await writeFile(path.join(DIST, 'package.json'), '{\n  "type": "commonjs"\n}\n');

  if (await exists(path.join(SRC, HELP_TOPICS))) {
    await cp(path.join(SRC, HELP_TOPICS), path.join(DIST, HELP_TOPICS), { recursive: true });
  }
  await writeModuleMap([entry, chunks, library]);
  if (analyze) {
    console.log(await analyzeMetafile(entry.metafile));
    console.log(await analyzeMetafile(chunks.metafile));
    console.log(await analyzeMetafile(library.metafile));
  }
  return { entry, chunks, library };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundle({ analyze: process.argv.includes('--analyze') });
}
