// Bad input, run as a child process (no TTY) against the sandbox: every case is exit 2 (or 130)
// with a message naming the problem and its place, and nothing reaches the API.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, baseEnv, errorEnvelope, startHarness, tempDir, type Harness, type RunResult } from '../helpers/cli.js';

const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';
const PRIO1 = '069d2e3a-41e6-41f9-a768-157d7e3bd6b9';
const HEADER = 'caller_number,receiver_number,starts_at,ends_at,label_id,dynamic_label_name,dynamic_call_reason';

let h: Harness;
const files = tempDir('tcb-bad-input-');
let serial = 0;

beforeAll(async () => {
  h = await startHarness({ rateLimits: { 'cp-batch-v2': { limit: 100, windowMs: 1000 } } });
});
afterAll(async () => {
  await h.close();
  files.cleanup();
});
beforeEach(async () => {
  await fetch(`${h.sandbox.url}/__sandbox/reset`, { method: 'POST' });
});

function file(name: string, content: string | Buffer): string {
  const target = path.join(files.dir, `${serial++}-${name}`);
  writeFileSync(target, content);
  return target;
}

/** A valid row; `patch` replaces cells by column name. */
function row(i: number, patch: Partial<Record<string, string>> = {}): string {
  const now = Date.now() + 60_000;
  const cells: Record<string, string> = {
    caller_number: `91800${String(i).padStart(7, '0')}`,
    receiver_number: `9190${String(i).padStart(6, '0')}55`,
    starts_at: String(now),
    ends_at: String(now + 3_600_000),
    label_id: LABEL,
    dynamic_label_name: 'Acme Bank',
    dynamic_call_reason: 'Your parcel is on its way',
    ...patch,
  };
  return HEADER.split(',').map((name) => cells[name]).join(',');
}

function nothingSent(): void {
  const counters = h.sandbox.counters();
  expect(counters.requests).toEqual({});
  expect(counters.tokensCreated).toBe(0);
}

function usage(result: RunResult): { message: string; hint: string | null } {
  expect(result.code, result.stderr).toBe(2);
  const envelope = errorEnvelope(result.stderr);
  expect(envelope.exit_code).toBe(2);
  return envelope;
}

/**
 * Runs tcb with stdin fed from `chunk` repeated for as long as tcb reads it (at most `capBytes`),
 * like `tcb … < /dev/zero`. Returns how much was written before tcb gave up.
 */
function runFeeding(args: string[], chunk: Buffer, capBytes = 64 * 1024 * 1024): Promise<RunResult & { written: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: baseEnv(h.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let written = 0;
    let closed = false;
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    child.stdin.on('error', () => {});
    const feed = () => {
      while (!closed && written < capBytes) {
        written += chunk.length;
        if (!child.stdin.write(chunk)) {
          child.stdin.once('drain', feed);
          return;
        }
      }
      if (!closed) child.stdin.end();
    };
    child.on('error', reject);
    child.on('close', (code, signal) => {
      closed = true;
      resolve({ code, signal, stdout, stderr, written });
    });
    feed();
  });
}

describe('call-reason upload: encoding and characters', () => {
  it('a Latin-1 label name is "not valid UTF-8" at its line; nothing is sent', async () => {
    const latin1 = Buffer.concat([
      Buffer.from(`${HEADER}\n${row(1)}\n`),
      Buffer.from(row(2, { dynamic_label_name: 'Jos\u00e9 Ba\u00f1o' }), 'latin1'),
      Buffer.from('\n'),
    ]);
    const envelope = usage(await h.run(['call-reason', 'upload', file('latin1.csv', latin1)]));
    expect(envelope.message).toContain('line 3: dynamic_label_name is not valid UTF-8');
    nothingSent();
  });

  it('a byte that is not UTF-8 in the reason is named as such, not as a special character', async () => {
    const bad = Buffer.concat([Buffer.from(`${HEADER}\n`), Buffer.from(row(1, { dynamic_call_reason: 'Your order \u00e9s here' }), 'latin1')]);
    const envelope = usage(await h.run(['call-reason', 'upload', file('reason.csv', bad)]));
    expect(envelope.message).toContain('line 2: dynamic_call_reason is not valid UTF-8');
    expect(envelope.message).not.toContain('special character');
    nothingSent();
  });

  it('NUL, ESC and BEL in a label name are control characters; nothing is sent', async () => {
    const csv = [HEADER, row(1, { dynamic_label_name: 'Acme\u0007Bank' }), row(2, { dynamic_label_name: 'Acme\u001bBank' }), row(3, { dynamic_label_name: 'Acme\u0000Bank' })].join('\n');
    const envelope = usage(await h.run(['call-reason', 'upload', file('ctrl.csv', `${csv}\n`)]));
    expect(envelope.message).toContain('line 2: dynamic_label_name has a control character (\\u0007)');
    expect(envelope.message).toContain('line 3: dynamic_label_name has a control character (\\u001b)');
    expect(envelope.message).toContain('line 4: dynamic_label_name has a control character (\\u0000)');
    nothingSent();
  });

  it('push refuses a control character in --label-name before sending', async () => {
    const envelope = usage(
      await h.run(['call-reason', 'push', '--caller', '911234567890', '--receiver', '919876543210', '--label-id', LABEL, '--label-name', 'Acme\u0007Bank', '--duration', '1h']),
    );
    expect(envelope.message).toContain('dynamic_label_name has a control character (\\u0007)');
    nothingSent();
  });

  it('UTF-16 (big-endian, or little-endian without a BOM) and binary files are named for what they are', async () => {
    const text = `${HEADER}\n${row(1)}\n`;
    const cases: [string, Buffer, RegExp][] = [
      ['be.csv', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()]), /is UTF-16 \(big-endian\) text, not UTF-8/],
      ['le.csv', Buffer.from(text, 'utf16le'), /is UTF-16 \(little-endian\) text without a byte-order mark, not UTF-8/],
      ['bin.csv', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0x2c, 0x0a, 0xff, 0x00]), /is not a text file \(binary data\)/],
    ];
    for (const [name, content, pattern] of cases) {
      const envelope = usage(await h.run(['call-reason', 'upload', file(name, content)]));
      expect(envelope.message).toMatch(pattern);
      expect(envelope.message).not.toContain('no caller_number column');
    }
    nothingSent();
  });

  it('lines of only spaces or tabs are skipped like blank lines', async () => {
    const csv = `${HEADER}\n${row(1)}\n   \n\t\n${row(2)}\n \n`;
    const result = await h.run(['call-reason', 'upload', file('ws.csv', csv), '--rate-limit', '100/s', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ rows: 2, valid: 2, invalid: 0, records_accepted: 2 });
  });

  it('an empty stdin is called stdin, not a temporary path', async () => {
    const envelope = usage(await h.run(['call-reason', 'upload', '-'], { input: '' }));
    expect(envelope.message).toBe('stdin is empty: expected a header row and data rows');
    nothingSent();
  });
});

describe('bounded input', () => {
  it('a record longer than 64 KiB is refused at its line', async () => {
    const csv = `${HEADER}\n${row(1)}\n${row(2, { dynamic_call_reason: 'x'.repeat(100 * 1024) })}\n`;
    const envelope = usage(await h.run(['call-reason', 'upload', file('long.csv', csv)]));
    expect(envelope.message).toMatch(/: line 3: the record is longer than 64 KiB$/);
    nothingSent();
  });

  it('upload - fed zeros forever (like < /dev/zero) stops at once: not a text file', async () => {
    const result = await runFeeding(['call-reason', 'upload', '-'], Buffer.alloc(64 * 1024));
    expect(usage(result).message).toMatch(/^stdin is not a text file/);
    expect(result.written).toBeLessThan(8 * 1024 * 1024);
    nothingSent();
  });

  it('upload - fed one endless line stops after 64 KiB of it', async () => {
    const result = await runFeeding(['call-reason', 'upload', '-'], Buffer.alloc(64 * 1024, 'a'));
    expect(usage(result).message).toBe('stdin: line 1: the record is longer than 64 KiB');
    expect(result.written).toBeLessThan(8 * 1024 * 1024);
    nothingSent();
  });

  it('numbers --file - fed random-looking bytes without line breaks stops after 1 KiB of a line', async () => {
    const result = await runFeeding(['numbers', 'publish', '--feature-set', PRIO1, '--file', '-'], Buffer.alloc(64 * 1024, '7'));
    expect(usage(result).message).toBe('stdin:1: the line is longer than 1 KiB');
    expect(result.written).toBeLessThan(8 * 1024 * 1024);
    nothingSent();
  });

  it('numbers --file of a binary file is named as such', async () => {
    const binary = Buffer.alloc(8192);
    for (let i = 0; i < binary.length; i += 1) binary[i] = (i * 7919) % 256;
    const envelope = usage(await h.run(['numbers', 'publish', '--feature-set', PRIO1, '--file', file('numbers.bin', binary)]));
    expect(envelope.message).toMatch(/numbers\.bin is not a text file \(binary data\)/);
    nothingSent();
  });

  it('100 000 invalid numbers: the message lists 20, the details hold 20 and a count; stderr stays small', async () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => `bad-number-${i}-${'x'.repeat(200)}`).join('\n');
    const result = await h.run(['numbers', 'publish', '--feature-set', PRIO1, '--file', file('bad.txt', lines)]);
    const envelope = usage(result) as unknown as { message: string; details: { invalid: { input: string }[]; invalid_count: number } };
    expect(envelope.details.invalid_count).toBe(100_000);
    expect(envelope.details.invalid).toHaveLength(20);
    for (const entry of envelope.details.invalid) expect(entry.input.length).toBeLessThanOrEqual(65);
    expect(envelope.message).toContain('… and 99980 more');
    expect(result.stderr.length).toBeLessThan(20_000);
    nothingSent();
  });

  it('a zero-width space in a number is shown escaped', async () => {
    const envelope = usage(await h.run(['numbers', 'publish', '--feature-set', PRIO1, '919810001000\u200b']));
    expect(envelope.message).toContain('argument 1: "919810001000\\u200b" has characters other than digits');
    nothingSent();
  });
});

describe('paths', () => {
  it('a symlink loop, an over-long name and a directory are exit 2 naming the path, for every input flag', async () => {
    const dir = path.join(files.dir, 'paths');
    mkdirSync(dir);
    symlinkSync(path.join(dir, 'loop-b'), path.join(dir, 'loop-a'));
    symlinkSync(path.join(dir, 'loop-a'), path.join(dir, 'loop-b'));
    const loop = path.join(dir, 'loop-a');
    const long = path.join(dir, 'n'.repeat(300));
    const cases: [string[], string, RegExp][] = [
      [['call-reason', 'upload', loop], loop, /\(ELOOP\)/],
      [['call-reason', 'upload', long], long.slice(0, 100), /…n+: the name is too long \(ENAMETOOLONG\)/],
      [['call-reason', 'upload', dir], dir, /it is a directory/],
      [['numbers', 'publish', '--feature-set', PRIO1, '--file', loop], `--file ${loop}`, /\(ELOOP\)/],
      [['numbers', 'publish', '--feature-set', PRIO1, '--file', long], `--file ${long.slice(0, 100)}`, /\(ENAMETOOLONG\)/],
      [['numbers', 'publish', '--feature-set', PRIO1, '--file', dir], `--file ${dir}`, /\(EISDIR\)/],
      [['batch', 'status', '--journal', loop], loop, /\(ELOOP\)/],
      [['batch', 'status', '--upload', dir], dir, /\(EISDIR\)/],
    ];
    for (const [args, named, pattern] of cases) {
      const envelope = usage(await h.run(args));
      expect(envelope.message, args.join(' ')).toContain(`cannot read ${named}`);
      expect(envelope.message, args.join(' ')).toMatch(pattern);
    }
    nothingSent();
  });
});

describe('times', () => {
  it('times outside 1970-9999 are exit 2 naming the flag, not "Invalid time value"', async () => {
    const cases: string[][] = [
      ['--from', '99999999999999999999'],
      ['--from', '10000000000000000'],
      ['--from', '-1d', '--to', '+1000000000d'],
      ['--from', '1960-01-01'],
    ];
    for (const flags of cases) {
      const envelope = usage(await h.run(['cmb', 'export', ...flags]));
      expect(envelope.message, flags.join(' ')).toMatch(/^--(from|to): ".*" is outside the years 1970 to 9999$/);
    }
    nothingSent();
  });

  it('--from in the future with the default --to is refused before sending (cmb and feedback)', async () => {
    for (const args of [['cmb', 'export', '--from', '+2d'], ['feedback', 'export', '--survey-id', 'abc', '--from', '+2d']]) {
      const envelope = usage(await h.run(args));
      expect(envelope.message).toMatch(/^--from \(.*\) is in the future; --to defaults to now/);
    }
    nothingSent();
  });

  it('--from 0 gets a useful hint', async () => {
    const envelope = usage(await h.run(['cmb', 'export', '--from', '0']));
    expect(envelope.message).toMatch(/not a plausible time/);
    expect(envelope.message).not.toMatch(/try 0+\)/);
  });
});

describe('limits on flags and settings', () => {
  it('--interval below 1 s is exit 2 on every command that polls, before anything is sent', async () => {
    const csv = file('ok.csv', `${HEADER}\n${row(1)}\n`);
    const commands = [
      ['numbers', 'publish', '--feature-set', PRIO1, '919810001000', '--wait', '--interval', '1ms'],
      ['numbers', 'sync', '--feature-set', PRIO1, '--file', csv, '--wait', '--interval', '1ms'],
      ['call-reason', 'upload', csv, '--wait', '--interval', '1ms'],
      ['batch', 'status', 'b72f7a40-ec3a-462f-b528-da0e8dc87e79', '--wait', '--interval', '1ms'],
    ];
    for (const args of commands) {
      const envelope = usage(await h.run(args));
      expect(envelope.message, args[0]).toBe('--interval must be at least 1s (got "1ms")');
    }
    nothingSent();
  });

  it('TCB_MAX_RETRIES is capped at 20', async () => {
    const refused = usage(await h.run(['labels', 'list'], { env: { TCB_MAX_RETRIES: '1000000' } }));
    expect(refused.message).toBe('TCB_MAX_RETRIES must be a whole number from 0 to 20 (got "1000000")');
    nothingSent();
    expect((await h.run(['labels', 'list'], { env: { TCB_MAX_RETRIES: '20' } })).code).toBe(0);
  });

  it('--limit 99999999999999999999 names the maximum', async () => {
    const envelope = usage(await h.run(['labels', 'list', '--limit', '99999999999999999999']));
    expect(envelope.message).toBe('--limit must be a whole number from 1 to 2147483647 (got "99999999999999999999")');
    nothingSent();
  });

  it('a group without a subcommand answers with the JSON envelope when JSON is asked for, else its help', async () => {
    for (const args of [['labels', '--json'], ['--json'], ['--format', 'ndjson', 'auth']]) {
      const result = await h.run(args);
      expect(result.stdout).toBe('');
      const envelope = usage(result);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(envelope.message).toMatch(/^tcb( \w+)? needs a (sub)?command: /);
    }
    expect(usage(await h.run(['labels', '--json'])).message).toBe('tcb labels needs a subcommand: list');
    const viaEnv = await h.run(['auth'], { env: { TCB_FORMAT: 'json' } });
    expect(usage(viaEnv).message).toBe('tcb auth needs a subcommand: login, status, token, logout');
    const plain = await h.run(['labels']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/^Usage: tcb labels/);
  });
});

describe('cron with an unwritable HOME and no TCB_CONFIG_DIR', () => {
  const cronEnv = () => ({ HOME: file('home-is-a-file', ''), TCB_CONFIG_DIR: undefined, XDG_CONFIG_HOME: undefined });

  it('read-only commands run with environment credentials, one token per run, and say how to fix it', async () => {
    const env = cronEnv();
    const first = await h.run(['labels', 'list', '--verbose'], { env });
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).length).toBeGreaterThan(0);
    expect(first.stderr).toMatch(/Warning: cannot write the config directory .*home-is-a-file.*: tokens are not cached.*set TCB_CONFIG_DIR/);
    const second = await h.run(['feature-sets', 'list'], { env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toBe('');
    expect(h.sandbox.counters().tokensCreated).toBe(2);
  });

  it('an upload, which needs its journal, is exit 2 naming the location; nothing is sent', async () => {
    const csv = file('cron.csv', `${HEADER}\n${row(1)}\n`);
    const envelope = usage(await h.run(['call-reason', 'upload', csv], { env: cronEnv() }));
    expect(envelope.message).toMatch(/^cannot use .*home-is-a-file.*\(ENOTDIR\)$/);
    expect(envelope.hint).toContain('TCB_CONFIG_DIR');
    nothingSent();
  });
});

describe('signals while stdin is being spooled', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while upload - waits on a silent producer: exit 130 at once, nothing sent, temp copy removed`, async () => {
      const tmp = path.join(files.dir, `tmp-${signal}`);
      mkdirSync(tmp);
      const child = spawn(process.execPath, [BIN, 'call-reason', 'upload', '-', '--verbose'], {
        cwd: ROOT,
        env: baseEnv({ ...h.env, TMPDIR: tmp }),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stderr = '';
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      // The producer sends a header and then hangs: stdin stays open for the whole test.
      child.stdin.on('error', () => {});
      child.stdin.write(`${HEADER}\n`);
      await new Promise<void>((resolve) => {
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
          stderr += chunk;
          if (stderr.includes('reading stdin into a temporary file')) resolve();
        });
      });
      expect(readdirSync(tmp)).toHaveLength(1);
      child.kill(signal);
      expect(await closed).toBe(130);
      expect(errorEnvelope(stderr)).toMatchObject({ code: 'interrupted', message: 'interrupted while reading stdin: nothing was sent' });
      expect(readdirSync(tmp)).toEqual([]);
      nothingSent();
      child.stdin.destroy();
    });
  }
});
