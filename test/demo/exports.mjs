// Demo tour, exports part: Call Me Back and User Feedback logs in every format, --output,
// --since-last for cron, the empty answer, and a download served by another host (no token sent).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export async function tour({ run, say, sandbox, root }) {
  const dist = (file) => pathToFileURL(path.join(root, 'dist', ...file.split('/'))).href;
  const { SANDBOX_SURVEYS, serveLogDownloadsFrom, configureLogs } = await import(dist('sandbox/routes/logs.js'));
  const { startSandbox } = await import(dist('sandbox/server.js'));
  const survey = SANDBOX_SURVEYS[0];
  const out = mkdtempSync(path.join(tmpdir(), 'tcb-demo-exports-'));

  try {
    say('Exports: Call Me Back requests of the last two days (the log link is followed and the CSV parsed)');
    await run(['cmb', 'export', '--from', '-2d', '--format', 'table']);

    say('The same as JSON for jq, or CSV; --output writes a file atomically (format from the extension)');
    await run(['cmb', 'export', '--from', '-12h', '--format', 'ndjson']);
    const file = path.join(out, `cmb-${new Date().toISOString().slice(0, 10)}.csv`);
    await run(['cmb', 'export', '--from', 'yesterday', '--to', 'today', '--output', file]);
    console.log(readFileSync(file, 'utf8').split('\n').slice(0, 3).join('\n'));

    say('Nothing in the range: the API says "No CMB found for client Id"; that is an empty result, exit 0');
    await run(['cmb', 'export', '--from', '+1d', '--to', '+2d', '--json']);
    await run(['cmb', 'export', '--from', '+1d', '--to', '+2d', '--format', 'csv']);

    say('Cron: --since-last starts where the previous successful run stopped, so each record is exported once');
    await run(['cmb', 'export', '--from', '-1d', '--since-last', '--format', 'csv']);
    await run(['cmb', 'export', '--from', '-1d', '--since-last', '--format', 'csv']);

    say(`User Feedback: one row per question and answer (survey "${survey.name}")`);
    await run(['feedback', 'export', '--survey-id', survey.id, '--from', '-3d', '--format', 'table']);

    say('A download link on another host (a storage bucket) never gets the API token: see the --verbose log');
    const storage = await startSandbox({ port: 0 });
    try {
      serveLogDownloadsFrom(sandbox, storage);
      await run(['cmb', 'export', '--from', '-6h', '--format', 'csv', '--verbose']);
      const counters = storage.counters().extra;
      console.log(`download host: ${counters.logDownloads ?? 0} download(s), ${counters.logDownloadsWithAuthorization ?? 0} with an Authorization header`);
    } finally {
      configureLogs(sandbox.state, { downloadHost: undefined });
      await storage.close();
    }

    say('Errors keep their exit codes: a bad time is a usage error (2), before anything is sent');
    await run(['cmb', 'export', '--from', 'last tuesday'], { allowExit: [2] });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
