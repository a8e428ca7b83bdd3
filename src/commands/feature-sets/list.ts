import type { FeatureSet } from '../../api/feature-sets.js';
import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import type { Column } from '../../output/output.js';
import { FEATURE_SET_FILTERS, listFeatureSets, parseListOptions } from '../../services/catalog/listing.js';

const COLUMNS: Column<FeatureSet>[] = [
  { header: 'ID', value: (set) => set.id },
  { header: 'Name', value: (set) => set.name },
  { header: 'Status', value: (set) => set.status },
  { header: 'Department', value: (set) => set.department_name },
  { header: 'Operation', value: (set) => set.calling_operation_name },
  { header: 'Process', value: (set) => [set.process_name, set.sub_process_name].filter(Boolean).join(' / ') },
  { header: 'CMB', value: (set) => (set.call_me_back ? 'yes' : 'no') },
  { header: 'Survey', value: (set) => (set.survey ? 'yes' : 'no') },
  { header: 'Updated', value: (set) => set.updated_at?.slice(0, 10) },
];

export default async function featureSetsList(ctx: CommandContext, { opts }: CommandInput): Promise<void> {
  const options = parseListOptions(opts, FEATURE_SET_FILTERS);
  const writer = ctx.output.listWriter(COLUMNS);
  for await (const page of listFeatureSets(ctx, options)) await writer.write(page);
  await writer.end();
}
