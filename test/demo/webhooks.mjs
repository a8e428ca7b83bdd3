// Demo tour, webhooks part: a listener on a free port, test events like the console's button,
// a wrong key, then the stored events exported like the logs.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export async function tour({ run, say, env, bin, root, configDir }) {
  const key = randomBytes(24).toString('hex');
  const store = path.join(configDir, 'webhooks.sqlite');
  const withKey = { env: { TCB_WEBHOOK_KEY: key } };

  say('Webhooks: `tcb webhook listen` stores Call Me Back and User Feedback events durably (key from TCB_WEBHOOK_KEY)');
  console.log(`$ TCB_WEBHOOK_KEY=… tcb webhook listen --store ${store} --port 0 --verbose --json &`);
  const listener = spawn(process.execPath, [bin, 'webhook', 'listen', '--store', store, '--port', '0', '--verbose', '--json'], {
    cwd: root,
    env: { ...env, TCB_WEBHOOK_KEY: key },
    stdio: ['ignore', 'pipe', 'inherit'], // the access log (key masked) shows up on this terminal
  });
  const exited = new Promise((resolve) => listener.on('close', (code) => resolve(code)));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    listener.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      try {
        const info = JSON.parse(out);
        process.stdout.write(out);
        resolve(info.url);
      } catch {
        // wait for the whole object
      }
    });
    exited.then((code) => reject(new Error(`the listener exited with ${code}`)));
  });
  const hook = `${url}tcbiz-webhook`;

  try {
    say('Send the documented example events, like the console\'s "Test Webhook" button (?key= comes from TCB_WEBHOOK_KEY)');
    await run(['webhook', 'test', '--url', hook, '--format', 'table'], withKey);
    await run(['webhook', 'test', '--url', hook, '--example', 'cmb.sim-info-unavailable', '--format', 'table'], withKey);
    await run(['webhook', 'test', '--url', hook, '--example', 'cmb.not-interested', '--format', 'table'], withKey);
    await run(['webhook', 'test', '--url', hook, '--type', 'user_feedback', '--json'], withKey);

    say('A wrong key is refused with 401 and nothing is stored (exit 4)');
    await run(['webhook', 'test', '--url', hook, '--format', 'table'], {
      env: { TCB_WEBHOOK_KEY: 'wrong' },
      showEnv: ['TCB_WEBHOOK_KEY'],
      allowExit: [4],
    });

    say('An event the docs do not describe (here an unknown event_type) is stored all the same, flagged unrecognised, with a warning');
    console.log(`$ curl -X POST --data '{"event_id":"demo-odd","event_type":"call_log"}' '${hook}?key=…'`);
    const odd = await fetch(`${hook}?key=${key}`, { method: 'POST', body: JSON.stringify({ event_id: 'demo-odd', event_type: 'call_log' }) });
    console.log(odd.status, await odd.text());

    say('Export what was received, like the logs: CSV for people, JSON for scripts, one row per feedback answer');
    await run(['cmb', 'export', '--source', 'webhook', '--store', store, '--from', '-1h', '--format', 'csv']);
    await run(['feedback', 'export', '--source', 'webhook', '--store', store, '--format', 'table']);
    await run(['cmb', 'export', '--source', 'webhook', '--store', store, '--since-last', '--format', 'ndjson']);
  } finally {
    say('SIGTERM: the listener finishes in-flight requests, closes the store and exits 0');
    listener.kill('SIGTERM');
    console.log(`(listener exit ${await exited})`);
  }
}
