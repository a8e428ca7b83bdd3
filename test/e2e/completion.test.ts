// tcb completion bash|zsh|fish: the printed scripts, run in the real shells.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli.js';
import { runTcb, tempDir } from '../helpers/cli.js';

const work = tempDir('tcb-completion-');
const scripts: Record<string, string> = {};

function installed(shell: string): boolean {
  return spawnSync(shell, ['-c', 'exit 0'], { stdio: 'ignore' }).status === 0;
}

beforeAll(async () => {
  for (const shell of ['bash', 'zsh', 'fish']) {
    const result = await runTcb(['completion', shell]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    scripts[shell] = path.join(work.dir, `tcb.${shell}`);
    writeFileSync(scripts[shell]!, result.stdout);
  }
  // Files for file-name completion, in the directory the shell completes in.
  mkdirSync(path.join(work.dir, 'files'));
  writeFileSync(path.join(work.dir, 'files', 'calls.csv'), 'caller_number\n');
  writeFileSync(path.join(work.dir, 'files', 'calls-2.csv'), 'caller_number\n');
  writeFileSync(path.join(work.dir, 'files', 'report.txt'), '');
});
afterAll(() => work.cleanup());

/** Sources the bash script and calls its completion function as bash would for `line` (cursor at the end). */
function bashComplete(...words: string[]): string[] {
  const program = [
    `source ${JSON.stringify(scripts.bash)}`,
    `COMP_WORDS=(${words.map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    'COMP_LINE="${COMP_WORDS[*]}"',
    'COMP_POINT=${#COMP_LINE}',
    '_tcb',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', program], { cwd: path.join(work.dir, 'files'), encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout.split('\n').filter(Boolean);
}

describe('bash', () => {
  it('the script parses', () => {
    expect(spawnSync('bash', ['-n', scripts.bash!]).status).toBe(0);
  });

  it('completes commands, subcommands and the flags of the command being typed', () => {
    expect(bashComplete('tcb', 'nu')).toEqual(['numbers']);
    expect(bashComplete('tcb', 'numbers', '')).toEqual(['list', 'publish', 'delist', 'sync', 'help']);
    expect(bashComplete('tcb', 'call-reason', 'upload', '--re')).toEqual(['--reason', '--resume', '--resend-uncertain', '--report']);
    expect(bashComplete('tcb', 'co')).toEqual(['completion']);
    // Global options are accepted after a subcommand, and their values are skipped.
    expect(bashComplete('tcb', 'labels', 'list', '--ver')).toEqual(['--verbose']);
    expect(bashComplete('tcb', '--profile', 'staging', 'lab')).toEqual(['labels']);
    // A value that happens to be a command name is still a value.
    expect(bashComplete('tcb', '--profile', 'numbers', 'lab')).toEqual(['labels']);
    expect(bashComplete('tcb', 'auth', 'help', 'lo')).toEqual(['login', 'logout']);
  });

  it('completes the choices of a choice flag, split at = or not', () => {
    expect(bashComplete('tcb', 'labels', 'list', '--format', '')).toEqual(['table', 'json', 'ndjson', 'csv']);
    expect(bashComplete('tcb', 'labels', 'list', '--format', 'n')).toEqual(['ndjson']);
    expect(bashComplete('tcb', 'labels', 'list', '--format', '=', 'j')).toEqual(['json']);
    expect(bashComplete('tcb', 'labels', 'list', '--format', '=')).toEqual(['table', 'json', 'ndjson', 'csv']);
    expect(bashComplete('tcb', 'call-reason', 'push', '--api', '')).toEqual(['v2', 'v1']);
    expect(bashComplete('tcb', 'batch', 'status', '--api-version', '')).toEqual(['v2', 'v3']);
    expect(bashComplete('tcb', 'completion', '')).toEqual(['bash', 'zsh', 'fish']);
  });

  it('completes file names where a flag or argument takes a file, and nothing for free text', () => {
    expect(bashComplete('tcb', 'call-reason', 'upload', 'calls').sort()).toEqual(['calls-2.csv', 'calls.csv']);
    expect(bashComplete('tcb', 'call-reason', 'upload', 'x.csv', '--report', 'rep')).toEqual(['report.txt']);
    expect(bashComplete('tcb', 'api', '--input', 'calls.')).toEqual(['calls.csv']);
    expect(bashComplete('tcb', 'call-reason', 'push', '--reason', '')).toEqual([]);
    // After a flag that takes text, the next word is its value, not a subcommand.
    expect(bashComplete('tcb', 'labels', 'list', '--limit', '')).toEqual([]);
  });

  it('never drifts: every command group offers exactly the subcommands commander knows', () => {
    const program = buildProgram();
    const groups: Array<{ path: string[]; command: Command }> = [];
    const visit = (command: Command, at: string[]) => {
      if (command.commands.length > 0) groups.push({ path: at, command });
      for (const sub of command.commands) visit(sub, [...at, sub.name()]);
    };
    visit(program, []);
    expect(groups.length).toBeGreaterThan(5);
    for (const { path: at, command } of groups) {
      // What commander accepts there: its commands, and its own `help` command where it adds one.
      const expected = command.createHelp().visibleCommands(command).map((sub) => sub.name());
      expect(expected).toEqual(expect.arrayContaining(command.commands.map((sub) => sub.name())));
      expect(bashComplete('tcb', ...at, ''), at.join(' ')).toEqual(expected);
    }
    for (const command of program.commands.flatMap((group) => (group.commands.length > 0 ? group.commands : [group]))) {
      const at = command.parent === program ? [command.name()] : [command.parent!.name(), command.name()];
      const longs = command.options.map((option) => option.long!).filter(Boolean);
      const offered = bashComplete('tcb', ...at, '--');
      for (const long of longs) expect(offered, `${at.join(' ')} ${long}`).toContain(long);
    }
  });
});

describe.skipIf(!installed('zsh'))('zsh (skipped when zsh is not installed)', () => {
  /** Runs the script's _tcb with the completion builtins replaced by stubs that print what they were given. */
  function zshComplete(...words: string[]): string {
    const program = [
      '_describe() { print -r -- "describe ${(j: :)${(P)${@[-1]}}}"; }',
      'compadd() { [[ $1 == -a ]] && print -r -- "compadd ${(j: :)${(P)2}}"; }',
      '_files() { print -r -- files; }',
      'compset() { :; }',
      'compdef() { print -r -- "compdef $*"; }',
      `source ${JSON.stringify(scripts.zsh)}`,
      `words=(${words.map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ')})`,
      'CURRENT=${#words}',
      '_tcb',
    ].join('\n');
    const result = spawnSync('zsh', ['-f', '-c', program], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    return result.stdout;
  }

  it('the script parses, and registers itself when sourced', () => {
    expect(spawnSync('zsh', ['-n', scripts.zsh!]).status).toBe(0);
    expect(zshComplete('tcb', '')).toMatch(/^compdef _tcb tcb\n/);
  });

  it('completes subcommands with descriptions, flags, choices and files', () => {
    expect(zshComplete('tcb', 'numbers', '')).toContain('describe list:list the numbers of the account (numbers-details) publish:');
    expect(zshComplete('tcb', 'call-reason', 'upload', '--re')).toMatch(/--resume:send only what an earlier/);
    expect(zshComplete('tcb', 'labels', 'list', '--format', '')).toContain('compadd table json ndjson csv');
    expect(zshComplete('tcb', 'call-reason', 'upload', '')).toContain('files');
    expect(zshComplete('tcb', '--profile', 'x', 'completion', '')).toContain('compadd bash zsh fish');
    const afterValue = zshComplete('tcb', '--profile', 'numbers', '');
    expect(afterValue).toContain('describe auth:');
    expect(afterValue).not.toContain('describe list:');
  });
});

describe.skipIf(!installed('fish'))('fish (skipped when fish is not installed)', () => {
  function fishComplete(line: string): string[] {
    const result = spawnSync('fish', ['--no-config', '-c', `source ${JSON.stringify(scripts.fish)}; complete -C ${JSON.stringify(line)}`], {
      cwd: path.join(work.dir, 'files'),
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    return result.stdout.split('\n').filter(Boolean).map((entry) => entry.split('\t')[0]!);
  }

  it('the script parses', () => {
    expect(spawnSync('fish', ['--no-execute', scripts.fish!]).status).toBe(0);
  });

  it('completes subcommands, flags, choices and files at the right command', () => {
    expect(fishComplete('tcb nu')).toEqual(['numbers']);
    expect(fishComplete('tcb numbers ').sort()).toEqual(['delist', 'help', 'list', 'publish', 'sync']);
    expect(fishComplete('tcb call-reason upload --re').sort()).toEqual(['--reason', '--resend-uncertain', '--report', '--resume'].sort());
    expect(fishComplete('tcb labels list --format ').sort()).toEqual(['csv', 'json', 'ndjson', 'table']);
    expect(fishComplete('tcb call-reason upload cal').sort()).toEqual(['calls-2.csv', 'calls.csv']);
    expect(fishComplete('tcb --profile numbers lab')).toEqual(['labels']);
  });
});
