import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { fileError, openAtomicFile, removePendingTempFilesSync } from '../../src/output/atomic-file.js';
import { checkDestination, checkDestinations, configDirRule, sqliteCompanions } from '../../src/output/destination.js';

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

/** The whole refusal: message, field and hint. */
async function refused(promise: Promise<unknown>): Promise<{ message: string; field?: string; hint?: string; exitCode: number }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UsageError);
  const { message, field, hint, exitCode } = error as UsageError;
  return { message, field, hint, exitCode };
}

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

describe('checkDestination: what the user is told', () => {
  it('an empty name, a NUL character, a trailing slash', async () => {
    expect(await refused(check('  '))).toEqual({ message: '--output is empty', field: 'output', hint: undefined, exitCode: 2 });
    expect(await refused(check('a\0b.csv'))).toEqual({ message: '--output a\0b.csv: the name holds a NUL character', field: 'output', hint: undefined, exitCode: 2 });
    expect(await refused(check('out/'))).toEqual({
      message: '--output out/: names a folder (it ends with a slash); give a file name',
      field: 'output',
      hint: 'e.g. out/export.csv',
      exitCode: 2,
    });
    expect(await refused(check('out\\'))).toMatchObject({ message: '--output out\\: names a folder (it ends with a slash); give a file name' });
  });

  it('the flag is named as given, without its dashes in the field', async () => {
    const error = await refused(checkDestination({ flag: '--skip-invalid', given: dir }, { protect: [], configDir: config }));
    expect(error).toEqual({
      message: `--skip-invalid ${dir}: is a directory`,
      field: 'skip-invalid',
      hint: `give a file name, e.g. ${path.join(dir, 'export.csv')}`,
      exitCode: 2,
    });
  });

  it('a protected file, the config directory, a device, a read-only file: each with its reason and hint', async () => {
    const input = path.join(dir, 'calls.csv');
    writeFileSync(input, 'x');
    expect(await refused(check(input, [{ path: input, what: 'the input file' }]))).toEqual({
      message: `--output ${input}: that is the input file; writing there would destroy it`,
      field: 'output',
      hint: 'choose another file name',
      exitCode: 2,
    });
    expect(await refused(check(path.join(config, 'tokens.json')))).toEqual({
      message: `--output ${path.join(config, 'tokens.json')}: that is inside tcb's own configuration directory (${config}), next to its profiles, tokens, cursors and journals`,
      field: 'output',
      hint: 'write the file somewhere else',
      exitCode: 2,
    });
    expect(await refused(check('/dev/null'))).toEqual({
      message: '--output /dev/null: is not a regular file (a device, FIFO or socket)',
      field: 'output',
      hint: 'leave out --output to write to stdout, and redirect that',
      exitCode: 2,
    });
    const readOnly = path.join(dir, 'ro.csv');
    writeFileSync(readOnly, 'x');
    chmodSync(readOnly, 0o444);
    expect(await refused(check(readOnly))).toEqual({
      message: `--output ${readOnly}: is read-only; it is not replaced without --force`,
      field: 'output',
      hint: 'pass --force to replace it, or choose another name',
      exitCode: 2,
    });
  });

  it('a file with any write bit is not read-only; one with none is, whoever runs tcb', async () => {
    const file = path.join(dir, 'w.csv');
    writeFileSync(file, 'x');
    for (const mode of [0o200, 0o020, 0o002, 0o644]) {
      chmodSync(file, mode);
      expect((await check(file)).path, mode.toString(8)).toBe(file);
    }
    chmodSync(file, 0o555);
    expect(await refusal(check(file))).toMatch(/is read-only/);
  });

  it('links: a loop on the way to the file, and one at the file itself, name the problem', async () => {
    symlinkSync(path.join(dir, 'loop-b'), path.join(dir, 'loop-a'));
    symlinkSync(path.join(dir, 'loop-a'), path.join(dir, 'loop-b'));
    for (const given of [path.join(dir, 'loop-a'), path.join(dir, 'loop-a', 'out.csv')]) {
      expect(await refused(check(given))).toEqual({
        message: `--output ${given}: too many levels of symbolic links (a loop?)`,
        field: 'output',
        hint: undefined,
        exitCode: 2,
      });
    }
    writeFileSync(path.join(dir, 'plain'), 'x');
    expect((await refused(check(path.join(dir, 'plain', 'deeper', 'out.csv')))).message).toBe(
      `--output ${path.join(dir, 'plain', 'deeper', 'out.csv')}: a part of the path is a file, not a folder`,
    );
    expect((await refused(check(path.join(dir, `${'x'.repeat(300)}`, 'out.csv')))).message).toMatch(/: the name is too long$/);
  });

  it('a chain of links is followed to the end, relative links from their own folder', async () => {
    mkdirSync(path.join(dir, 'real'));
    mkdirSync(path.join(dir, 'links'));
    symlinkSync('../real/final.csv', path.join(dir, 'links', 'step2.csv'));
    symlinkSync(path.join(dir, 'links', 'step2.csv'), path.join(dir, 'step1.csv'));
    expect(await check(path.join(dir, 'step1.csv'))).toEqual({
      flag: '--output',
      given: path.join(dir, 'step1.csv'),
      path: path.join(dir, 'real', 'final.csv'),
      missingDirs: [],
    });
    // A link to a file in folders that do not exist yet: those folders are listed to create.
    symlinkSync(path.join(dir, 'here', 'there', 'f.csv'), path.join(dir, 'far.csv'));
    expect((await check(path.join(dir, 'far.csv'))).missingDirs).toEqual([path.join(dir, 'here'), path.join(dir, 'here', 'there')]);
  });

  it('a protected file is recognised before it exists, also through a linked folder or a missing one', async () => {
    symlinkSync(config, path.join(dir, 'cfg-link'));
    mkdirSync(path.join(dir, 'data'));
    symlinkSync(path.join(dir, 'data'), path.join(dir, 'data-link'));
    const store = path.join(dir, 'data-link', 'wh.sqlite');
    expect(await refusal(check(path.join(dir, 'data', 'wh.sqlite-wal'), sqliteCompanions(store)))).toMatch(/the webhook store's wal file/);
    const future = path.join(dir, 'later', 'not-yet', 'input.csv');
    expect(await refusal(check(future, [{ path: future, what: 'the input file' }]))).toMatch(/that is the input file/);
    // The config directory given through a link is still tcb's own.
    const viaLink = await refused(checkDestination({ flag: '--output', given: path.join(config, 'x.json') }, { protect: [], configDir: path.join(dir, 'cfg-link') }));
    expect(viaLink.message).toMatch(/inside tcb's own configuration directory/);
    // An unrelated existing file is no protected file.
    writeFileSync(path.join(dir, 'other.csv'), 'x');
    expect((await check(path.join(dir, 'new.csv'), [{ path: path.join(dir, 'other.csv'), what: 'the input file' }])).path).toBe(path.join(dir, 'new.csv'));
  });

  it('names the SQLite companions of a store', () => {
    expect(sqliteCompanions('/d/wh.sqlite')).toEqual([
      { path: '/d/wh.sqlite', what: 'the webhook store' },
      { path: '/d/wh.sqlite-wal', what: "the webhook store's wal file" },
      { path: '/d/wh.sqlite-shm', what: "the webhook store's shm file" },
      { path: '/d/wh.sqlite-journal', what: "the webhook store's journal file" },
    ]);
    expect(sqliteCompanions('/d/s', 'the store')[1]).toEqual({ path: '/d/s-wal', what: "the store's wal file" });
    expect(configDirRule('cfg')).toEqual({ dir: path.resolve('cfg'), journals: path.resolve('cfg', 'uploads') });
  });

  it("checkDestinations still protects the run's own files", async () => {
    const input = path.join(dir, 'calls.csv');
    writeFileSync(input, 'x');
    const message = await refusal(checkDestinations([{ flag: '--report', given: input }], { protect: [{ path: input, what: 'the input file' }], configDir: config }));
    expect(message).toBe(`--report ${input}: that is the input file; writing there would destroy it`);
  });

  it('checkDestinations keeps the places of flags not given, and lets different files through', async () => {
    const checked = await checkDestinations(
      [undefined, { flag: '--report', given: path.join(dir, 'r.json') }, undefined, { flag: '--skip-invalid', given: path.join(dir, 's.csv') }],
      { protect: [], configDir: config },
    );
    expect(checked).toEqual([
      undefined,
      { flag: '--report', given: path.join(dir, 'r.json'), path: path.join(dir, 'r.json'), missingDirs: [] },
      undefined,
      { flag: '--skip-invalid', given: path.join(dir, 's.csv'), path: path.join(dir, 's.csv'), missingDirs: [] },
    ]);
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

  it('a folder another process created meanwhile is used, and left in place on abort', async () => {
    const destination = await check(path.join(dir, 'made', 'out.csv'));
    expect(destination.missingDirs).toEqual([path.join(dir, 'made')]);
    mkdirSync(path.join(dir, 'made'));
    const file = await openAtomicFile(destination);
    await file.abort();
    expect(readdirSync(path.join(dir, 'made'))).toEqual([]);
  });

  it('the folders created are removed only while empty', async () => {
    const destination = await check(path.join(dir, 'x', 'y', 'out.csv'));
    const file = await openAtomicFile(destination);
    writeFileSync(path.join(dir, 'x', 'keep.txt'), 'someone else');
    await file.abort();
    expect(readdirSync(path.join(dir, 'x'))).toEqual(['keep.txt']);
  });

  it('a failure to open removes the folders it created so far', async () => {
    writeFileSync(path.join(dir, 'blocker'), 'x');
    const target = path.join(dir, 'blocker', 'q', 'out.csv');
    // Folders to create as checkDestination lists them; the second cannot be made (a file is in the way).
    const destination = { flag: '--output', given: target, path: target, missingDirs: [path.join(dir, 'p'), path.join(dir, 'blocker', 'q')] };
    expect((await refused(openAtomicFile(destination))).message).toBe(`cannot write ${target}: a part of the path is not a folder`);
    expect(readdirSync(dir).sort()).toEqual(['blocker', 'config']);
  });

  it('a write error (disk full) surfaces at the next write and at commit, naming the file; nothing is left', async () => {
    const target = path.join(dir, 'full.csv');
    const file = await openAtomicFile(target);
    await file.write('some data');
    file.stream.emit('error', Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    expect((await refused(file.write('more'))).message).toBe(`cannot write ${target}: the disk is full`);
    expect((await refused(file.commit())).message).toBe(`cannot write ${target}: the disk is full`);
    expect(readdirSync(dir)).toEqual(['config']);
  });

  it('a write larger than the stream buffer arrives whole', async () => {
    const target = path.join(dir, 'big.csv');
    const file = await openAtomicFile(target);
    const line = `${'x'.repeat(99)}\n`;
    await file.write(line.repeat(5_000));
    await file.write('end\n');
    await file.commit();
    expect(readFileSync(target, 'utf8')).toBe(`${line.repeat(5_000)}end\n`);
  });

  it('a folder that cannot be made for another reason keeps its own error (not "a file in the way")', async () => {
    const target = path.join(dir, 'n'.repeat(300), 'out.csv');
    const error = await openAtomicFile(target).catch((e: unknown) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('ENAMETOOLONG');
    expect(readdirSync(dir)).toEqual(['config']);
  });

  it('removePendingTempFilesSync (the last moment before exit) removes open temporary files and the folders made for them', async () => {
    const destination = await check(path.join(dir, 'n1', 'n2', 'out.csv'));
    const file = await openAtomicFile(destination);
    await file.write('partial');
    const kept = path.join(dir, 'k', 'out.csv');
    const other = await openAtomicFile(await check(kept));
    writeFileSync(path.join(dir, 'k', 'mine.txt'), 'x');
    removePendingTempFilesSync();
    expect(existsSync(path.join(dir, 'n1'))).toBe(false);
    expect(readdirSync(path.join(dir, 'k'))).toEqual(['mine.txt']);
    removePendingTempFilesSync();
    await other.abort();
  });
});

describe('fileError: write failures the user can act on', () => {
  const fail = (code: string) => fileError(Object.assign(new Error(`${code}: failed`), { code }), '/out/x.csv');
  it.each([
    ['ENOSPC', 'the disk is full'],
    ['EDQUOT', 'the disk quota is exceeded'],
    ['EACCES', 'permission denied'],
    ['EPERM', 'permission denied'],
    ['EROFS', 'the file system is read-only'],
    ['EISDIR', 'it is a directory'],
    ['ENOTDIR', 'a part of the path is not a folder'],
    ['ENOENT', 'its folder disappeared'],
    ['EEXIST', 'a file with the temporary name exists'],
  ])('%s: exit 2 naming the file', (code, reason) => {
    const error = fail(code) as UsageError;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toBe(`cannot write /out/x.csv: ${reason}`);
    expect(error.exitCode).toBe(2);
    expect((error.cause as NodeJS.ErrnoException).code).toBe(code);
  });

  it('anything else is returned as it was', () => {
    const other = Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    expect(fileError(other, '/out/x.csv')).toBe(other);
    const plain = new Error('boom');
    expect(fileError(plain, '/out/x.csv')).toBe(plain);
  });
});
