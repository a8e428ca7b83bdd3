/**
 * Every interactive question tcb asks goes through here. Prompts draw on stderr so stdout stays
 * data-only; @inquirer/prompts is imported only when a prompt is really shown. Callers check
 * CommandContext.requireInteractive first, so without a TTY nothing ever waits for an answer.
 */
import { InterruptedError } from '../errors.js';

export interface Prompts {
  text(message: string, options?: { default?: string; validate?: (value: string) => true | string }): Promise<string>;
  secret(message: string): Promise<string>;
  confirm(message: string, defaultValue?: boolean): Promise<boolean>;
}

const onStderr = { output: process.stderr };

/** Ctrl-C at a prompt is the user stopping the command (exit 130), not a failure. */
async function asked<T>(question: () => Promise<T>): Promise<T> {
  try {
    return await question();
  } catch (error) {
    if (error instanceof Error && error.name === 'ExitPromptError') {
      throw new InterruptedError('stopped at the prompt; nothing was changed');
    }
    throw error;
  }
}

export const terminalPrompts: Prompts = {
  async text(message, options = {}) {
    const { input } = await import('@inquirer/prompts');
    const answer = await asked(() => input({ message, default: options.default, validate: options.validate, required: true }, onStderr));
    return answer.trim();
  },
  async secret(message) {
    const { password } = await import('@inquirer/prompts');
    const answer = await asked(() =>
      password({ message, mask: '*', validate: (value) => (value.trim() ? true : 'required') }, onStderr),
    );
    return answer.trim();
  },
  async confirm(message, defaultValue = false) {
    const { confirm } = await import('@inquirer/prompts');
    return asked(() => confirm({ message, default: defaultValue }, onStderr));
  },
};
