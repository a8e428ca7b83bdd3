// What a command loads before it runs: the packages bundled into (or required by) the built files
// its entry statically imports, from the module map the build writes (src/build/bundle.mjs).
import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODULE_MAP = path.join(ROOT, 'node_modules', '.cache', 'tcb', 'bundle-modules.json');

type Output = { imports: { path: string; kind: string; external: boolean }[]; sources: string[]; packages: string[] };

function staticLoad(entries: string[]): { packages: Set<string>; sources: Set<string> } {
  const outputs = JSON.parse(readFileSync(MODULE_MAP, 'utf8')) as Record<string, Output>;
  const packages = new Set<string>();
  const sources = new Set<string>();
  const seen = new Set<string>();
  const visit = (output: string) => {
    if (seen.has(output)) return;
    seen.add(output);
    const file = outputs[output];
    if (!file) throw new Error(`${output} is not in the module map`);
    for (const name of file.packages) packages.add(name);
    for (const source of file.sources) sources.add(source);
    for (const { path: target, kind, external } of file.imports) {
      if (kind === 'dynamic-import') continue;
      if (!external) visit(target);
      else if (!isBuiltin(target) && !target.startsWith('.')) packages.add(target.split('/').slice(0, target.startsWith('@') ? 2 : 1).join('/'));
    }
  };
  for (const entry of entries) visit(entry);
  return { packages, sources };
}

describe.skipIf(!existsSync(MODULE_MAP))('start-up loads (built dist/)', () => {
  it('tcb --help and usage errors load commander and the registry only', () => {
    const { packages, sources } = staticLoad(['dist/main.cjs']);
    expect([...packages].sort()).toEqual(['commander']);
    expect([...sources].sort()).toEqual(['src/cli.ts', 'src/main.ts']);
  });

  it('tcb completion loads no package beyond what every command needs', () => {
    const common = staticLoad(['dist/context.js', 'dist/util/interrupt.js']).packages;
    const completion = staticLoad(['dist/commands/completion.js']).packages;
    expect([...completion].filter((name) => !common.has(name))).toEqual([]);
  });

  it('every command loads no heavy package it does not need: the HTTP client, prompts, tables, SQLite, PostgreSQL', () => {
    const common = staticLoad(['dist/context.js', 'dist/util/interrupt.js']).packages;
    // Each of these is loaded when first used, never when a command starts.
    for (const name of ['ky', 'conf', 'cli-table3', '@inquirer/prompts', 'better-sqlite3', 'pg', 'pino', 'proper-lockfile']) {
      expect(common.has(name), `every command loads ${name}`).toBe(false);
    }
    for (const entry of ['dist/commands/api.js', 'dist/commands/doctor.js', 'dist/commands/labels/list.js', 'dist/commands/auth/status.js']) {
      const { packages } = staticLoad([entry]);
      for (const name of ['better-sqlite3', 'csv-parse', '@inquirer/prompts', 'pg', 'pino']) {
        expect(packages.has(name), `${entry} loads ${name}`).toBe(false);
      }
    }
  });
});
