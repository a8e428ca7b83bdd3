import type { Argument, Command, Option } from 'commander';

/**
 * The command tree as completion scripts need it, read from commander's own objects (the ones
 * `--help` prints), so a script never lists a command or flag tcb does not have.
 */
export type ValueKind =
  | { kind: 'none' }
  /** Any text: nothing to offer. */
  | { kind: 'text' }
  | { kind: 'file' }
  | { kind: 'choices'; choices: string[] };

export interface OptionSpec {
  long?: string;
  short?: string;
  description: string;
  value: ValueKind;
}

export interface ArgumentSpec {
  name: string;
  value: ValueKind;
  variadic: boolean;
}

export interface CommandSpec {
  /** Words after `tcb`, e.g. ['call-reason', 'upload']; [] for tcb itself. */
  path: string[];
  name: string;
  description: string;
  /** Its own options (help included); the global ones are on the tree. */
  options: OptionSpec[];
  arguments: ArgumentSpec[];
  subcommands: CommandSpec[];
}

export interface CompletionTree {
  program: string;
  root: CommandSpec;
  /** tcb's own options, accepted after any subcommand too. */
  globalOptions: OptionSpec[];
}

/** A value placeholder such as <file>, <path> or <file|-> means a file name. */
const FILE_PLACEHOLDER = /^(file|path|dir|directory)(\|-)?$/i;

function placeholder(flags: string): string | undefined {
  return /[<[]([^>\]]+)[>\]]/.exec(flags)?.[1];
}

function valueOf(takesValue: boolean, choices: readonly string[] | undefined, name: string | undefined): ValueKind {
  if (!takesValue) return { kind: 'none' };
  if (choices && choices.length > 0) return { kind: 'choices', choices: [...choices] };
  if (name && FILE_PLACEHOLDER.test(name.replace(/\.\.\.$/, ''))) return { kind: 'file' };
  return { kind: 'text' };
}

function optionSpec(option: Option): OptionSpec {
  return {
    long: option.long,
    short: option.short,
    description: option.description,
    value: valueOf(option.required || option.optional, option.argChoices, placeholder(option.flags)),
  };
}

function argumentSpec(argument: Argument): ArgumentSpec {
  return { name: argument.name(), value: valueOf(true, argument.argChoices, argument.name()), variadic: argument.variadic };
}

function describe(command: Command, path: string[], siblings?: string[]): CommandSpec {
  const help = command.createHelp();
  const subcommands: CommandSpec[] = [];
  const visible = help.visibleCommands(command);
  const names = visible.map((sub) => sub.name());
  for (const sub of visible) {
    // commander's own `help [command]` is not in command.commands: its argument is a sibling command.
    const implicitHelp = !command.commands.includes(sub);
    subcommands.push(describe(sub, [...path, sub.name()], implicitHelp ? names.filter((name) => name !== sub.name()) : undefined));
  }
  let args = command.registeredArguments.map(argumentSpec);
  if (siblings) args = [{ name: 'command', value: { kind: 'choices', choices: siblings }, variadic: false }];
  return {
    path,
    name: command.name(),
    description: command.description(),
    options: help.visibleOptions(command).map(optionSpec),
    arguments: args,
    subcommands,
  };
}

export function completionTree(program: Command): CompletionTree {
  const root = describe(program, []);
  const globalOptions = root.options.filter((option) => option.long !== '--help' && option.long !== '--version');
  return { program: program.name(), root, globalOptions };
}

/** Every command, depth first, tcb itself first. */
export function allCommands(tree: CompletionTree): CommandSpec[] {
  const out: CommandSpec[] = [];
  const visit = (command: CommandSpec) => {
    out.push(command);
    command.subcommands.forEach(visit);
  };
  visit(tree.root);
  return out;
}

/** The options offered after a command: its own, then the global ones it does not shadow. */
export function optionsAt(tree: CompletionTree, command: CommandSpec): OptionSpec[] {
  if (command.path.length === 0) return command.options;
  const own = new Set(command.options.flatMap((option) => [option.long, option.short]).filter(Boolean));
  return [...command.options, ...tree.globalOptions.filter((option) => !own.has(option.long) && !own.has(option.short))];
}

export function optionNames(option: OptionSpec): string[] {
  return [option.short, option.long].filter((name): name is string => Boolean(name));
}
