import type { Label } from '../../api/labels.js';
import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import type { Column } from '../../output/output.js';
import { listLabels, parseListOptions } from '../../services/catalog/listing.js';

const COLUMNS: Column<Label>[] = [
  { header: 'ID', value: (label) => label.id },
  { header: 'Name', value: (label) => label.name },
  { header: 'Type', value: (label) => label.label_type },
  { header: 'Category', value: (label) => [label.category, label.sub_category].filter((v) => v !== undefined).join('/') },
  { header: 'Created', value: (label) => label.created_at?.slice(0, 10) },
];

export default async function labelsList(ctx: CommandContext, { opts }: CommandInput): Promise<void> {
  const options = parseListOptions(opts);
  const writer = ctx.output.listWriter(COLUMNS);
  for await (const page of listLabels(ctx, options)) await writer.write(page);
  await writer.end();
}
