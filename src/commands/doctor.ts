import type { CommandInput } from '../cli.js';
import type { CommandContext } from '../context.js';
import { doctorFailure, runDoctor, type CheckResult, type CheckStatus } from '../services/tools/doctor.js';

const MARKS: Record<CheckStatus, string> = { ok: '✔', warn: '!', fail: '✖', skip: '-' };

export default async function doctor(ctx: CommandContext, { opts }: CommandInput): Promise<void> {
  const report = await runDoctor(ctx, { store: opts.store as string | undefined });
  const { ok, checks } = report;
  const color = ctx.output.color;
  const paint: Record<CheckStatus, (text: string) => string> = { ok: color.green, warn: color.yellow, fail: color.red, skip: color.dim };
  const width = Math.max(...checks.map((check) => check.name.length));

  await ctx.output.object({ ok, checks }, () => {
    const lines = checks.map((check: CheckResult) => {
      let line = `${paint[check.status](MARKS[check.status])} ${check.name.padEnd(width)}  ${check.detail}`;
      if (check.hint && check.status !== 'ok') line += `\n  ${' '.repeat(width)}  ${color.dim(`hint: ${check.hint}`)}`;
      return line;
    });
    const failed = checks.filter((check) => check.status === 'fail').length;
    const warned = checks.filter((check) => check.status === 'warn').length;
    const summary = failed > 0 ? `${failed} failed, ${warned} warning${warned === 1 ? '' : 's'}` : warned > 0 ? `no failures, ${warned} warning${warned === 1 ? '' : 's'}` : 'all checks passed';
    return `${lines.join('\n')}\n\n${summary}\n`;
  });

  const failure = doctorFailure(report);
  if (failure) throw failure;
}
