import type cliProgressTypes from 'cli-progress';
import type { Output } from '../output/output.js';
import type { UploadPhase, UploadProgress } from '../services/call-reasons/upload/upload.js';

const PHASE_LABEL: Record<UploadPhase, string> = { validating: 'Validating', sending: 'Sending', waiting: 'Waiting' };

export type ProgressBar = { update(p: UploadProgress): void; end(phase: UploadPhase): void; stop(): void };

/** A progress bar on stderr, only for people (TTY, not --quiet); cli-progress is loaded only then. */
export async function uploadProgressBar(output: Output): Promise<ProgressBar | undefined> {
  if (!output.showsProgress) return undefined;
  const cliProgress = (await import('cli-progress')).default as typeof cliProgressTypes;
  let bar: cliProgressTypes.SingleBar | undefined;
  let phase: UploadPhase | undefined;
  const started = new Map<UploadPhase, number>();
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    update(p) {
      if (phase !== p.phase) {
        stop();
        phase = p.phase;
        started.set(p.phase, Date.now());
        const unit = p.phase === 'validating' ? 'bytes' : p.phase === 'sending' ? 'records' : 'batches';
        bar = new cliProgress.SingleBar(
          {
            stream: output.stderr,
            format: `${PHASE_LABEL[p.phase]} |{bar}| {percentage}% | {value}/{total} ${unit}{extra} | ETA {eta_formatted}`,
            hideCursor: true,
            clearOnComplete: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Math.max(1, p.total), 0, { extra: '' });
      }
      let extra = '';
      if (p.phase === 'sending') {
        const seconds = Math.max(0.001, (Date.now() - started.get('sending')!) / 1000);
        extra = ` | ${p.batchesDone}/${p.batchesTotal} batches | ${((p.batchesDone / seconds) * 60).toFixed(1)} req/min`;
      }
      bar?.update(p.done, { extra });
    },
    end() {
      stop();
    },
    stop,
  };
}

