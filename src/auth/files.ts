import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { UsageError } from '../errors.js';

/** Owner-only: credential, token and state files. */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** File-system codes that mean the config location itself is unusable, not a bug in tcb. */
const UNUSABLE = new Set(['ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EEXIST', 'ELOOP']);

/** Turns a failure to use the config directory into an error that names the path (exit 2). */
export function configLocationError(error: unknown, file: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code && UNUSABLE.has(code)) {
    return new UsageError(`cannot use ${file} (${code})`, {
      hint: 'set TCB_CONFIG_DIR to a directory this user can write, or fix the permissions',
      cause: error,
    });
  }
  if (error instanceof SyntaxError) {
    return new UsageError(`${file} is not valid JSON: ${error.message}`, { hint: `fix or remove ${file}`, cause: error });
  }
  return error;
}

/** Why `dir` cannot be created or written (an error code such as EACCES), or undefined when it can. */
export function unwritableDirReason(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

/** Created owner-only; an existing directory is left as the user set it up. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (error) {
    throw configLocationError(error, dir);
  }
}

export async function readJsonFile<T>(file: string): Promise<T | undefined> {
  try {
    // Sync: a few hundred bytes, read on every command's path before anything else can run.
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (error) {
    // ENOTDIR: a part of the path is a file, so this file cannot exist either.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (error instanceof SyntaxError) return undefined; // a damaged cache is rebuilt, not fatal
    throw configLocationError(error, file);
  }
}

/** Write-then-rename so readers never see half a file; the mode is set on every write. */
export async function writePrivateJson(file: string, value: unknown): Promise<void> {
  await ensurePrivateDir(path.dirname(file));
  const { randomBytes } = await import('node:crypto');
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: PRIVATE_FILE_MODE });
    await chmod(temp, PRIVATE_FILE_MODE);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw configLocationError(error, file);
  }
}
