import type { Command } from 'commander';
import { completionScript, type Shell } from '../services/tools/completion/index.js';

/**
 * tcb completion SHELL. Not run through the command context: a script needs no settings,
 * credentials or HTTP client, so this loads nothing but the generator.
 */
export default async function completion(program: Command, shell: string): Promise<void> {
  const script = completionScript(program, shell as Shell);
  if (!process.stdout.write(script)) await new Promise((resolve) => process.stdout.once('drain', resolve));
}
