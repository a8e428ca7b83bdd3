/**
 * Ctrl-C (and SIGTERM, SIGHUP) handling. Commands that can stop cleanly (uploads writing a journal) subscribe with
 * onInterrupt() and finish in their own time, ending with InterruptedError (exit 130). With no
 * subscriber, or on a second Ctrl-C, the process removes its temporary files and exits 130
 * (or the code an onRepeatedInterrupt() handler returns, once it has reported what it abandons).
 */
const controller = new AbortController();
let subscribers = 0;
let installed = false;
let firstSignal: NodeJS.Signals | undefined;
const repeatHandlers = new Set<(signal: NodeJS.Signals) => number | void>();

export const interruptSignal: AbortSignal = controller.signal;

export function onInterrupt(handler: () => void): () => void {
  subscribers += 1;
  controller.signal.addEventListener('abort', handler, { once: true });
  return () => {
    subscribers -= 1;
    controller.signal.removeEventListener('abort', handler);
  };
}

/** Which signal stopped the command: SIGTERM is a service manager's normal stop, SIGINT a person's Ctrl-C. */
export function interruptedBy(): NodeJS.Signals | undefined {
  return firstSignal;
}

/**
 * Called synchronously on a second signal, just before the process exits: the place to report
 * work that is abandoned. A returned number replaces the exit code 130.
 */
export function onRepeatedInterrupt(handler: (signal: NodeJS.Signals) => number | void): () => void {
  repeatHandlers.add(handler);
  return () => repeatHandlers.delete(handler);
}

async function exitInterrupted(code = 130): Promise<never> {
  // Imported here, not at start-up: only an interrupted run needs it.
  const { removePendingTempFiles } = await import('../output/atomic-file.js');
  await removePendingTempFiles().catch(() => {});
  process.exit(code);
}

/** A repeat of the signal sooner than this after the first is an echo, not the user pressing Ctrl-C again. */
const SIGNAL_ECHO_MS = 250;

export function installInterruptHandlers(): void {
  if (installed) return;
  installed = true;
  let firstAt = 0;
  let echoOf: NodeJS.Signals | undefined;
  const handle = (signal: NodeJS.Signals) => {
    // when-exit (loaded by conf → atomically) listens too, and re-sends the first signal to this
    // process once; that echo may arrive late on a busy machine and must not count as a second
    // Ctrl-C. It is expected when another listener for the signal is present.
    if (echoOf === signal) {
      echoOf = undefined;
      return;
    }
    if (controller.signal.aborted && Date.now() - firstAt < SIGNAL_ECHO_MS) return;
    if (controller.signal.aborted || subscribers === 0) {
      let code: number | undefined;
      if (controller.signal.aborted) {
        for (const handler of repeatHandlers) code = handler(signal) ?? code;
      }
      void exitInterrupted(code);
      return;
    }
    firstAt = Date.now();
    firstSignal = signal;
    if (process.listenerCount(signal) > 1) echoOf = signal;
    controller.abort();
  };
  // SIGHUP (the terminal closed, or a supervisor's reload) stops a run like SIGTERM: cleanly,
  // with its temporary files removed, never leaving a half-written file behind.
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
  process.on('SIGHUP', handle);
}
