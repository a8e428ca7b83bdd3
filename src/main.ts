import { buildProgram, commander, invocation } from './cli.js';
import { installInterruptHandlers } from './util/interrupt.js';

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
  installInterruptHandlers();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof commander.CommanderError) {
      if (error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version') {
        process.exitCode = 0;
        return;
      }
      // `tcb` or `tcb auth` without a subcommand: commander has already shown the help on stderr.
      if (error.code === 'commander.help') {
        process.exitCode = 2;
        return;
      }
      const { UsageError } = await import('./errors.js');
      // `--api-key=SECRET` is exactly the mistake a refused secret invites: never echo the value.
      const message = error.message.replace(/^error:\s*/i, '').replace(/(--?[\w-]+)=[^'\s]*/g, '$1=…');
      error = new UsageError(message, {
        hint: /--api-key\b(?!-stdin)/.test(message)
          ? 'the secret API key is never taken from the command line: use --api-key-stdin or TCB_API_KEY'
          : 'run the command with --help for its usage',
      });
    }
    process.exitCode = await report(error, program.opts());
  }
}

async function report(error: unknown, flags: Record<string, unknown>): Promise<number> {
  const { isTcbError } = await import('./errors.js');
  const output = invocation.context?.output ?? (await import('./context.js')).fallbackOutput(flags);
  output.error(error);
  return isTcbError(error) ? error.exitCode : 1;
}
