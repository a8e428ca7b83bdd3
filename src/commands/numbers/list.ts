import type { NumberDetails } from '../../api/numbers.js';
import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import type { Column } from '../../output/output.js';
import { parseListOptions } from '../../services/catalog/listing.js';
import { NUMBER_FILTERS, listNumbers, resolveFeatureSet } from '../../services/numbers/numbers.js';

const COLUMNS: Column<NumberDetails>[] = [
  { header: 'Number', value: (n) => n.phone_number },
  { header: 'Status', value: (n) => n.status },
  { header: 'Feature set', value: (n) => n.feature_set_name },
  { header: 'Label', value: (n) => n.label_name },
  { header: 'Call me back', value: (n) => n.call_me_back },
  { header: 'Updated', value: (n) => n.updated_at?.replace('T', ' ').slice(0, 16) },
];

export default async function numbersList(ctx: CommandContext, { opts }: CommandInput): Promise<void> {
  const options = parseListOptions(opts, NUMBER_FILTERS);
  const featureSet = typeof opts.featureSet === 'string' ? await resolveFeatureSet(ctx, opts.featureSet) : undefined;
  const writer = ctx.output.listWriter(COLUMNS);
  for await (const page of listNumbers(ctx, { ...options, featureSetId: featureSet?.id })) await writer.write(page);
  await writer.end();
}
