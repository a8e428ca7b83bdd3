// Demo tour, numbers part: list, publish (with a mix of outcomes), --wait, stdin, dry run, delist and sync.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export async function tour({ run, say, sandbox, root }) {
  // Changes settle after 1 s here (3 s by default) so --wait has something to wait for.
  const routes = path.join(root, 'dist', 'sandbox', 'routes', 'numbers.js');
  const { numbersSandbox } = await import(pathToFileURL(routes).href);
  numbersSandbox(sandbox.state).config.processingMs = 1000;

  say('Numbers: list them (table on a terminal; --format for scripts)');
  await run(['numbers', 'list', '--limit', '6']);
  await run(['numbers', 'list', '--feature-set', 'Support Callbacks', '--all', '--format', 'csv']);

  say('Publish: a feature set by name; spaces, dashes and + are normalised; each bucket explained');
  await run(
    ['numbers', 'publish', '--feature-set', 'Sales Outreach', '+91 97000 00001', '91-97000-00002', '919810001000',
      '91123456789', '919000000001', '--format', 'table'],
    { allowExit: [6] },
  );

  say('An ambiguous feature-set name is refused before anything is sent');
  await run(['numbers', 'publish', '--feature-set', 'Collections', '919700000003'], { allowExit: [2] });

  say('Numbers from stdin (a CSV with a phone_number column), waiting until they are listed');
  await run(['numbers', 'publish', '--feature-set', 'prio1', '--file', '-', '--wait', '--interval', '1s'], {
    input: '\uFEFFname,phone_number\r\nAsha,+91 97000 00004\r\nRavi,+91 97000 00005\r\n',
  });

  say('Delist: --dry-run shows the request; without a terminal, --yes is required');
  await run(['numbers', 'delist', '--feature-set', 'prio1', '--dry-run', '919700000004']);
  await run(['numbers', 'delist', '--feature-set', 'prio1', '919700000004'], { allowExit: [2] });
  await run(['numbers', 'delist', '--feature-set', 'prio1', '--yes', '--wait', '--interval', '1s', '--format', 'json',
    '919700000004']);
  await run(['numbers', 'list', '--feature-set', 'prio1', '--all', '--format', 'table']);

  say('Sync: the feature set holds exactly the file; the plan first, then --yes applies it (publish, then delist)');
  const desired = 'phone_number\n+91 98100 01000\n+91 97000 00006\n+91 97000 00007\n+91 98105 01000\n';
  await run(['numbers', 'sync', '--feature-set', 'prio1', '--file', '-', '--dry-run', '--format', 'table'], { input: desired });
  await run(['numbers', 'sync', '--feature-set', 'prio1', '--file', '-', '--yes', '--wait', '--interval', '1s', '--format', 'table'], {
    input: desired,
    allowExit: [6],
  });
  say('A second run sends nothing (the number listed in "Support Callbacks" is reported each time: exit 6)');
  await run(['numbers', 'sync', '--feature-set', 'prio1', '--file', '-', '--yes'], { input: desired, allowExit: [6] });
}
