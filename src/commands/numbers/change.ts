// `tcb numbers publish` and `tcb numbers delist`: options → numbers → plan → (dry run | confirm → send) → output.
// The flow and the exit-code policy are in services/numbers-change.ts; stdout rendering in ./change-output.ts.
import type { NumbersAction } from '../../api/numbers.js';
import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import { collectNumbers } from '../../services/numbers/input.js';
import { withFeatureSetName, type ChangePlan } from '../../services/numbers/numbers.js';
import { VERB, planNumbersChange, plural, sendNumbersChange, shortDuration } from '../../services/numbers/change.js';
import { durationFlag, pollIntervalFlag } from '../../util/flags.js';
import { featureSetLabel, printDryRun, printResult } from './change-output.js';

const DEFAULT_INTERVAL = '5s';
const DEFAULT_WAIT_TIMEOUT = '10m';

interface ChangeFlags {
  featureSet: string;
  file?: string;
  dryRun: boolean;
  wait: boolean;
  intervalMs: number;
  waitTimeoutMs: number;
}

function parseOptions(opts: Record<string, unknown>): ChangeFlags {
  const featureSet = typeof opts.featureSet === 'string' ? opts.featureSet : '';
  if (featureSet.trim() === '') throw new UsageError('--feature-set is required: a feature set id or name');
  return {
    featureSet,
    file: typeof opts.file === 'string' ? opts.file : undefined,
    dryRun: Boolean(opts.dryRun),
    wait: Boolean(opts.wait),
    intervalMs: pollIntervalFlag(opts.interval ?? DEFAULT_INTERVAL, '--interval'),
    waitTimeoutMs: durationFlag(opts.waitTimeout ?? DEFAULT_WAIT_TIMEOUT, '--wait-timeout'),
  };
}

/** Destructive work without a TTY needs --yes: fail before any request (token, lookups) is made. */
function requireConfirmableDelist(ctx: CommandContext, count: number): void {
  if (ctx.settings.yes || ctx.settings.interactive) return;
  throw new UsageError(
    `delist is destructive and there is no terminal to confirm it; nothing was sent. Pass --yes to delist ${plural(count, 'number')}`,
    { hint: 'pass --yes (or try --dry-run first)' },
  );
}

async function confirmDelist(ctx: CommandContext, plan: ChangePlan): Promise<void> {
  if (ctx.settings.yes) return;
  const featureSet = await withFeatureSetName(ctx, plan.featureSet);
  const ok = await ctx.prompts.confirm(
    `Delist ${plural(plan.numbers.length, 'number')} from feature set ${featureSetLabel(featureSet)}?`,
    false,
  );
  if (!ok) throw new UsageError('delist cancelled; nothing was sent');
}

export async function runChange(ctx: CommandContext, action: NumbersAction, { args, opts }: CommandInput): Promise<void> {
  const options = parseOptions(opts);
  const positional = Array.isArray(args[0]) ? (args[0] as unknown[]).map(String) : [];
  const collected = await collectNumbers({ args: positional, file: options.file });
  if (action === 'delist' && !options.dryRun) requireConfirmableDelist(ctx, collected.numbers.length);

  const plan = await planNumbersChange(ctx, action, options.featureSet, collected.numbers);
  if (collected.duplicates > 0) ctx.output.info(`${plural(collected.duplicates, 'duplicate')} removed; each number is sent once`);
  if (options.dryRun) return printDryRun(ctx, plan, collected);
  if (action === 'delist') await confirmDelist(ctx, plan);

  const wait = options.wait ? { intervalMs: options.intervalMs, timeoutMs: options.waitTimeoutMs } : undefined;
  const result = await sendNumbersChange(ctx, plan, { wait }, {
    sending: (index, total) => {
      if (total > 1) ctx.output.info(`Sending request ${index + 1} of ${total} (at most 10 000 numbers each)…`);
    },
    ignoredAsProcessing: (numbers) =>
      ctx.output.warn(
        `${plural(numbers.length, 'number')} still being processed by an earlier list/delist; the API ignored ${numbers.length === 1 ? 'it' : 'them'} this time. Run again once it has finished (numbers list shows the state; --wait waits for a change to finish).`,
      ),
    waiting: (count) =>
      ctx.output.info(`Waiting for ${plural(count, 'number')} to be ${VERB[action].done} (every ${shortDuration(options.intervalMs)}, up to ${shortDuration(options.waitTimeoutMs)})…`),
    polled: (settled, total) => ctx.output.debug(`  wait: ${settled} of ${total} settled`),
  });

  await printResult(ctx, result);
  if (result.stopped) {
    ctx.output.warn(`${plural(result.responses.length, 'request')} accepted (${result.stopped.sent} numbers); ${result.stopped.unsent} numbers were not sent`);
  }
  if (result.error) throw result.error;
  if (ctx.output.format === 'table') return;
  ctx.output.success(`${plural(result.outcome.accepted.length, 'number')} ${VERB[action].done}`);
}
