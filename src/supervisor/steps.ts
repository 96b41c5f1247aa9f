// Long supervisor work written as a generator that yields now and then (listing checks, store
// grouping): run to the end at once, or in turns that let the event loop answer /healthz between.

import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Runs `steps` to its end without a pause and returns what it returns. */
export function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/** Runs `steps` in slices of at most `sliceMs`, letting the event loop turn between them. */
export async function runStepsInTurns<T>(steps: Generator<void, T>, sliceMs: number): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
    if (performance.now() - sliceStart < sliceMs) continue;
    await nextTurn();
    sliceStart = performance.now();
  }
}
