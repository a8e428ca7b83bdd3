// `tcb help reference`: the whole command reference, generated from the command tree at run time
// so that it can never drift from what the parser accepts.
import type { Command } from 'commander';

export const EXIT_CODES: ReadonlyArray<readonly [number, string]> = [
  [0, 'success'],
  [1, 'unexpected error: a bug in tcb (--verbose shows the stack)'],
  [2, 'usage error or invalid input; nothing was sent'],
  [3, 'authentication or authorisation failed'],
  [4, 'the API rejected the request (other 4xx)'],
  [5, 'transient failure that outlasted the retries (429, 5xx, network, timeout)'],
  [6, 'partial failure: done, but some numbers or records failed'],
  [7, '--wait gave up before the work finished'],
  [130, 'interrupted (Ctrl-C, SIGTERM)'],
];

/** What `--help` prints after the usage (the examples), captured instead of written. */
function afterHelpText(command: Command): string {
  let text = '';
  (command as unknown as NodeJS.EventEmitter).emit('afterHelp', { error: false, command, write: (chunk: string) => (text += chunk) });
  return text.trim();
}

/** Every command below `root`, depth first, in registration order; groups included. */
export function walkCommands(root: Command): Command[] {
  const out: Command[] = [];
  const visit = (command: Command) => {
    for (const sub of command.commands) {
      out.push(sub);
      visit(sub);
    }
  };
  visit(root);
  return out;
}

export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export function buildReference(program: Command): string {
  const lines: string[] = ['# tcb command reference', ''];
  lines.push(`Generated from the command tree of tcb ${program.version() ?? ''}.`.replace(' .', '.'), '');
  lines.push('## Global options', '', '```', program.helpInformation().trim(), '```', '');
  lines.push('## Exit codes', '', '| code | meaning |', '|---|---|');
  for (const [code, meaning] of EXIT_CODES) lines.push(`| ${code} | ${meaning} |`);
  lines.push('');
  for (const command of walkCommands(program)) {
    if (command.name() === 'help') continue;
    lines.push(`## ${commandPath(command)}`, '');
    const help = command.helpInformation().trim();
    const after = afterHelpText(command);
    lines.push('```', help, ...(after ? ['', after] : []), '```', '');
  }
  return `${lines.join('\n').trim()}\n`;
}
