import { buildProgram, commander, invocation } from './cli.js';
import { installInterruptHandlers } from './util/interrupt.js';

/** Writing to a closed pipe (`tcb … | head -1`) ends quietly with status 0. */
function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
  }
}

/** The one place where an error becomes an exit code. */
export async function main(argv: string[] = process.argv): Promise<void> {
  exitQuietlyOnClosedPipe();
  installInterruptHandlers();
  const program = buildProgram();
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
  } finally {
    settled = true;
  }
}

async function report(error: unknown, flags: Record<string, unknown>): Promise<number> {
  const { isTcbError } = await import('./errors.js');
  const output = invocation.context?.output ?? (await import('./context.js')).fallbackOutput(flags);
  output.error(error);
  return isTcbError(error) ? error.exitCode : 1;
}
