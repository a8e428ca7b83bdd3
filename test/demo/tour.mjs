#!/usr/bin/env node
/**
 * npm run demo: starts the sandbox, logs in to it with a throw-away config dir, and walks through
 * every command that exists. Each area adds its part as test/demo/<area>.mjs exporting tour().
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = path.join(root, 'bin', 'tcb.js');
const dist = path.join(root, 'dist', 'sandbox', 'server.js');
if (!existsSync(dist)) {
  console.error('dist/ is missing: run `npm ci` (or `npm run build`) first.');
  process.exit(1);
}
const { startSandbox } = await import(pathToFileURL(dist).href);

const sandbox = await startSandbox({ port: 0 });
const configDir = mkdtempSync(path.join(tmpdir(), 'tcb-demo-'));
const env = { ...process.env, TCB_CONFIG_DIR: configDir };
delete env.TCB_CLIENT_ACCOUNT_ID;
delete env.TCB_KEY_ID;
delete env.TCB_API_KEY;
delete env.TCB_BASE_URL;

const bold = (text) => (process.stdout.isTTY ? `\u001b[1m${text}\u001b[22m` : text);
const say = (text) => console.log(`\n${bold(`== ${text}`)}`);
let failures = 0;

/**
 * Runs tcb as a user would, its output straight to this terminal. Asynchronous: the sandbox
 * answers from this same process, so it must not be blocked while tcb runs.
 */
async function run(args, { input, env: extra, showEnv = [], allowExit = [0] } = {}) {
  // showEnv: variables worth seeing on the command line (never a real secret).
  const prefix = showEnv.map((name) => `${name}=${extra?.[name] ?? ''} `).join('');
  console.log(bold(`$ ${prefix}tcb ${args.map((a) => (/[\s"$]/.test(a) ? `'${a}'` : a)).join(' ')}`));
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: root,
    env: { ...env, ...extra },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'],
  });
  if (input !== undefined) child.stdin.end(input);
  const status = await new Promise((resolve) => child.on('close', (code) => resolve(code)));
  if (!allowExit.includes(status)) {
    failures += 1;
    console.log(`(exit ${status}, expected ${allowExit.join(' or ')})`);
  }
  return status;
}

try {
  console.log(`Sandbox running at ${sandbox.url} (config in ${configDir})`);
  say('Log in once: the key pair is proved by creating a token, which is cached');
  await run(
    ['auth', 'login', '--base-url', sandbox.url, '--client-account-id', sandbox.credentials.clientAccountId,
      '--key-id', sandbox.credentials.keyId, '--api-key-stdin'],
    { input: sandbox.credentials.apiKey },
  );
  await run(['auth', 'status']);
  say('Dynamic labels and feature sets');
  await run(['labels', 'list']);
  await run(['feature-sets', 'list', '--all', '--limit', '3']);
  await run(['feature-sets', 'list', '--format', 'csv', '--limit', '2']);
  say('JSON for pipelines (jq-ready), errors as a JSON line on stderr');
  await run(['labels', 'list', '--format', 'ndjson', '--limit', '2']);
  await run(['labels', 'list', '--limit', 'ten'], { allowExit: [2] });

  const context = { run, say, sandbox, env, configDir, bin, root };
  for (const area of ['numbers', 'call-reasons', 'exports', 'webhooks']) {
    const file = path.join(root, 'test', 'demo', `${area}.mjs`);
    if (existsSync(file)) await (await import(pathToFileURL(file).href)).tour(context);
  }

  say('Log out: the secret and the cached token are forgotten');
  await run(['auth', 'logout']);
} finally {
  await sandbox.close();
  rmSync(configDir, { recursive: true, force: true });
}
if (failures > 0) {
  console.error(`\n${failures} step(s) of the tour did not end as expected`);
  process.exitCode = 1;
} else {
  console.log('\nTour complete. Start your own sandbox with `node bin/tcb.js sandbox`.');
}
