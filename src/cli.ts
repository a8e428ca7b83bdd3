import { readFileSync } from 'node:fs';
import * as commander from 'commander';
import type { Command } from 'commander';
import type { CommandContext } from './context.js';

// Bundled with this registry and main.ts into the entry (dist/main.cjs): all that `tcb --help`
// loads. What the entry imports dynamically (commands, context, errors, interrupt handling) comes
// from the shared chunks, so each module has one instance.
export { commander };
const { Argument, Command: CommandClass, Option } = commander;

/**
 * The command registry. Only commander and this file load at start-up: each command's module
 * (and everything it needs: ky, conf, chalk, tables) is imported when the command runs, so
 * `tcb --version` and `tcb --help` stay fast.
 */
export type CommandInput = { args: unknown[]; opts: Record<string, unknown>; command: Command };
export type CommandModule = { default: (ctx: CommandContext, input: CommandInput) => Promise<void> };
/** One -f or -F of `tcb api`, numbered in command-line order. */
export type FieldArgument = { flag: '-f' | '-F'; text: string; order: number };

/** Set by the running command, so the top level reports errors in the right format. */
export const invocation: { context?: CommandContext } = {};

/**
 * What commander writes to stderr (the help of a group run without a subcommand), held back so the
 * top level can answer with the JSON error envelope instead when a JSON format was asked for.
 */
export const heldStderr: string[] = [];

function lazy(load: () => Promise<CommandModule>) {
  return async (...actionArgs: unknown[]) => {
    const command = actionArgs[actionArgs.length - 1] as Command;
    const args = actionArgs.slice(0, -2);
    const [{ createContext }, { installInterruptHandlers }] = await Promise.all([
      import('./context.js'),
      import('./util/interrupt.js'),
    ]);
    installInterruptHandlers();
    const context = createContext(command.optsWithGlobals());
    invocation.context = context;
    const module = await load();
    await module.default(context, { args, opts: command.opts(), command });
  };
}

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;
}

/** package.json is one level above both src/cli.ts and the bundle's entry, dist/main.cjs. */
function readVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

const PAGE_OPTIONS = (command: Command): Command =>
  command
    .option('--page <n>', 'page to fetch (from 1)')
    .option('--limit <n>', 'items per page')
    .option('--all', 'fetch every page, streaming them in order');

const FILTER_OPTIONS = (command: Command): Command =>
  command
    .option('--department-id <id>', 'only this department')
    .option('--operation-id <id>', 'only this operation')
    .option('--process-id <id>', 'only this process or sub-process');

/**
 * The command tree. Given the command line, only the groups it names get their subcommands (the
 * others are listed by name and description, which is all `tcb --help` shows), so neither `--help`
 * nor a command pays for building the whole tree. Without it, or for `tcb help` and `tcb
 * completion`, which document every command, the whole tree is built.
 */
export function buildProgram(argv?: readonly string[]): Command {
  const words = argv === undefined ? undefined : new Set(argv.slice(2));
  const whole = words === undefined || words.has('help') || words.has('completion');
  const program = new CommandClass('tcb')
    // Errors become UsageError (exit 2) at the top level, in the error envelope.
    .exitOverride()
    .configureOutput({ outputError: () => {}, writeErr: (text) => heldStderr.push(text) })
    .description('Administer a Truecaller for Business account through the Verified Business API')
    .version(readVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('--profile <name>', 'stored profile to use (env TCB_PROFILE; default "default")')
    .option('--base-url <url>', 'API root (env TCB_BASE_URL)')
    .addOption(new Option('--format <format>', 'output format (env TCB_FORMAT; default table on a TTY, else json)').choices(['table', 'json', 'ndjson', 'csv']))
    .option('--json', 'same as --format json')
    .option('--no-color', 'no colour (also NO_COLOR; FORCE_COLOR forces it on)')
    .option('--timeout <seconds>', 'per-request timeout in seconds (env TCB_TIMEOUT; default 30)')
    .option('--verbose', 'log HTTP requests on stderr, secrets redacted (env TCB_DEBUG=1)')
    .option('--quiet', 'no progress or info lines')
    .option('--yes', 'answer yes to confirmations (needed for destructive work without a TTY)')
    .helpCommand(false)
    .addHelpText(
      'after',
      examples(
        'tcb auth login',
        'tcb labels list',
        'tcb feature-sets list --all --format csv > feature-sets.csv',
        'tcb sandbox   # a local emulator of the API to try everything',
      ) + '\nGuides: tcb help TOPIC (tcb help lists them; tcb help reference documents every command).\nExit codes: 0 ok, 2 usage, 3 auth, 4 API rejected, 5 transient, 6 partial, 7 wait timeout, 130 interrupted.\n',
    );

  const group = (name: string, description: string, define: (group: Command) => void): void => {
    const command = program.command(name).description(description);
    if (whole || words.has(name)) define(command);
  };

  // --- auth ---
  group('auth', 'log in, inspect and forget credentials', (auth) => {
    auth
      .command('login')
      .description('store a profile after proving the key pair by creating a token')
      .option('--client-account-id <id>', 'client account id (env TCB_CLIENT_ACCOUNT_ID)')
      .option('--key-id <id>', 'API key id (env TCB_KEY_ID)')
      .option('--api-key-stdin', 'read the secret API key from stdin (or set TCB_API_KEY)')
      .addHelpText(
        'after',
        examples(
          'tcb auth login                       # prompts on a terminal',
          'printf %s "$SECRET" | tcb auth login --client-account-id ID --key-id KEY --api-key-stdin',
          'tcb auth login --profile staging --base-url http://127.0.0.1:8787',
        ),
      )
      .action(lazy(() => import('./commands/auth/login.js')));
    auth
      .command('status')
      .description('show profiles, the active one, base URL and token age (never a secret)')
      .addHelpText('after', examples('tcb auth status', 'tcb auth status --json | jq .profiles'))
      .action(lazy(() => import('./commands/auth/status.js')));
    auth
      .command('token')
      .description('print a valid bearer token (cached or fresh) for scripts')
      .addHelpText('after', examples('tcb auth token', 'curl -H "Authorization: Bearer $(tcb auth token)" "$TCB_BASE_URL/clients/$ID/labels"'))
      .action(lazy(() => import('./commands/auth/token.js')));
    auth
      .command('logout')
      .description("forget the profile's secret and cached token")
      .addHelpText('after', examples('tcb auth logout', 'tcb auth logout --profile staging'))
      .action(lazy(() => import('./commands/auth/logout.js')));
  });

  // --- labels ---
  group('labels', 'dynamic caller-ID labels', (labels) => {
    PAGE_OPTIONS(labels.command('list').description('list dynamic labels (labels-get)'))
      .addHelpText('after', examples('tcb labels list', 'tcb labels list --all --format ndjson | jq -r .id'))
      .action(lazy(() => import('./commands/labels/list.js')));
  });

  // --- feature sets ---
  group('feature-sets', 'feature sets (to find a featureSetId)', (featureSets) => {
    FILTER_OPTIONS(PAGE_OPTIONS(featureSets.command('list').description('list feature sets (feature-sets-get)')))
      .addHelpText(
        'after',
        examples('tcb feature-sets list', 'tcb feature-sets list --all --department-id 8e16b0d3-... --format csv'),
      )
      .action(lazy(() => import('./commands/feature-sets/list.js')));
  });

  // --- numbers ---
  group('numbers', 'list, publish, delist and sync business numbers', (numbers) => {
    FILTER_OPTIONS(PAGE_OPTIONS(numbers.command('list').description('list the numbers of the account (numbers-details)')))
      .option('--feature-set <id|name>', 'only numbers of this feature set (an id, or a name looked up with feature-sets-get)')
      .addHelpText(
        'after',
        examples(
          'tcb numbers list',
          'tcb numbers list --feature-set "Support Callbacks" --all --format csv > numbers.csv',
          'tcb numbers list --all --format ndjson | jq -r \'select(.status != "listed") | .phone_number\'',
        ),
      )
      .action(lazy(() => import('./commands/numbers/list.js')));
    const NUMBER_CHANGE_OPTIONS = (command: Command): Command =>
      command
        .argument('[numbers...]', 'phone numbers with country code (spaces, dashes and a leading + are removed)')
        .requiredOption('--feature-set <id|name>', 'the feature set: its id, or its name (looked up with feature-sets-get)')
        .option('--file <path>', 'read numbers from a file (one a line, or a CSV with a phone_number column); - for stdin')
        .option('--dry-run', 'print the requests that would be sent, and send nothing')
        .option('--wait', 'poll numbers-details until every accepted number shows its new state')
        .option('--interval <duration>', 'with --wait: time between polls (default 5s)')
        .option('--wait-timeout <duration>', 'with --wait: give up (exit 7) after this long (default 10m)');
    NUMBER_CHANGE_OPTIONS(numbers.command('publish').description('add numbers to a feature set and publish it (numbers-list)'))
      .addHelpText(
        'after',
        examples(
          'tcb numbers publish --feature-set "Support Callbacks" "+91 98100 01000" 919810001037',
          'tcb numbers publish --feature-set 31b403a8-4d69-417c-ba06-31d25a2cd425 --file numbers.csv --wait',
          'tcb numbers publish --feature-set prio1 --file - --dry-run < new-numbers.txt',
        ),
      )
      .action(lazy(() => import('./commands/numbers/publish.js')));
    NUMBER_CHANGE_OPTIONS(numbers.command('delist').description('remove numbers from a feature set (numbers-delist; asks first)'))
      .addHelpText(
        'after',
        examples(
          'tcb numbers delist --feature-set prio1 919810001000',
          'tcb numbers delist --feature-set prio1 --file old.txt --yes --wait   # cron: no prompt',
          'tcb numbers delist --feature-set prio1 --file old.txt --dry-run',
        ),
      )
      .action(lazy(() => import('./commands/numbers/delist.js')));
    numbers
      .command('sync')
      .description('make a feature set hold exactly the numbers of a file: plan, confirm, publish and delist')
      .requiredOption('--feature-set <id|name>', 'the feature set: its id, or its name (looked up with feature-sets-get)')
      .requiredOption('--file <path>', 'the numbers it should hold (one a line, or a CSV with a phone_number column); - for stdin')
      .option('--dry-run', 'print the plan and send nothing')
      .option('--no-delist', 'only publish: keep numbers that are not in the file')
      .option('--allow-empty', 'accept an empty file (it delists every number of the feature set)')
      .option('--wait', 'poll numbers-details until every accepted change shows its new state')
      .option('--interval <duration>', 'with --wait: time between polls (default 5s)')
      .option('--wait-timeout <duration>', 'with --wait: give up (exit 7) after this long (default 10m)')
      .addHelpText(
        'after',
        examples(
          'tcb numbers sync --feature-set "Support Callbacks" --file numbers.csv --dry-run',
          'tcb numbers sync --feature-set prio1 --file numbers.csv          # shows the plan, asks before delisting',
          'crm-export | tcb numbers sync --feature-set prio1 --file - --yes --wait   # cron',
          'tcb numbers sync --feature-set prio1 --file new.txt --no-delist   # only add',
        ) + '\nExit codes: 0 the feature set holds the file, 6 part of the plan was not applied, 7 --wait timed out.\n',
      )
      .action(lazy(() => import('./commands/numbers/sync.js')));
  });

  // --- call reasons and batches ---
  group('call-reason', 'push and upload call reasons (call personalisation)', (callReason) => {
    callReason
      .command('push')
      .description('send one call reason now (cp-realtime-v2; --api v1 for the deprecated endpoint)')
      .option('--caller <number>', 'calling number with country code, digits only (a leading + is removed)')
      .option('--receiver <number>', 'receiving number with country code')
      .option('--label-id <id>', 'dynamic label id (tcb labels list)')
      .option('--label <name>', 'dynamic label by name, resolved through the labels API')
      .option('--label-name <text>', 'dynamic label name to show (3-40 characters; default: the label\'s name)')
      .option('--reason <text>', 'call reason (10-100 characters; letters, digits, spaces and . , \' - ? ! : ( ) & /)')
      .option('--starts-at <time>', 'start: epoch ms, ISO-8601 or relative like +10m (default now)')
      .option('--ends-at <time>', 'end: epoch ms, ISO-8601 or relative like +2h (at most 24 h after the start)')
      .option('--duration <duration>', 'end = start + duration, e.g. 2h (instead of --ends-at)')
      .addOption(new Option('--api <version>', 'v2 (default) or v1 (deprecated; prints the batch id)').choices(['v2', 'v1']))
      .option('--dry-run', 'validate and print the record without sending it')
      .addHelpText(
        'after',
        examples(
          'tcb call-reason push --caller 911234567890 --receiver 919876543210 --label-id 255297eb-7f13-44f9-967a-f287ff0f5025 --reason "Your order is on its way" --duration 2h',
          'tcb call-reason push --caller +911234567890 --receiver 919876543210 --label FlowerEra --starts-at +5m --ends-at +1h',
          'tcb call-reason push --api v1 --caller 911234567890 --receiver 919876543210 --label-id ID --duration 30m --json | jq -r .batch_id',
        ),
      )
      .action(lazy(() => import('./commands/call-reason/push.js')));
    callReason
      .command('upload')
      .description('upload a CSV of call reasons in batches (cp-batch-v2), exactly once, resumable')
      .argument('<file>', 'CSV with a header row, or - for stdin')
      .option('--label-id <id>', 'label_id for rows without one')
      .option('--label-name <text>', 'dynamic_label_name for rows without one')
      .option('--reason <text>', 'dynamic_call_reason for rows without one')
      .option('--starts-at <time>', 'starts_at for rows without one (default now)')
      .option('--ends-at <time>', 'ends_at for rows without one')
      .option('--duration <duration>', 'ends_at = starts_at + duration for rows without ends_at, e.g. 2h')
      .option('--batch-size <n>', 'records per request, 1-500 (default 500)')
      .option('--rate-limit <rate>', "requests per token, e.g. 60/min (default: the API's documented limit)")
      .addOption(new Option('--api <version>', 'v2 (default) or v1 (deprecated bulk endpoint)').choices(['v2', 'v1']))
      .option('--dry-run', 'validate the whole file and send nothing')
      .option('--skip-invalid <file>', 'write invalid rows to FILE and send the rest')
      .option('--resume', 'send only what an earlier, interrupted upload of this file did not get accepted')
      .option('--resend-uncertain', 'with --resume: also resend batches whose outcome is unknown (they may arrive twice)')
      .option('--wait', 'poll every batch until its records reach a final state')
      .option('--interval <duration>', 'time between polls with --wait (default 2s)')
      .option('--wait-timeout <duration>', 'give up waiting after this long, exit 7 (default 30m)')
      .option('--report <file>', 'with --wait: write failed records with their CSV line and reason')
      .option('--force', 'replace a read-only --skip-invalid or --report file')
      .addHelpText(
        'after',
        examples(
          'tcb call-reason upload calls.csv --dry-run',
          'tcb call-reason upload calls.csv --label-id 255297eb-7f13-44f9-967a-f287ff0f5025 --duration 2h',
          'tcb call-reason upload calls.csv --rate-limit 600/min --wait --report failed.csv',
          'tcb call-reason upload calls.csv --resume          # after Ctrl-C or a crash',
          'export-calls | tcb call-reason upload - --skip-invalid rejected.csv --json',
        ) + '\nColumns: caller_number, receiver_number, starts_at, ends_at, label_id, dynamic_label_name, dynamic_call_reason\n(v1 names caller, receiver, label_name, call_reason also accepted). Times: epoch ms or ISO-8601.\n',
      )
      .action(lazy(() => import('./commands/call-reason/upload.js')));
    callReason
      .command('stream')
      .description('send call reasons from a continuous feed (a pipe, FIFO or file) in batches under the rate limit, with a latency bound')
      .argument('[file]', 'NDJSON (or CSV with --input-format csv) to read; - or nothing for stdin')
      .addOption(new Option('--input-format <format>', 'one JSON object a line, or CSV with a header row').choices(['ndjson', 'csv']).default('ndjson'))
      .addOption(new Option('--mode <mode>', 'batch (cp-batch-v2) or realtime (cp-realtime-v2, one record a request)').choices(['batch', 'realtime']).default('batch'))
      .option('--label-id <id>', 'label_id for records without one')
      .option('--label-name <text>', 'dynamic_label_name for records without one')
      .option('--reason <text>', 'dynamic_call_reason for records without one')
      .option('--starts-at <time>', 'starts_at for records without one; relative forms (+5m) count from each record\'s arrival (default now)')
      .option('--ends-at <time>', 'ends_at for records without one')
      .option('--duration <duration>', 'ends_at = starts_at + duration for records without ends_at, e.g. 2h')
      .option('--batch-size <n>', 'records per batch request, 1-500 (default 500)')
      .option('--max-latency <duration>', 'a batch is due this long after its first record arrived, and goes out at the next rate-limit slot (default 2s)')
      .option('--rate-limit <rate>', "requests per token, e.g. 600/min (default: the API's documented limit)")
      .option('--reject-file <file>', 'append rejected lines as NDJSON {"line", "error", "input"}')
      .addHelpText(
        'after',
        examples(
          'dialer-feed | tcb call-reason stream --label-id 255297eb-7f13-44f9-967a-f287ff0f5025 --duration 2h',
          'tcb call-reason stream /run/dialer/calls.fifo --reject-file rejected.ndjson > acks.ndjson',
          'tail -n +1 -F calls.csv | tcb call-reason stream --input-format csv --max-latency 500ms',
          'crm-events | tcb call-reason stream --mode realtime --reason "Your order is on its way"',
        ) + '\nstdout: one acknowledgement a line, {"status":"accepted","batch_id","first_line","last_line","records"} (realtime: {"line","status"}).\nExit codes: 0 done (or stopped by SIGTERM), 6 lines rejected or batches uncertain/failed, 130 Ctrl-C.\n',
      )
      .action(lazy(() => import('./commands/call-reason/stream.js')));
  });

  group('batch', 'status of call-reason batches', (batch) => {
    batch
      .command('status')
      .description('per-record status of batches, counted by status and reason (cp-batch-v2-status)')
      .argument('[batch-id...]', 'batch ids (from upload or push --api v1)')
      .option('--journal <file>', 'check every batch recorded in this upload journal')
      .option('--upload <file>', 'check every batch of this uploaded CSV (finds its journal)')
      .option('--wait', 'poll until every batch is complete (the global --timeout SECONDS bounds the wait; default 600)')
      .option('--interval <duration>', 'time between polls with --wait, e.g. 5s (default 5s)')
      .option('--wait-timeout <duration>', 'with --wait: give up (exit 7) after this long, e.g. 15m (default 10m; --timeout SECONDS works too)')
      .addOption(new Option('--api-version <version>', 'status path: v2 (default) or v3 (newer docs)').choices(['v2', 'v3']))
      .addOption(new Option('--api <version>', 'v2 (default) or v1 (deprecated batch status)').choices(['v2', 'v1']))
      .addHelpText(
        'after',
        examples(
          'tcb batch status b72f7a40-ec3a-462f-b528-da0e8dc87e79',
          'tcb batch status --upload calls.csv --wait --interval 10s --timeout 900',
          'tcb batch status ID --api-version v3 --json | jq \'.[0].data[] | select(.status_info.status != "success")\'',
          'tcb batch status ID --api v1',
        ) + '\nExit codes: 6 when any record failed, 7 when --wait timed out.\n',
      )
      .action(lazy(() => import('./commands/batch/status.js')));
  });

  // --- exports ---
  const EXPORT_OPTIONS = (command: Command): Command =>
    command
      .option('--from <time>', 'start: date, ISO-8601 (local time unless zoned), epoch ms, or relative (-24h, -7d, yesterday)')
      .option('--to <time>', 'end, same forms (default: now)')
      .option('--since-last', 'start where the previous successful --since-last run of this export stopped (cron)')
      .option('--overlap <duration>', 'with --since-last (log API): start this long before the previous run stopped, to catch late records; rows already exported are skipped (default 5m)')
      .option('--output <file>', 'write to FILE atomically (format from --format, else the extension: .json, .ndjson/.jsonl, else csv)')
      .option('--force', 'with --output: replace the file even if it is read-only')
      .addOption(new Option('--time-unit <unit>', 'unit of the times sent to the log API (docs say ms; some servers want s)').choices(['ms', 's']).default('ms'))
      .addOption(new Option('--source <source>', 'where records come from: the log API, or a webhook store').choices(['api', 'webhook']).default('api'))
      .option('--store <file|url>', 'the webhook store `tcb webhook listen` writes: an SQLite file or a postgres:// URL (with --source webhook)');
  group('cmb', 'Call Me Back requests', (cmb) => {
    EXPORT_OPTIONS(cmb.command('export').description('export Call Me Back requests (cmb-logs-v1) as CSV, JSON, ndjson or a table'))
      .addHelpText(
        'after',
        examples(
          'tcb cmb export --from yesterday --to today --format csv > cmb.csv',
          'tcb cmb export --from -7d --json | jq \'.[] | select(.is_interested == "true") | .client_number\'',
          'tcb cmb export --from -24h --since-last --output "cmb-$(date +%F).csv"   # cron: each record once',
          'tcb cmb export --source webhook --store ~/tcb/webhooks.sqlite --from -7d --format csv',
          'tcb cmb export --source webhook --store postgres://tcb@db.example.com/tcb --since-last --output cmb.csv   # PGPASSWORD in the env',
        ),
      )
      .action(lazy(() => import('./commands/cmb/export.js')));
  });
  group('feedback', 'User Feedback survey responses', (feedback) => {
    EXPORT_OPTIONS(
      feedback
        .command('export')
        .description('export User Feedback responses (user-feedback-logs-v1) as CSV, JSON, ndjson or a table')
        .option('--survey-id <id>', 'the survey (campaign) id (required with --source api)'),
    )
      .addHelpText(
        'after',
        examples(
          'tcb feedback export --survey-id 4f1d2c3b-... --from -7d --format csv > feedback.csv',
          'tcb feedback export --survey-id 4f1d2c3b-... --from -24h --since-last --output feedback.ndjson',
          'tcb feedback export --source webhook --store ~/tcb/webhooks.sqlite --from -7d --json | jq \'group_by(.question)\'',
        ),
      )
      .action(lazy(() => import('./commands/feedback/export.js')));
  });

  // --- webhooks ---
  group('webhook', 'receive Call Me Back and User Feedback webhook events', (webhook) => {
    webhook
      .command('listen')
      .description('receive webhook events into a durable SQLite or PostgreSQL store (key from TCB_WEBHOOK_KEY or a prompt)')
      .requiredOption('--store <file|url>', 'SQLite file (created if missing), or postgres://user@host/db shared by several receivers (password in PGPASSWORD or ~/.pgpass)')
      .option('--port <n>', 'port to listen on (0 picks a free one)', '8080')
      .option('--host <host>', 'address to bind (put a TLS reverse proxy in front)', '127.0.0.1')
      .option('--max-body-bytes <n>', 'larger request bodies get 413', '262144')
      .option('--idle-timeout <seconds>', 'close a connection with no request in progress after this long', '5')
      .option('--request-timeout <seconds>', 'a request (headers and body) must arrive within this, else 408', '30')
      .option('--max-connections <n>', 'most open connections; the oldest idle one is closed for a new one (default: from the open-file limit)')
      .option('--trust-proxy [addresses]', 'take the client address from X-Forwarded-For when the peer is one of these proxies (default loopback; IPs or CIDRs, comma-separated)')
      .addOption(new Option('--log-format <format>', 'stderr log lines as text or JSON (--json implies json)').choices(['text', 'json']))
      .option('--access-log', 'log every request on stderr (default on a TTY or with --verbose)')
      .option('--no-access-log', 'no access log, even on a TTY or with --verbose')
      .addHelpText(
        'after',
        examples(
          'export TCB_WEBHOOK_KEY=$(openssl rand -hex 24)',
          'tcb webhook listen --store ~/tcb/webhooks.sqlite --port 8080',
          'tcb webhook listen --store events.sqlite --port 0 --json   # prints {"url": ...}, logs JSON lines',
          'tcb webhook listen --store /var/lib/tcb/webhooks.sqlite --trust-proxy --access-log --log-format json',
          'PGPASSWORD=... tcb webhook listen --store "postgres://tcb@db.example.com/tcb?sslmode=verify-full"   # several receivers, one database',
          'tcb cmb export --source webhook --store ~/tcb/webhooks.sqlite --format csv',
        ) +
          '\nConsole URL: https://<your-host>/<path>?key=<TCB_WEBHOOK_KEY>. Warnings always on stderr; access log with --access-log,\n' +
          '--verbose or a TTY. SIGINT, SIGTERM and SIGHUP finish in-flight requests and exit 0. More: tcb help webhooks\n',
      )
      .action(lazy(() => import('./commands/webhook/listen.js')));
    webhook
      .command('test')
      .description("send a documented example event to a receiver, like the console's Test Webhook button")
      .requiredOption('--url <url>', 'receiver URL (with TCB_WEBHOOK_KEY set, ?key= is added for you)')
      .addOption(new Option('--type <type>', 'event type (default cmb, or the type of --example)').choices(['cmb', 'user_feedback']))
      .addOption(
        new Option('--example <name>', 'which documented payload').choices([
          'cmb.slot-picker-happy-flow',
          'cmb.sim-info-unavailable',
          'cmb.not-interested',
          'user-feedback',
        ]),
      )
      .addHelpText(
        'after',
        examples(
          'TCB_WEBHOOK_KEY=... tcb webhook test --url http://127.0.0.1:8080/tcbiz-webhook',
          'tcb webhook test --url https://hooks.example.com/tcbiz-webhook --type user_feedback',
          'tcb webhook test --url http://127.0.0.1:8080/ --example cmb.not-interested --json',
        ),
      )
      .action(lazy(() => import('./commands/webhook/test.js')));
  });

  // --- sandbox ---
  program
    .command('sandbox')
    .description('run the built-in API emulator on 127.0.0.1 (for trying tcb and testing scripts)')
    .option('--port <n>', 'port to listen on (0 picks a free one)', '8787')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--token-lifetime <seconds>', 'token lifetime in seconds', '3600')
    .option('--token-quota <n>', 'tokens per key per quota window', '10')
    .option('--latency <ms>', 'delay added to every API answer', '0')
    .option('--failure-rate <0..1>', 'share of API requests answered with a 503', '0')
    .option('--number-delay <ms>', 'how long a number publish/delist stays pending (default 3000)')
    .option('--batch-delay <ms>', 'how long a call-reason batch stays pending (default 1500)')
    .option('--clock-offset <duration>', "the server's clock against this machine's, e.g. +10m or -90s (bare number: seconds)")
    .option('--deny-access <areas>', 'access areas every key lacks (403), comma-separated: labels, number-management, call-personalisation, call-me-back, user-feedback')
    .addHelpText(
      'after',
      examples(
        'tcb sandbox',
        'tcb sandbox --port 0 --token-lifetime 60 --failure-rate 0.1',
        'tcb sandbox --clock-offset +10m --deny-access call-me-back   # for trying tcb doctor',
      ),
    )
    .action(lazy(() => import('./commands/sandbox.js')));

  // --- operator tools ---
  // -f and -F build one body together, in the order given: number them as commander parses them.
  let fieldOrder = 0;
  const collectField = (flag: '-f' | '-F') => (text: string, previous: FieldArgument[] = []) => [
    ...previous,
    { flag, text, order: fieldOrder++ },
  ];
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  program
    .command('api')
    .description('send a raw request to any API path with tcb\'s credentials (like `gh api`)')
    .argument('<path>', 'path below the base URL, query string included; {client_account_id} is filled in')
    .option('-X, --method <method>', 'HTTP method (default GET, or POST when fields or --input give a body)')
    .option('-f, --raw-field <key=value>', 'add a string field to the JSON body (repeatable; key[sub]=v and key[]=v nest)', collectField('-f'))
    .option('-F, --field <key=value>', 'add a typed field: true, false, null and numbers become JSON literals, @file reads a file, @- stdin', collectField('-F'))
    .option('--input <file>', 'send this file as the body, unchanged (- for stdin); fields then go in the query string')
    .option('-H, --header <name:value>', 'add a request header (repeatable; Authorization is always tcb\'s own)', collect)
    .option('-i, --include', 'print the response status and headers on stderr')
    .option('--paginate', 'GET every page (page=1, 2, …) of a list endpoint and print one array of all items')
    .option('--silent', 'do not print the response body')
    .addHelpText(
      'after',
      examples(
        'tcb api /clients/{client_account_id}/labels',
        'tcb api "/clients/{client_account_id}/number_management/numbers?limit=100" --paginate --format ndjson',
        'tcb api /v2/clients/{client_account_id}/dynamic_call_record -F caller_number=911234567890 -F receiver_number=919876543210 \\\n      -F starts_at=1753088751000 -F ends_at=1753103151000 -f label_id=c6d86658-008d-4c08-98fb-2bf2649d59a5',
        'tcb api -X POST /clients/{client_account_id}/number_management/feature_sets/ID/numbers/publish --input body.json',
        'tcb api -i "/v2/clients/{client_account_id}/dynamic_call_records?batchId=ID" --verbose',
      ) + '\nA 4xx answer exits 4 with the body in the error on stderr; 401/403 exit 3; 429/5xx/network exit 5.\n',
    )
    .action(lazy(() => import('./commands/api.js')));
  program
    .command('doctor')
    .description('check this setup: node, config, credentials, API reachability, token, clock skew, access per area, webhook store')
    .option('--store <file>', 'also check that this webhook store opens and is a tcb store')
    .addHelpText(
      'after',
      examples('tcb doctor', 'tcb doctor --json | jq \'.checks[] | select(.status != "ok")\'', 'tcb doctor --store ~/tcb/webhooks.sqlite') +
        '\nExit 0 when no check failed; otherwise the class of the first failure: 2 configuration, 3 authentication, 5 unreachable.\n',
    )
    .action(lazy(() => import('./commands/doctor.js')));
  program
    .command('completion')
    .description('print a shell completion script for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      examples(
        'source <(tcb completion bash)                      # bash: add to ~/.bashrc',
        'source <(tcb completion zsh)                       # zsh: add to ~/.zshrc, after compinit',
        'tcb completion fish > ~/.config/fish/completions/tcb.fish',
      ),
    )
    // Not lazy(): printing a script needs no settings, credentials or HTTP client.
    .action(async (shell: string) => {
      const { default: completion } = await import('./commands/completion.js');
      await completion(program, shell);
    });

  // `tcb help`: guides and the generated reference, beside commander's per-command help.
  program
    .command('help')
    .description('guides (tcb help TOPIC), the full reference (tcb help reference), or help for a command')
    .argument('[topic...]', 'a topic, "reference", or a command such as "numbers publish"')
    .addHelpText('after', examples('tcb help', 'tcb help environment', 'tcb help reference > tcb-reference.txt', 'tcb help numbers publish'))
    .action(async (words: string[]) => {
      const { runHelp } = await import('./help/help.js');
      await runHelp(program, words, program.opts());
    });

  return program;
}
