// What a command loads before it runs: the static imports reachable from its built module.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

/** Packages (and node: builtins) statically imported by a module and everything it imports. */
function staticPackages(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    // `import … from '…'`, `import '…'` and `export … from '…'` at the top level; not import().
    for (const match of source.matchAll(/^(?:import|export)\s(?:[^'"]*?\sfrom\s)?['"]([^'"]+)['"]/gm)) {
      const specifier = match[1]!;
      if (specifier.startsWith('.')) visit(path.resolve(path.dirname(file), specifier));
      else packages.add(specifier.startsWith('node:') ? 'node:' : specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'));
    }
  };
  visit(path.join(DIST, entry));
  return packages;
}

describe.skipIf(!existsSync(path.join(DIST, 'commands/completion.js')))('start-up imports (built dist/)', () => {
  it('tcb completion loads no package at all: only its generator', () => {
    expect([...staticPackages('commands/completion.js')].filter((name) => name !== 'node:')).toEqual([]);
  });

  it('tcb api and tcb doctor load the HTTP client and output, not the heavy modules other commands need', () => {
    const heavy = ['better-sqlite3', 'csv-parse', '@inquirer/prompts', 'cli-progress', 'fastify', 'pg', 'pino'];
    for (const entry of ['commands/api.js', 'commands/doctor.js']) {
      // Every command run through the context loads context.js too.
      const packages = new Set([...staticPackages('context.js'), ...staticPackages(entry)]);
      expect(packages.has('ky'), entry).toBe(true);
      for (const name of heavy) expect(packages.has(name), `${entry} imports ${name}`).toBe(false);
    }
  });
});
