import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, commander } from '../../src/cli.js';
import { walkCommands } from '../../src/help/reference.js';
import { ROOT } from '../helpers/cli.js';

/** Shell words of one command line, up to the first unquoted pipe, redirection, `&`, `;` or comment. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: string | null = null;
  let started = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      started = true;
      continue;
    }
    if (/\s/.test(c)) {
      if (started) words.push(word);
      word = '';
      started = false;
      continue;
    }
    if ('|><&;#'.includes(c) || (c === '2' && line[i + 1] === '>' && !started)) break;
    word += c;
    started = true;
  }
  if (started) words.push(word);
  return words;
}

/** Every `tcb …` command line in the README's sh code blocks, continuation lines joined. */
function readmeCommands(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const commands: string[] = [];
  for (const block of blocks) {
    for (const line of block.replace(/\\\n\s*/g, ' ').split('\n')) {
      const segment = line.split('|').map((s) => s.trim()).find((s) => s.startsWith('tcb '));
      if (segment) commands.push(segment);
    }
  }
  return commands;
}

/** The real command tree with every action replaced: parsing checks commands, arguments and flags. */
function parseOnly(): { program: Command; ran: () => string | undefined } {
  const program = buildProgram();
  let ran: string | undefined;
  for (const command of walkCommands(program)) {
    command.exitOverride();
    command.configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
    if ((command as unknown as { _actionHandler: unknown })._actionHandler) {
      command.action(() => {
        ran = command.name();
      });
    }
  }
  return { program, ran: () => ran };
}

describe('README examples', () => {
  const commands = readmeCommands();

  it('has the common tasks', () => {
    expect(commands.length).toBeGreaterThanOrEqual(15);
  });

  it.each(commands)('%s parses as a valid command line', async (line) => {
    const args = shellWords(line).slice(1);
    const { program, ran } = parseOnly();
    if (args.includes('--help')) {
      await expect(program.parseAsync(args, { from: 'user' })).rejects.toMatchObject({ code: 'commander.helpDisplayed' });
      return;
    }
    await expect(program.parseAsync(args, { from: 'user' })).resolves.toBeDefined();
    expect(ran()).toBeDefined();
  });

  it('catches a misspelt flag (the check can fail)', async () => {
    const { program } = parseOnly();
    await expect(program.parseAsync(['numbers', 'publish', '--feature-set', 'x', '--wiat'], { from: 'user' })).rejects.toBeInstanceOf(
      commander.CommanderError,
    );
  });
});
