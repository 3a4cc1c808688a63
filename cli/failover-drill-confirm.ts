/**
 * The question asked before a failover drill on a terminal: the person must answer y or yes.
 * Anything else, or the end of the input, is a no.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export async function confirm(
  question: string,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<boolean> {
  const lines = createInterface({ input, output, terminal: false });
  try {
    output.write(question);
    const answer = await Promise.race([
      once(lines, 'line').then(([line]) => String(line)),
      once(lines, 'close').then(() => ''),
    ]);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    lines.close();
  }
}
