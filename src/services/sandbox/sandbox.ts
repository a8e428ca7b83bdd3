import type { CommandContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import { startSandbox, describeSandbox, type SandboxOptions } from '../../sandbox/server.js';
import { onInterrupt } from '../../util/interrupt.js';

function numberOption(value: unknown, flag: string, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const parsed = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`${flag} must be a number from ${min} to ${max} (got "${String(value)}")`);
  }
  return parsed;
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
