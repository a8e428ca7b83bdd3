import type { CommandContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import { startSandbox, describeSandbox, type AccessArea, type SandboxOptions } from '../../sandbox/server.js';
import { ALL_ACCESS_AREAS } from '../../sandbox/types.js';
import { parseDuration, TimeParseError } from '../../util/time.js';
import { onInterrupt } from '../../util/interrupt.js';

function numberOption(value: unknown, flag: string, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const parsed = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`${flag} must be a number from ${min} to ${max} (got "${String(value)}")`);
  }
  return parsed;
}

/** `+10m`, `-90s`, `2h`; a bare number is seconds. Negative: the server's clock is behind. */
export function parseClockOffset(value: string): number {
  const text = value.trim();
  const sign = text.startsWith('-') ? -1 : 1;
  const magnitude = text.replace(/^[+-]/, '').trim();
  try {
    const ms = /^\d+(\.\d+)?$/.test(magnitude) ? Number(magnitude) * 1000 : parseDuration(magnitude);
    return sign * Math.round(ms);
  } catch (error) {
    if (!(error instanceof TimeParseError)) throw error;
    throw new UsageError(`--clock-offset must be a signed duration such as +10m, -90s or 2h (got "${value}")`);
  }
}

export function parseAccessAreas(value: string): AccessArea[] {
  const areas = value.split(',').map((area) => area.trim()).filter(Boolean);
  for (const area of areas) {
    if (!(ALL_ACCESS_AREAS as readonly string[]).includes(area)) {
      throw new UsageError(`--deny-access: unknown access area "${area}"; use ${ALL_ACCESS_AREAS.join(', ')}`);
    }
  }
  return areas as AccessArea[];
}

export function sandboxOptions(opts: Record<string, unknown>): SandboxOptions {
  return {
    port: numberOption(opts.port, '--port', { max: 65535 }),
    host: String(opts.host ?? '127.0.0.1'),
    tokenLifetimeSeconds: numberOption(opts.tokenLifetime, '--token-lifetime', { min: 1 }),
    tokenQuota: numberOption(opts.tokenQuota, '--token-quota', { min: 1 }),
    latencyMs: numberOption(opts.latency, '--latency'),
    failureRate: numberOption(opts.failureRate, '--failure-rate', { max: 1 }),
    numberProcessingMs: opts.numberDelay === undefined ? undefined : numberOption(opts.numberDelay, '--number-delay'),
    batchDelayMs: opts.batchDelay === undefined ? undefined : numberOption(opts.batchDelay, '--batch-delay'),
    clockOffsetMs: opts.clockOffset === undefined ? undefined : parseClockOffset(String(opts.clockOffset)),
    deniedAccess: opts.denyAccess === undefined ? undefined : parseAccessAreas(String(opts.denyAccess)),
  };
}

/** tcb sandbox: serve the emulator until Ctrl-C or SIGTERM, then close cleanly. */
export async function serveSandbox(ctx: CommandContext, opts: Record<string, unknown>): Promise<void> {
  const handle = await startSandbox(sandboxOptions(opts));
  const { credentials } = handle;
  await ctx.output.object(
    {
      url: handle.url,
      client_account_id: credentials.clientAccountId,
      key_id: credentials.keyId,
      api_key: credentials.apiKey,
      restricted_key_id: handle.restrictedCredentials.keyId,
      restricted_api_key: handle.restrictedCredentials.apiKey,
    },
    () => describeSandbox(handle),
  );
  await new Promise<void>((resolve) => {
    const unsubscribe = onInterrupt(() => {
      unsubscribe();
      resolve();
    });
  });
  await handle.close();
  ctx.output.info('Sandbox stopped.');
}
