import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli.js';
import { allCommandPaths } from '../../src/help/help.js';
import { ROOT, runTcb } from '../helpers/cli.js';

const TOPICS = readdirSync(path.join(ROOT, 'src', 'help', 'topics'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => f.slice(0, -3));

describe('tcb help', () => {
  it('ships the topics the manual promises', () => {
    for (const topic of ['environment', 'exit-codes', 'formats', 'cron', 'upload', 'webhooks', 'sandbox']) {
      expect(TOPICS).toContain(topic);
    }
  });

  it.each(TOPICS)('prints the %s topic as plain text when stdout is not a terminal', async (topic) => {
    const result = await runTcb(['help', topic]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.split('\n');
    // The title comes first, underlined; no Markdown markup is left over.
    expect(lines[1]).toMatch(/^=+$/);
    expect(result.stdout).not.toMatch(/^```/m);
    expect(result.stdout).not.toMatch(/^#{1,6} /m);
    expect(result.stdout).not.toMatch(/\*\*[^*]+\*\*/);
    expect(result.stdout.length).toBeGreaterThan(300);
  });

  it('lists every topic beside the commands', async () => {
    const result = await runTcb(['help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: tcb');
    for (const topic of [...TOPICS, 'reference']) expect(result.stdout).toMatch(new RegExp(`^  ${topic} +\\S`, 'm'));
  });

  it('generates a reference that names every command, its flags, defaults and choices', async () => {
    const result = await runTcb(['help', 'reference']);
    expect(result.code).toBe(0);
    const paths = allCommandPaths(buildProgram()).filter((p) => p !== 'tcb help');
    expect(paths.length).toBeGreaterThan(15);
    for (const commandPath of paths) expect(result.stdout).toContain(`\n${commandPath}\n`);
    expect(result.stdout).toContain('--batch-size <n>');
    expect(result.stdout).toMatch(/--time-unit <unit>[\s\S]*?\(choices: "ms", "s", default: "ms"\)/);
    expect(result.stdout).toContain('$ tcb call-reason upload calls.csv --dry-run');
    expect(result.stdout).toMatch(/^\| 130 \| interrupted/m);
  });

  it('shows a command\'s own help for a command path', async () => {
    const result = await runTcb(['help', 'numbers', 'publish']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: tcb numbers publish \[options\] \[numbers\.\.\.\]/);
  });

  it('refuses an unknown topic with exit 2 and lists the topics', async () => {
    const result = await runTcb(['help', 'no-such-topic']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const envelope = JSON.parse(result.stderr) as { error: { message: string; hint: string } };
    expect(envelope.error.message).toBe('no help topic or command "no-such-topic"');
    expect(envelope.error.hint).toContain('exit-codes');
  });
});
