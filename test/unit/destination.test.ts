import { linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { openAtomicFile } from '../../src/output/atomic-file.js';
import { checkDestination, checkDestinations, sqliteCompanions } from '../../src/output/destination.js';

let dir: string;
let config: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tcb-dest-'));
  config = path.join(dir, 'config');
  mkdirSync(config);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const check = (given: string, protect: { path: string; what: string }[] = [], force = false) =>
  checkDestination({ flag: '--output', given, force }, { protect, configDir: config });

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UsageError);
  return (error as UsageError).message;
}

describe('checkDestination', () => {
  it('accepts a new file, and lists the folders it will create', async () => {
    const ok = await check(path.join(dir, 'a', 'b', 'out.csv'));
    expect(ok.path).toBe(path.join(dir, 'a', 'b', 'out.csv'));
    expect(ok.missingDirs).toEqual([path.join(dir, 'a'), path.join(dir, 'a', 'b')]);
  });

  it('follows symbolic links, also to a file that does not exist yet', async () => {
    mkdirSync(path.join(dir, 'real'));
    symlinkSync(path.join(dir, 'real', 'target.csv'), path.join(dir, 'dangling.csv'));
    expect((await check(path.join(dir, 'dangling.csv'))).path).toBe(path.join(dir, 'real', 'target.csv'));
  });

  it('refuses a protected file under any spelling: a link, ../, or a link to its folder', async () => {
    const input = path.join(dir, 'calls.csv');
    writeFileSync(input, 'x');
    const protect = [{ path: input, what: 'the input file' }];
    symlinkSync(input, path.join(dir, 'alias.csv'));
    symlinkSync(dir, path.join(dir, 'here'));
    for (const given of [input, path.join(dir, 'alias.csv'), path.join(dir, 'config', '..', 'calls.csv'), path.join(dir, 'here', 'calls.csv')]) {
      expect(await refusal(check(given, protect)), given).toMatch(/that is the input file/);
    }
  });

  it('refuses a hard link to a protected file (the same inode under another name)', async () => {
    const input = path.join(dir, 'calls.csv');
    writeFileSync(input, 'x');
    linkSync(input, path.join(dir, 'copy.csv'));
    // Same inode: refused too, since most people mean the same file.
    expect(await refusal(check(path.join(dir, 'copy.csv'), [{ path: input, what: 'the input file' }]))).toMatch(/input file/);
  });

  it('protects a SQLite store with its -wal, -shm and -journal files', async () => {
    const store = path.join(dir, 'wh.sqlite');
    for (const suffix of ['', '-wal', '-shm', '-journal']) {
      expect(await refusal(check(`${store}${suffix}`, sqliteCompanions(store)))).toMatch(/webhook store/);
    }
  });

  it("refuses tcb's own files: the config directory's top level and its journals", async () => {
    expect(await refusal(check(path.join(config, 'export-state.json')))).toMatch(/configuration directory/);
    expect(await refusal(check(path.join(config, 'uploads', 'deep', 'x.jsonl')))).toMatch(/configuration directory/);
    // A sub-folder of the user's own is fine.
    expect((await check(path.join(config, 'exports', 'cmb.csv'))).path).toBe(path.join(config, 'exports', 'cmb.csv'));
  });

  it('refuses directories, devices, loops, paths through a file, and names ending in a slash', async () => {
    expect(await refusal(check(dir))).toMatch(/is a directory/);
    expect(await refusal(check(`${path.join(dir, 'new-folder')}/`))).toMatch(/folder/);
    expect(await refusal(check('/dev/null'))).toMatch(/not a regular file/);
    symlinkSync(path.join(dir, 'loop-b'), path.join(dir, 'loop-a'));
    symlinkSync(path.join(dir, 'loop-a'), path.join(dir, 'loop-b'));
    expect(await refusal(check(path.join(dir, 'loop-a')))).toMatch(/symbolic links/);
    writeFileSync(path.join(dir, 'plain'), 'x');
    expect(await refusal(check(path.join(dir, 'plain', 'out.csv')))).toMatch(/not a folder/);
    expect(await refusal(check(path.join(dir, 'x'.repeat(300))))).toMatch(/too long/);
  });

  it('refuses a read-only file unless forced', async () => {
    const file = path.join(dir, 'ro.csv');
    writeFileSync(file, 'x', { mode: 0o444 });
    expect(await refusal(check(file))).toMatch(/read-only/);
    expect((await check(file, [], true)).path).toBe(file);
  });

  it('two destinations of one run may not be the same file', async () => {
    const file = path.join(dir, 'same.csv');
    const message = await refusal(
      checkDestinations(
        [
          { flag: '--skip-invalid', given: file },
          { flag: '--report', given: path.join(dir, '.', 'same.csv') },
        ],
        { protect: [], configDir: config },
      ),
    );
    expect(message).toMatch(/--report .*--skip-invalid file of this run/);
  });
});

describe('atomic files', () => {
  it('create missing folders, and remove them again with the temporary file on abort', async () => {
    const destination = await check(path.join(dir, 'a', 'b', 'out.csv'));
    const file = await openAtomicFile(destination);
    await file.write('partial');
    expect(readdirSync(path.join(dir, 'a', 'b'))).toHaveLength(1);
    await file.abort();
    expect(readdirSync(dir)).toEqual(['config']);
  });

  it('a commit that cannot rename leaves nothing behind and names the file', async () => {
    const destination = await check(path.join(dir, 'out.csv'));
    const file = await openAtomicFile(destination);
    await file.write('data');
    // The name became a directory meanwhile.
    mkdirSync(path.join(dir, 'out.csv', 'inner'), { recursive: true });
    const message = await refusal(file.commit());
    expect(message).toMatch(/cannot write .*out\.csv/);
    expect(readdirSync(dir).sort()).toEqual(['config', 'out.csv']);
    expect(readdirSync(path.join(dir, 'out.csv'))).toEqual(['inner']);
  });
});
