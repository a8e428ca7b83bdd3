import type { ResponseInfo } from '../api/client.js';
import type { CommandInput, FieldArgument } from '../cli.js';
import type { CommandContext } from '../context.js';
import { isTcbError, UsageError } from '../errors.js';
import {
  formatResponseHead,
  paginateApiRequest,
  prepareApiRequest,
  renderBody,
  sendApiRequest,
} from '../services/tools/api-request.js';

export default async function api(ctx: CommandContext, { args, opts, command }: CommandInput): Promise<void> {
  const chosenFormat = command.optsWithGlobals().format as string | undefined;
  if (chosenFormat === 'table' || chosenFormat === 'csv') {
    throw new UsageError(`tcb api prints the API's own body; --format ${chosenFormat} does not apply (use json or ndjson)`);
  }
  const fields = [...((opts.rawField as FieldArgument[]) ?? []), ...((opts.field as FieldArgument[]) ?? [])].sort((a, b) => a.order - b.order);
  const request = await prepareApiRequest(ctx, {
    path: String(args[0]),
    method: opts.method as string | undefined,
    fields,
    input: opts.input as string | undefined,
    headers: (opts.header as string[]) ?? [],
    paginate: Boolean(opts.paginate),
  });
  const onResponse = opts.include ? (info: ResponseInfo) => ctx.output.requested(formatResponseHead(info)) : undefined;
  const silent = Boolean(opts.silent);
  const ndjson = ctx.settings.format === 'ndjson';
  const pretty = ctx.settings.stdoutIsTTY && !ndjson;

  try {
    if (!opts.paginate) {
      const response = await sendApiRequest(ctx, request, onResponse);
      if (!silent) await ctx.output.writeStdout(renderBody(response, pretty));
      return;
    }
    // JSON: one array, printed once every page has come (a failure leaves stdout empty).
    // ndjson: each page as it comes, one item a line.
    const items: unknown[] = [];
    for await (const page of paginateApiRequest(ctx, request, onResponse)) {
      if (page.kind === 'not-a-list') {
        ctx.output.warn('the answer is not a list, so there are no pages to follow; printed as it came');
        if (!silent) await ctx.output.writeStdout(renderBody(page.response, pretty));
        return;
      }
      if (ndjson) {
        if (!silent) await ctx.output.writeStdout(page.items.map((item) => `${JSON.stringify(item)}\n`).join(''));
      } else {
        items.push(...page.items);
      }
    }
    if (!ndjson && !silent) await ctx.output.writeStdout(`${JSON.stringify(items, null, pretty ? 2 : undefined)}\n`);
  } catch (error) {
    // The JSON error envelope carries the body; a readable error message does not, so show it.
    const body = isTcbError(error) ? error.details?.body : undefined;
    if (body !== undefined && !ctx.output.errorsAsJson) {
      ctx.output.requested(`${typeof body === 'string' ? body : JSON.stringify(body, null, 2)}\n`);
    }
    throw error;
  }
}
