// `tcb help [TOPIC | COMMAND…]`: guides, the generated reference, or a command's own help.
import type { Command } from 'commander';
import { resolveColor } from '../config/settings.js';
import { buildReference, walkCommands, commandPath } from './reference.js';
import { listTopics, PLAIN, readTopic, renderMarkdown, type Style } from './topics.js';

async function terminalStyle(flags: Record<string, unknown>): Promise<Style> {
  if (!process.stdout.isTTY || !resolveColor(flags, process.env, true)) return PLAIN;
  const { default: chalk } = await import('chalk');
  return {
    heading: (text, level) => (level === 1 ? chalk.bold.underline(text) : chalk.bold(text)),
    code: (text) => chalk.cyan(text),
    strong: (text) => chalk.bold(text),
  };
}

export function topicsSummary(): string {
  const topics = listTopics();
  const width = Math.max(...topics.map((t) => t.name.length));
  return ['Help topics (tcb help TOPIC):', ...topics.map((t) => `  ${t.name.padEnd(width)}  ${t.title}`), `  ${'reference'.padEnd(width)}  Every command, its arguments, flags and examples`].join('\n');
}

function findCommand(program: Command, words: string[]): Command | undefined {
  let current: Command | undefined = program;
  for (const word of words) {
    current = current?.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!current) return undefined;
  }
  return current;
}

export async function runHelp(program: Command, words: string[], flags: Record<string, unknown>): Promise<void> {
  const write = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const style = await terminalStyle(flags);
  if (words.length === 0) {
    write(program.helpInformation());
    write(`\n${topicsSummary()}\n`);
    return;
  }
  const [first] = words;
  if (words.length === 1 && first === 'reference') {
    write(renderMarkdown(buildReference(program), style));
    return;
  }
  if (words.length === 1 && listTopics().some((t) => t.name === first!.toLowerCase())) {
    const command = findCommand(program, words);
    const seeAlso = command ? `\n\nSee also: tcb ${commandPath(command).replace(/^tcb /, '')} --help` : '';
    write(renderMarkdown(readTopic(first!) + seeAlso, style));
    return;
  }
  const command = findCommand(program, words);
  if (command) {
    command.outputHelp();
    return;
  }
  readTopic(words.join(' ')); // throws the usage error that lists the topics
}

/** Names of every command, for tests and the reference. */
export function allCommandPaths(program: Command): string[] {
  return walkCommands(program).map(commandPath);
}
