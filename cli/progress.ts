/**
 * Progress on stderr while the request runs, so stdout carries only the result (a table or
 * JSON). On a terminal one line is redrawn in place and erased at the end; anywhere else (CI
 * logs, pipes) carriage returns would only garble the output, so there is one plain line.
 */
import { formatProgress } from './throughput-format.js';

const REDRAW_MS = 100;
/** Back to the line's start, then erase to its end. */
const CLEAR_LINE = '\r\x1b[K';

export interface Progress {
  stop(): void;
}

export function startProgress(
  expectedMs: number,
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  if (!stream.isTTY) {
    stream.write(`running… ${label}\n`);
    return { stop: () => {} };
  }
  const started = performance.now();
  const draw = () => {
    stream.write(`${CLEAR_LINE}${formatProgress(performance.now() - started, expectedMs)}`);
  };
  draw();
  const timer = setInterval(draw, REDRAW_MS);
  // The pending request keeps the process alive, never the progress line.
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      stream.write(CLEAR_LINE);
    },
  };
}
