import { allCommands, optionNames, type CompletionTree, type ValueKind } from './tree.js';

/** Single-quoted for sh-like shells (bash, zsh): ' becomes '\''. */
export function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** One line, no control characters: descriptions go inside quoted script text. */
export function oneLine(text: string): string {
  return text.replace(/[\0-\x1f\x7f]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** The kind as the scripts' lookup functions return it: none, text, file, or `choices a b c`. */
export function kindWord(value: ValueKind): string {
  return value.kind === 'choices' ? `choices ${value.choices.join(' ')}` : value.kind;
}

export interface ValueCase {
  /** Command path joined by spaces ('' for tcb itself). */
  path: string;
  option: string;
  kind: string;
}

/**
 * What each option takes, per command (own options, which win over global ones of the same
 * name) and globally. Flags (kind none) are left out: lookups answer `none` by default.
 */
export function valueCases(tree: CompletionTree): { local: ValueCase[]; global: Array<{ option: string; kind: string }> } {
  const local: ValueCase[] = [];
  for (const command of allCommands(tree)) {
    if (command.path.length === 0) continue;
    for (const option of command.options) {
      if (option.value.kind === 'none') continue;
      for (const name of optionNames(option)) local.push({ path: command.path.join(' '), option: name, kind: kindWord(option.value) });
    }
  }
  const global = tree.globalOptions
    .filter((option) => option.value.kind !== 'none')
    .flatMap((option) => optionNames(option).map((name) => ({ option: name, kind: kindWord(option.value) })));
  return { local, global };
}

export interface ArgumentCase {
  path: string;
  /** A position, or '*' for a variadic last argument (every position from its own on). */
  index: number | '*';
  kind: string;
}

export function argumentCases(tree: CompletionTree): ArgumentCase[] {
  const cases: ArgumentCase[] = [];
  for (const command of allCommands(tree)) {
    command.arguments.forEach((argument, index) => {
      const kind = kindWord(argument.value);
      if (kind === 'text') return;
      cases.push({ path: command.path.join(' '), index, kind });
      if (argument.variadic) cases.push({ path: command.path.join(' '), index: '*', kind });
    });
  }
  return cases;
}
