import { constants } from 'node:fs';
import { access, lstat, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';

/**
 * The one check every file tcb writes for the user goes through (--output, --skip-invalid,
 * --report …), run before any request is sent. It refuses, with exit 2 and nothing written:
 * - a path that is, after symbolic links, a file this run reads or owns: the input, the webhook
 *   store (and its -wal/-shm/-journal), tcb's config/token/cursor files, the upload journals;
 * - an existing directory, or something that is not a regular file (a FIFO, a device);
 * - a read-only file, unless --force;
 * - a folder this user cannot write in.
 * A missing folder is fine: it is created when the file is opened (and removed again if the
 * run fails). The file itself is then written atomically (atomic-file.ts).
 */

/** A file the destination must not be. */
export interface ProtectedPath {
  path: string;
  /** For the message: "the input file", "the webhook store" … */
  what: string;
}

export interface DestinationRequest {
  /** The flag that named the file, for messages (--output, --skip-invalid …). */
  flag: string;
  /** As given on the command line. */
  given: string;
  /** --force: replace a read-only file. */
  force?: boolean;
}

export interface Destination {
  flag: string;
  given: string;
  /** Absolute path to write, symbolic links resolved: the temporary file goes in its folder. */
  path: string;
  /** Folders that do not exist yet, outermost first; created when the file is opened. */
  missingDirs: string[];
}

/** The SQLite files next to a store: replacing any of them loses events. */
export function sqliteCompanions(store: string, what = 'the webhook store'): ProtectedPath[] {
  return ['', '-wal', '-shm', '-journal'].map((suffix) => ({ path: `${store}${suffix}`, what: suffix ? `${what}'s ${suffix.slice(1)} file` : what }));
}

/**
 * tcb's own files: everything at the top of the config directory (profiles, token cache,
 * --since-last cursors, locks) and the upload journals under it. Sub-folders other than the
 * journals' are the user's.
 */
export function configDirRule(configDir: string): { dir: string; journals: string } {
  return { dir: path.resolve(configDir), journals: path.resolve(configDir, 'uploads') };
}

const MAX_LINKS = 40;

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

function refuse(request: DestinationRequest, reason: string, hint?: string): UsageError {
  return new UsageError(`${request.flag} ${request.given}: ${reason}`, { field: request.flag.replace(/^--/, ''), hint });
}

/** Follows symbolic links by hand, so a link to a file that does not exist yet resolves too. */
async function resolveLinks(request: DestinationRequest, start: string): Promise<string> {
  let current = start;
  for (let i = 0; i < MAX_LINKS; i += 1) {
    let info;
    try {
      info = await lstat(current);
    } catch (error) {
      if (code(error) === 'ENOENT') {
        // Not there (yet): resolve its folder's links, which may exist.
        const parent = await realParent(request, path.dirname(current));
        return path.join(parent, path.basename(current));
      }
      throw pathError(request, error);
    }
    if (!info.isSymbolicLink()) {
      try {
        return await realpath(current);
      } catch (error) {
        throw pathError(request, error);
      }
    }
    current = path.resolve(path.dirname(current), await readlink(current));
  }
  throw refuse(request, 'too many levels of symbolic links (a loop?)');
}

/** The real path of the nearest existing ancestor, joined with the parts that do not exist. */
async function realParent(request: DestinationRequest, dir: string): Promise<string> {
  const missing: string[] = [];
  let current = dir;
  for (;;) {
    try {
      const real = await realpath(current);
      return path.join(real, ...missing.reverse());
    } catch (error) {
      if (code(error) !== 'ENOENT' || path.dirname(current) === current) throw pathError(request, error);
      missing.push(path.basename(current));
      current = path.dirname(current);
    }
  }
}

function pathError(request: DestinationRequest, error: unknown): unknown {
  switch (code(error)) {
    case 'ELOOP':
      return refuse(request, 'too many levels of symbolic links (a loop?)');
    case 'ENOTDIR':
      return refuse(request, 'a part of the path is a file, not a folder');
    case 'ENAMETOOLONG':
      return refuse(request, 'the name is too long');
    case 'EACCES':
    case 'EPERM':
      return refuse(request, 'permission denied on the way to it');
    default:
      return error;
  }
}

async function sameFile(a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  try {
    const [x, y] = await Promise.all([stat(a), stat(b)]);
    // Same inode under another name (case-insensitive file systems, bind mounts).
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

async function resolveProtected(file: string): Promise<string> {
  const absolute = path.resolve(file);
  try {
    return await realpath(absolute);
  } catch {
    try {
      return path.join(await realpath(path.dirname(absolute)), path.basename(absolute));
    } catch {
      return absolute;
    }
  }
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

export interface DestinationContext {
  /** Files this run reads or owns. */
  protect: readonly ProtectedPath[];
  /** TCB_CONFIG_DIR: its top level and its journals are tcb's own. */
  configDir: string;
}

/** Checks one destination (see the module comment). Throws UsageError (exit 2). */
export async function checkDestination(request: DestinationRequest, context: DestinationContext): Promise<Destination> {
  if (request.given.trim() === '') throw new UsageError(`${request.flag} is empty`, { field: request.flag.replace(/^--/, '') });
  if (request.given.includes('\0')) throw refuse(request, 'the name holds a NUL character');
  if (/[\\/]$/.test(request.given)) {
    throw refuse(request, 'names a folder (it ends with a slash); give a file name', `e.g. ${path.join(request.given, 'export.csv')}`);
  }
  const target = await resolveLinks(request, path.resolve(request.given));

  for (const guarded of context.protect) {
    if (await sameFile(target, await resolveProtected(guarded.path))) {
      throw refuse(request, `that is ${guarded.what}; writing there would destroy it`, 'choose another file name');
    }
  }
  const config = configDirRule(await resolveProtected(context.configDir));
  if (path.dirname(target) === config.dir || isInside(target, config.journals)) {
    throw refuse(
      request,
      `that is inside tcb's own configuration directory (${config.dir}), next to its profiles, tokens, cursors and journals`,
      'write the file somewhere else',
    );
  }

  let existing;
  try {
    existing = await stat(target);
  } catch (error) {
    if (code(error) !== 'ENOENT') throw pathError(request, error);
  }
  if (existing?.isDirectory()) {
    throw refuse(request, 'is a directory', `give a file name, e.g. ${path.join(request.given, 'export.csv')}`);
  }
  if (existing && !existing.isFile()) {
    throw refuse(request, 'is not a regular file (a device, FIFO or socket)', 'leave out --output to write to stdout, and redirect that');
  }
  if (existing && !request.force && !(await writable(target, existing.mode))) {
    throw refuse(request, 'is read-only; it is not replaced without --force', 'pass --force to replace it, or choose another name');
  }

  // The folder: the nearest one that exists must be a folder this user can write in.
  const missingDirs: string[] = [];
  let folder = path.dirname(target);
  for (;;) {
    let info;
    try {
      info = await stat(folder);
    } catch (error) {
      if (code(error) !== 'ENOENT') throw pathError(request, error);
      missingDirs.unshift(folder);
      folder = path.dirname(folder);
      continue;
    }
    if (!info.isDirectory()) throw refuse(request, `${folder} is a file, not a folder`);
    try {
      await access(folder, constants.W_OK | constants.X_OK);
    } catch (error) {
      const reason = code(error) === 'EROFS' ? 'is on a read-only file system' : 'is not writable by this user';
      throw refuse(request, `the folder ${folder} ${reason}`, 'choose a folder you can write in');
    }
    break;
  }
  return { flag: request.flag, given: request.given, path: target, missingDirs };
}

/** No write bit at all counts as read-only even for root, who may write anything. */
async function writable(file: string, mode: number): Promise<boolean> {
  if ((mode & 0o222) === 0) return false;
  try {
    await access(file, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks every destination of a run, and that no two of them are the same file (each is also
 * protected from the others).
 */
export async function checkDestinations(
  requests: readonly (DestinationRequest | undefined)[],
  context: DestinationContext,
): Promise<(Destination | undefined)[]> {
  const checked: (Destination | undefined)[] = [];
  const protect = [...context.protect];
  for (const request of requests) {
    if (!request) {
      checked.push(undefined);
      continue;
    }
    const destination = await checkDestination(request, { ...context, protect });
    protect.push({ path: destination.path, what: `the ${request.flag} file of this run` });
    checked.push(destination);
  }
  return checked;
}
