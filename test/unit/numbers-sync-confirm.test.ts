// The sync confirmation and the readable plan on a terminal, driven in-process with fake prompts.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import numbersSync from '../../src/commands/numbers/sync.js';
import { CommandContext } from '../../src/context.js';
import { resolveSettings } from '../../src/config/settings.js';
import { UsageError } from '../../src/errors.js';
import { Output } from '../../src/output/output.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/server.js';
import { numbersSandbox } from '../../src/sandbox/routes/numbers.js';
import { seedState } from '../../src/sandbox/seed.js';
import { tempDir } from '../helpers/cli.js';

const PRIO1 = '069d2e3a-41e6-41f9-a768-157d7e3bd6b9';
const NEW_NUMBER = '919612345678';
let sb: SandboxHandle;
const config = tempDir('tcb-numbers-sync-confirm-');
let desiredFile: string;

beforeAll(async () => {
  sb = await startSandbox({ port: 0 });
  desiredFile = path.join(config.dir, 'desired.txt');
  // Keeps one of prio1's four numbers and adds one: the plan delists three.
  writeFileSync(desiredFile, `919810001000\n${NEW_NUMBER}\n`);
});
afterAll(async () => {
  await sb.close();
  config.cleanup();
});
beforeEach(async () => {
  await fetch(`${sb.url}/__sandbox/reset`, { method: 'POST' });
  sb.state.numbers.splice(0, Infinity, ...seedState().numbers);
  numbersSandbox(sb.state).inFlight.clear();
  numbersSandbox(sb.state).config.processingMs = 0;
});

function terminalContext(answer: boolean, flags: { yes?: boolean } = {}) {
  const env = {
    TCB_CONFIG_DIR: config.dir,
    TCB_BASE_URL: sb.url,
    TCB_CLIENT_ACCOUNT_ID: sb.credentials.clientAccountId,
    TCB_KEY_ID: sb.credentials.keyId,
    TCB_API_KEY: sb.credentials.apiKey,
  };
  const terminal = { stdinIsTTY: true, stdoutIsTTY: true, stderrIsTTY: true };
  const settings = resolveSettings({ ...flags, color: false }, env, terminal, undefined);
  let stdoutText = '';
  const stdout = new PassThrough();
  stdout.on('data', (chunk) => (stdoutText += chunk));
  const output = new Output({
    format: settings.format,
    color: false,
    stderrColor: false,
    stderrIsTTY: true,
    verbose: false,
    quiet: true,
    stdout,
    stderr: new PassThrough(),
  });
  const ctx = new CommandContext(settings, output, env, undefined);
  const questions: string[] = [];
  ctx.prompts = {
    text: async () => '',
    secret: async () => '',
    confirm: async (message) => {
      questions.push(message);
      return answer;
    },
  };
  return { ctx, questions, stdout: () => stdoutText };
}

const input = (opts: Record<string, unknown> = {}) => ({
  args: [],
  opts: { featureSet: 'prio1', file: desiredFile, delist: true, ...opts },
  command: {} as Command,
});

function changeRequests() {
  const requests = sb.counters().requests;
  return { publish: requests['numbers-list'] ?? 0, delist: requests['numbers-delist'] ?? 0 };
}

describe('numbers sync on a terminal', () => {
  it('shows the plan, asks with the size of the delist; "no" sends nothing', async () => {
    const { ctx, questions, stdout } = terminalContext(false);
    await expect(numbersSync(ctx, input())).rejects.toBeInstanceOf(UsageError);
    expect(questions).toEqual([`Delist 3 numbers of the 4 in feature set "prio1" (${PRIO1}) (75%) and publish 1 number?`]);
    expect(stdout()).toMatch(/Plan for feature set "prio1".*2 desired numbers, 4 in the feature set now/);
    expect(stdout()).toMatch(/publish\s+1\s+919612345678/);
    expect(stdout()).toMatch(/delist\s+3\s+919810001037, 919810001074, 919810001111/);
    expect(stdout()).toMatch(/unchanged\s+1/);
    expect(changeRequests()).toEqual({ publish: 0, delist: 0 });
  });

  it('"yes" applies and prints the answers of both requests', async () => {
    const { ctx, questions, stdout } = terminalContext(true);
    await numbersSync(ctx, input());
    expect(questions).toHaveLength(1);
    expect(stdout()).toContain('Publish to feature set "prio1"');
    expect(stdout()).toContain('Delist from feature set "prio1"');
    expect(changeRequests()).toEqual({ publish: 1, delist: 1 });
  });

  it('--yes, --no-delist and a plan without delists never ask', async () => {
    const withYes = terminalContext(false, { yes: true });
    await numbersSync(withYes.ctx, input());
    expect(withYes.questions).toEqual([]);
    expect(changeRequests()).toEqual({ publish: 1, delist: 1 });

    sb.state.numbers.splice(0, Infinity, ...seedState().numbers);
    numbersSandbox(sb.state).inFlight.clear();
    const onlyAdd = terminalContext(false);
    await numbersSync(onlyAdd.ctx, input({ delist: false }));
    expect(onlyAdd.questions).toEqual([]);
    expect(onlyAdd.stdout()).toMatch(/kept\s+3\s+not desired, kept because of --no-delist/);
    expect(changeRequests()).toEqual({ publish: 2, delist: 1 });
  });
});
