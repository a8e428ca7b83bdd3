import type { Command } from 'commander';
import { buildProgram, commander, heldStderr, invocation } from './cli.js';

/**
 * Writing to a closed stdout (`tcb … | head -1`) ends quietly with status 0. A closed stderr only
 * loses the messages: the work goes on and the exit status stays the work's (a long-running
 * `webhook listen` whose log reader died must keep serving).
 */
function exitQuietlyOnClosedPipe(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  process.stderr.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') return;
    throw error;
  });
}

/** The one place where an error becomes an exit code. */
export async function main(argv: string[] = process.argv): Promise<void> {
  exitQuietlyOnClosedPipe();
  const program = buildProgram(argv);
  let settled = false;
  // The event loop ran dry while the command still awaited something that can now never happen
  // (a bug): say so and exit 1, rather than end silently with 0.
  process.once('beforeExit', () => {
    if (settled) return;
    settled = true;
    void report(new Error('the command stopped before it finished: it was waiting for something that can no longer happen'), program.opts()).then(
      (code) => {
        process.exitCode = code;
      },
    );
  });
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof commander.CommanderError) {
      if (error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version') {
        process.exitCode = 0;
        return;
      }
      // `tcb` or `tcb auth` without a subcommand: commander has written the help (held back). Show
      // it, unless a JSON format was asked for: then the error envelope says what is missing.
      if (error.code === 'commander.help') {
        if (!wantsJson(program.opts())) {
          process.exitCode = 2;
          return;
        }
        error = await missingSubcommand(program, heldStderr.splice(0).join(''));
      } else {
        const { UsageError } = await import('./errors.js');
        // `--api-key=SECRET` is exactly the mistake a refused secret invites: never echo the value.
        const message = error.message.replace(/^error:\s*/i, '').replace(/(--?[\w-]+)=[^'\s]*/g, '$1=…');
        error = new UsageError(message, {
          hint: /--api-key\b(?!-stdin)/.test(message)
            ? 'the secret API key is never taken from the command line: use --api-key-stdin or TCB_API_KEY'
            : 'run the command with --help for its usage',
        });
      }
    }
    process.exitCode = await report(error, program.opts());
  } finally {
    settled = true;
    if (heldStderr.length > 0) process.stderr.write(heldStderr.splice(0).join(''));
  }
}

function wantsJson(flags: Record<string, unknown>, env = process.env): boolean {
  const format = String(flags.format ?? env.TCB_FORMAT ?? '').toLowerCase();
  return Boolean(flags.json) || format === 'json' || format === 'ndjson';
}

/** The usage error for a group run without a subcommand, found from the first line of its help. */
async function missingSubcommand(program: Command, help: string): Promise<Error> {
  const { UsageError } = await import('./errors.js');
  const path = /^Usage: (\S+(?: [^\s[]+)*)/.exec(help)?.[1] ?? program.name();
  let group = program;
  for (const name of path.split(' ').slice(1)) group = group.commands.find((c) => c.name() === name) ?? group;
  const subcommands = group.commands.map((c) => c.name());
  return new UsageError(`${path} needs a ${group === program ? 'command' : 'subcommand'}: ${subcommands.join(', ')}`, {
    hint: `run ${path} --help for its usage`,
    details: { commands: subcommands },
  });
}

async function report(error: unknown, flags: Record<string, unknown>): Promise<number> {
  const { isTcbError } = await import('./errors.js');
  const output = invocation.context?.output ?? (await import('./context.js')).fallbackOutput(flags);
  output.error(error);
  return isTcbError(error) ? error.exitCode : 1;
}
