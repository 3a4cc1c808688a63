/**
 * While a section runs, what goes to stdout (the EMF documents of the metrics-on sides) is
 * written to /dev/null with a synchronous write, as Lambda's stdout pipe takes it, so the
 * system call is in the figures and the terminal stays readable. The lines are counted (a write
 * may carry several documents), so the report can show they were written.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export interface StdoutRedirect {
  /** Lines written since the redirect began. */
  lines(): number;
  /** Puts stdout back. */
  restore(): void;
}

export function redirectStdoutToDevNull(): StdoutRedirect {
  const fd = openSync('/dev/null', 'w');
  const original = process.stdout.write;
  let lines = 0;
  process.stdout.write = ((chunk: string | Uint8Array): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    writeSync(fd, text);
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lines++;
    return true;
  }) as typeof process.stdout.write;
  return {
    lines: () => lines,
    restore: () => {
      process.stdout.write = original;
      closeSync(fd);
    },
  };
}
