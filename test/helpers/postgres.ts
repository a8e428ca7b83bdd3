/**
 * A throwaway PostgreSQL server for tests and benchmarks: `initdb` + `pg_ctl` in a temporary folder,
 * on a free TCP port of 127.0.0.1, its unix socket in the same folder. Stopped and deleted by
 * destroy() (and, as a last resort, when the process exits).
 *
 * - The binaries are found on PATH, else under /usr/lib/postgresql/<version>/bin (Debian keeps them
 *   there). `.ci/run` installs the Debian package `postgresql` when neither has `initdb`.
 * - PostgreSQL refuses to run as root: as root, every server command runs as the `postgres` user
 *   (runuser, else su) and the folder is handed to that user.
 * - TCP connections need a password (scram-sha-256), so tests can prove a password never leaks;
 *   socket connections are trusted (admin work of the tests).
 *
 * No vitest import here: a test file calls startPostgres() in beforeAll and destroy() in afterAll
 * (one server per file, a database or schema per test), and the benchmarks load it too. A vitest
 * globalSetup shares one server between files:
 *
 *   export default async function setup({ provide }) {
 *     const server = await startPostgres();
 *     provide('pgPort', server.port);   // files: inject('pgPort')
 *     return () => server.destroy();
 *   }
 */
import { execFile, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export const PG_SUPERUSER = 'postgres';
const SERVER_USER = 'postgres';

export interface StartPostgresOptions {
  /** fsync at commit (default false: tests do not survive power cuts, and run faster without). */
  fsync?: boolean;
  /** Extra postgresql.conf lines. */
  settings?: Record<string, string | number>;
}

export interface PostgresServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The folder holding the data directory, the log and the unix socket. */
  readonly dir: string;
  readonly socketDir: string;
  /** The superuser's password (TCP connections need it). */
  readonly password: string;
  /** postgres://postgres@127.0.0.1:PORT/DB — without the password (give it through PGPASSWORD). */
  url(database?: string, user?: string): string;
  /** The same with the password inside (only for code in the test process, never for argv in assertions on output). */
  urlWithPassword(database?: string, user?: string, password?: string): string;
  /** PG* variables for a client process: host, port, user, database and PGPASSWORD. */
  env(database?: string, user?: string, password?: string): Record<string, string>;
  /** Runs SQL through the unix socket as the superuser (trusted) and returns the rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  /** Creates a fresh schema in the database `postgres` (quicker than a database) and returns its name. */
  createSchema(prefix?: string): Promise<string>;
  /** Creates a fresh database (optionally owned by a new role with that password) and returns its name. */
  createDatabase(prefix?: string, owner?: { user: string; password: string }): Promise<string>;
  /** Whether the server is running now. */
  readonly running: boolean;
  /** Stops the server (mode fast: clients are disconnected, the data stays). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it and deletes its folder. Idempotent. */
  destroy(): Promise<void>;
  /** The server log so far (for failure messages). */
  log(): string;
}

/** initdb/pg_ctl: on PATH, else the newest /usr/lib/postgresql/<version>/bin. undefined when absent. */
export function findPostgresBinary(name: 'initdb' | 'pg_ctl' | 'postgres'): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const candidate = path.join(root, version, 'bin', name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Where the server's folder goes: the temp dir, unless the postgres user could not reach it (as
 * root, a TMPDIR under /root) or the socket path would be too long (unix sockets allow ~107 bytes).
 */
function serverTempRoot(): string {
  const root = tmpdir();
  if (root.length > 60) return '/tmp';
  if (!isRoot()) return root;
  let dir = path.resolve(root);
  for (;;) {
    if ((statSync(dir).mode & 0o001) === 0) return '/tmp';
    const parent = path.dirname(dir);
    if (parent === dir) return root;
    dir = parent;
  }
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

function serverUserIds(): { uid: number; gid: number } {
  const result = spawnSync('id', ['-u', SERVER_USER], { encoding: 'utf8' });
  const group = spawnSync('id', ['-g', SERVER_USER], { encoding: 'utf8' });
  if (result.status !== 0 || group.status !== 0) {
    throw new Error(`running as root, PostgreSQL needs the "${SERVER_USER}" user (the Debian package creates it)`);
  }
  return { uid: Number(result.stdout.trim()), gid: Number(group.stdout.trim()) };
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A command line, run as the postgres user when we are root. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (!isRoot()) return [command, args];
  if (existsSync('/usr/sbin/runuser') || existsSync('/sbin/runuser') || existsSync('/usr/bin/runuser')) {
    return ['runuser', ['-u', SERVER_USER, '--', command, ...args]];
  }
  return ['su', [SERVER_USER, '-s', '/bin/sh', '-c', [command, ...args].map(shellQuote).join(' ')]];
}

function run(command: string, args: string[], timeoutMs = 120_000): Promise<{ stdout: string; stderr: string }> {
  const [file, argv] = asServerUser(command, args);
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: timeoutMs, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`), { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

/** A port that was free a moment ago (bound on port 0, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const live = new Set<{ pgCtl: string; data: string; dir: string }>();
let exitHookInstalled = false;

/** If a test process ends without destroy(), its servers must not outlive it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const server of live) {
      const [file, argv] = asServerUser(server.pgCtl, ['-D', server.data, '-m', 'immediate', '-w', 'stop']);
      spawnSync(file, argv, { stdio: 'ignore', timeout: 20_000 });
      rmSync(server.dir, { recursive: true, force: true });
    }
  });
}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const initdb = findPostgresBinary('initdb');
  const pgCtl = findPostgresBinary('pg_ctl');
  if (!initdb || !pgCtl) {
    throw new Error('PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql/*/bin); apt-get install postgresql');
  }
  const dir = mkdtempSync(path.join(serverTempRoot(), 'tcb-pg-'));
  const data = path.join(dir, 'data');
  const socketDir = dir;
  const logFile = path.join(dir, 'server.log');
  const passwordFile = path.join(dir, 'pwfile');
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const entry = { pgCtl, data, dir };
  try {
    chmodSync(dir, 0o700);
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    if (isRoot()) {
      const { uid, gid } = serverUserIds();
      chownSync(dir, uid, gid);
      chownSync(passwordFile, uid, gid);
    }
    await run(initdb, [
      '-D', data,
      '-U', PG_SUPERUSER,
      `--pwfile=${passwordFile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '-E', 'UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    rmSync(passwordFile, { force: true });
    const settings: Record<string, string | number> = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${socketDir}'`,
      fsync: options.fsync ? 'on' : 'off',
      full_page_writes: options.fsync ? 'on' : 'off',
      shared_buffers: "'32MB'",
      max_connections: 60,
      log_min_messages: 'warning',
      ...options.settings,
    };
    // Appended by us, the file keeps its owner.
    appendFileSync(path.join(data, 'postgresql.conf'), `\n# tcb test server\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let port = 0;
  let running = false;
  let destroyed: Promise<void> | undefined;

  const startOn = async (chosen: number): Promise<void> => {
    await run(pgCtl, ['-D', data, '-l', logFile, '-o', `-p ${chosen}`, '-w', '-t', '60', 'start']);
    port = chosen;
    running = true;
  };

  installExitHook();
  live.add(entry);
  // The free port can be taken between our check and the server's bind: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 5 && !running; attempt += 1) {
    try {
      await startOn(await freePort());
    } catch (error) {
      lastError = error;
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      if (!/could not bind|address already in use|could not create any TCP\/IP sockets/i.test(log)) break;
    }
  }
  if (!running) {
    live.delete(entry);
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`PostgreSQL did not start: ${(lastError as Error)?.message}\n${log}`);
  }

  const { default: pg } = await import('pg');
  let databases = 0;

  const server: PostgresServer = {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    dir,
    socketDir,
    password,
    get running() {
      return running;
    },
    url: (database = 'postgres', user = PG_SUPERUSER) => `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    urlWithPassword: (database = 'postgres', user = PG_SUPERUSER, secret = password) =>
      `postgres://${encodeURIComponent(user)}:${encodeURIComponent(secret)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    env: (database = 'postgres', user = PG_SUPERUSER, secret = password) => ({
      PGHOST: '127.0.0.1',
      PGPORT: String(port),
      PGUSER: user,
      PGDATABASE: database,
      PGPASSWORD: secret,
    }),
    async query<T>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> {
      const client = new pg.Client({ host: socketDir, port, user: PG_SUPERUSER, database });
      await client.connect();
      try {
        return (await client.query(sql, params)).rows as T[];
      } finally {
        await client.end();
      }
    },
    async createSchema(prefix = 'test') {
      databases += 1;
      const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${databases}_${randomBytes(3).toString('hex')}`;
      await server.query(`CREATE SCHEMA "${name}"`);
      return name;
    },
    async createDatabase(prefix = 'test', owner) {
      databases += 1;
      const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${databases}_${randomBytes(3).toString('hex')}`;
      if (owner) {
        const exists = await server.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [owner.user]);
        const verb = exists.length > 0 ? 'ALTER' : 'CREATE';
        const escaped = owner.password.replace(/'/g, "''");
        await server.query(`${verb} ROLE "${owner.user}" LOGIN PASSWORD '${escaped}'`);
        await server.query(`CREATE DATABASE "${name}" OWNER "${owner.user}"`);
      } else {
        await server.query(`CREATE DATABASE "${name}"`);
      }
      return name;
    },
    async stop(mode = 'fast') {
      if (!running) return;
      await run(pgCtl, ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
      running = false;
    },
    async start() {
      if (running) return;
      await startOn(port);
    },
    destroy() {
      destroyed ??= (async () => {
        try {
          if (running) await run(pgCtl, ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop']);
        } finally {
          running = false;
          live.delete(entry);
          rmSync(dir, { recursive: true, force: true });
        }
      })();
      return destroyed;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
  return server;
}

/** Who the server processes run as (for messages). */
export function serverUserName(): string {
  return isRoot() ? SERVER_USER : userInfo().username;
}
