// The command tree is built only as far as the command line needs: what that part shows and
// parses must be exactly what the whole tree would.
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli.js';

function helpOf(command: Command): string {
  return command.helpInformation();
}

function find(program: Command, path: string[]): Command {
  let command = program;
  for (const name of path) {
    const next = command.commands.find((c) => c.name() === name);
    if (!next) throw new Error(`no ${name} under ${command.name()}`);
    command = next;
  }
  return command;
}

describe('the command tree built for one command line', () => {
  const whole = buildProgram();

  it('tcb --help lists every command as the whole tree does, without building any group', () => {
    const partial = buildProgram(['node', 'tcb', '--help']);
    expect(helpOf(partial)).toBe(helpOf(whole));
    const groups = partial.commands.filter((c) => find(whole, [c.name()]).commands.length > 0);
    expect(groups.map((c) => c.name())).toEqual(['auth', 'labels', 'feature-sets', 'numbers', 'call-reason', 'batch', 'cmb', 'feedback', 'webhook']);
    for (const group of groups) expect(group.commands, group.name()).toEqual([]);
  });

  it.each(['auth', 'labels', 'feature-sets', 'numbers', 'call-reason', 'batch', 'cmb', 'feedback', 'webhook'])(
    'a command line naming %s gets that group whole: the same help for it and every subcommand',
    (group) => {
      const partial = buildProgram(['node', 'tcb', '--profile', 'x', group, 'anything']);
      const full = find(whole, [group]);
      expect(helpOf(find(partial, [group]))).toBe(helpOf(full));
      expect(full.commands.length).toBeGreaterThan(0);
      for (const sub of full.commands) expect(helpOf(find(partial, [group, sub.name()]))).toBe(helpOf(sub));
    },
  );

  it('tcb help and tcb completion, which document every command, get the whole tree', () => {
    for (const word of ['help', 'completion']) {
      const partial = buildProgram(['node', 'tcb', word]);
      expect(find(partial, ['numbers']).commands.map((c) => c.name())).toEqual(find(whole, ['numbers']).commands.map((c) => c.name()));
      expect(find(partial, ['webhook', 'listen']).options.length).toBe(find(whole, ['webhook', 'listen']).options.length);
    }
  });
});
