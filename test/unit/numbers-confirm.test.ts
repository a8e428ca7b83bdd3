// The delist confirmation on a terminal, driven in-process with fake prompts.
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandContext } from '../../src/context.js';
import { resolveSettings } from '../../src/config/settings.js';
import { UsageError } from '../../src/errors.js';
import { Output } from '../../src/output/output.js';
import { runChange } from '../../src/commands/numbers/change.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/server.js';
import { numbersSandbox } from '../../src/sandbox/routes/numbers.js';
import { tempDir } from '../helpers/cli.js';
import type { Command } from 'commander';

const PRIO1 = '069d2e3a-41e6-41f9-a768-157d7e3bd6b9';
let sb: SandboxHandle;
const config = tempDir('tcb-numbers-confirm-');

beforeAll(async () => {
  sb = await startSandbox({ port: 0 });
  numbersSandbox(sb.state).config.processingMs = 0;
});
afterAll(async () => {
  await sb.close();
  config.cleanup();
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

const input = (numbers: string[], featureSet = PRIO1) => ({
  args: [numbers],
  opts: { featureSet },
  command: {} as Command,
});

describe('delist confirmation on a terminal', () => {
  it('asks naming the count and the feature set; "no" sends nothing', async () => {
    const { ctx, questions } = terminalContext(false);
    await expect(runChange(ctx, 'delist', input(['919810001000', '919810001037']))).rejects.toBeInstanceOf(UsageError);
    expect(questions).toEqual([`Delist 2 numbers from feature set "prio1" (${PRIO1})?`]);
    expect(sb.counters().requests['numbers-delist']).toBeUndefined();
    expect(sb.state.numbers.find((n) => n.phone_number === '919810001000')?.status).toBe('listed');
  });

  it('"yes" delists and prints the human summary', async () => {
    const { ctx, questions, stdout } = terminalContext(true);
    await runChange(ctx, 'delist', input(['919810001000']));
    expect(questions).toHaveLength(1);
    expect(stdout()).toContain('existing_numbers');
    expect(sb.counters().requests['numbers-delist']).toBe(1);
  });

  it('--yes skips the question; publish never asks', async () => {
    const withYes = terminalContext(false, { yes: true });
    await runChange(withYes.ctx, 'delist', input(['919810001037']));
    expect(withYes.questions).toEqual([]);
    const publish = terminalContext(false);
    await runChange(publish.ctx, 'publish', input(['919810001037']));
    expect(publish.questions).toEqual([]);
  });
});
