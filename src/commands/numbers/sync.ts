// `tcb numbers sync`: desired numbers → plan → (dry run | confirm → apply) → output.
// Reading the state, planning and the exit policy are in services/numbers/sync.ts; rendering in ./sync-output.ts.
import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import { collectNumbers } from '../../services/numbers/input.js';
import { VERB, plural, shortDuration } from '../../services/numbers/change.js';
import { applySync, hasChanges, readSyncPlan, syncError, type SyncPlan } from '../../services/numbers/sync.js';
import { durationFlag, pollIntervalFlag } from '../../util/flags.js';
import { featureSetLabel } from './change-output.js';
import { printSync, renderPlan } from './sync-output.js';

const DEFAULT_INTERVAL = '5s';
const DEFAULT_WAIT_TIMEOUT = '10m';

interface SyncFlags {
  featureSet: string;
  file: string;
  dryRun: boolean;
  delist: boolean;
  allowEmpty: boolean;
  wait: boolean;
  intervalMs: number;
  waitTimeoutMs: number;
}

function parseOptions(opts: Record<string, unknown>): SyncFlags {
  const featureSet = typeof opts.featureSet === 'string' ? opts.featureSet : '';
  if (featureSet.trim() === '') throw new UsageError('--feature-set is required: a feature set id or name');
  const file = typeof opts.file === 'string' ? opts.file : '';
  if (file.trim() === '') {
    throw new UsageError('--file is required: the numbers the feature set should hold (a path, or - for stdin)', {
      hint: 'one number a line, or a CSV with a phone_number column',
    });
  }
  return {
    featureSet,
    file,
    dryRun: Boolean(opts.dryRun),
    delist: opts.delist !== false,
    allowEmpty: Boolean(opts.allowEmpty),
    wait: Boolean(opts.wait),
    intervalMs: pollIntervalFlag(opts.interval ?? DEFAULT_INTERVAL, '--interval'),
    waitTimeoutMs: durationFlag(opts.waitTimeout ?? DEFAULT_WAIT_TIMEOUT, '--wait-timeout'),
  };
}

function percent(part: number, whole: number): string {
  return whole > 0 ? ` (${Math.round((part / whole) * 100)}%)` : '';
}

/** A plan that delists needs a yes: --yes, or an answer on a terminal. */
async function confirmDelist(ctx: CommandContext, plan: SyncPlan): Promise<void> {
  if (plan.delist.length === 0 || ctx.settings.yes) return;
  const size = `${plural(plan.delist.length, 'number')} of the ${plan.currentCount} in feature set ${featureSetLabel(plan.featureSet)}${percent(plan.delist.length, plan.currentCount)}`;
  if (!ctx.settings.interactive) {
    throw new UsageError(`the plan delists ${size} and there is no terminal to confirm it; nothing was sent`, {
      hint: 'pass --yes to apply it, --no-delist to only add numbers, or --dry-run to see the plan',
      details: { publish: plan.publish.length, delist: plan.delist.length },
    });
  }
  const publish = plan.publish.length > 0 ? ` and publish ${plural(plan.publish.length, 'number')}` : '';
  const ok = await ctx.prompts.confirm(`Delist ${size}${publish}?`, false);
  if (!ok) throw new UsageError('sync cancelled; nothing was sent');
}

export default async function numbersSync(ctx: CommandContext, { opts }: CommandInput): Promise<void> {
  const options = parseOptions(opts);
  const desired = await collectNumbers({ args: [], file: options.file }, { allowEmpty: true });
  if (desired.numbers.length === 0 && !options.allowEmpty) {
    throw new UsageError(
      `--file ${options.file === '-' ? '- (stdin)' : options.file} holds no phone numbers: syncing to it would delist every number of the feature set; nothing was sent`,
      { hint: 'pass --allow-empty to empty the feature set on purpose' },
    );
  }

  const plan = await readSyncPlan(ctx, options.featureSet, desired, { delist: options.delist });
  if (plan.foreign > 0) {
    ctx.output.warn(`numbers-details returned ${plural(plan.foreign, 'number')} of other feature sets for this one; they are left alone`);
  }
  if (options.dryRun) {
    await printSync(ctx, plan, undefined, true);
    ctx.output.info('Dry run: nothing was sent.');
    return;
  }
  const table = ctx.output.format === 'table';
  if (table) await ctx.output.writeStdout(renderPlan(ctx, plan));
  if (!hasChanges(plan)) {
    if (!table) await printSync(ctx, plan, { plan }, false);
    ctx.output.info(`Nothing to send: feature set ${featureSetLabel(plan.featureSet)} already holds every number it can.`);
    const error = syncError(plan, []);
    if (error) throw error;
    return;
  }
  await confirmDelist(ctx, plan);

  const wait = options.wait ? { intervalMs: options.intervalMs, timeoutMs: options.waitTimeoutMs } : undefined;
  const result = await applySync(ctx, plan, { wait }, {
    sending: (action, index, total) => {
      if (total > 1) ctx.output.info(`${VERB[action].title}: request ${index + 1} of ${total} (at most 10 000 numbers each)…`);
    },
    ignoredAsProcessing: (action, numbers) =>
      ctx.output.warn(
        `${plural(numbers.length, 'number')} still being processed by an earlier list/delist; the API ignored ${numbers.length === 1 ? 'it' : 'them'} (${action}). Run the sync again once it has finished.`,
      ),
    waiting: (action, count) =>
      ctx.output.info(`Waiting for ${plural(count, 'number')} to be ${VERB[action].done} (every ${shortDuration(options.intervalMs)}, up to ${shortDuration(options.waitTimeoutMs)})…`),
  });
  await printSync(ctx, plan, result, false);
  const stopped = [result.publish, result.delist].find((change) => change?.stopped);
  if (stopped?.stopped) {
    ctx.output.warn(`${stopped.stopped.unsent} numbers to ${stopped.plan.action} were not sent; run the same sync again to finish`);
  }
  if (result.error && plan.delist.length > 0 && !result.delist) {
    ctx.output.warn(`delist not sent (${plural(plan.delist.length, 'number')}); run the same sync again to finish`);
  }
  if (result.error) throw result.error;
  ctx.output.success(`feature set ${featureSetLabel(plan.featureSet)} holds the desired numbers`);
}
