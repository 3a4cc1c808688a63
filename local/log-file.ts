/**
 * An environment's stdout and stderr, captured in a file rather than a pipe.
 *
 * Why a file: the runtime writes its log lines synchronously (a Node process writes stdout
 * synchronously to files, and the RIC's patched console ends in a write(2)) and only then posts
 * the response. So when the response arrives, every line the handler printed before returning
 * is already in the file, and a synchronous read at that moment sees all of them. With a pipe
 * the response can overtake the last chunks of output, and there is no event that says "the
 * pipe is drained up to here".
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

const CHUNK_BYTES = 64 * 1024;

export class LogFile {
  /** Our copy of the write side, until the child has its own. */
  #writeFd: number | undefined;
  readonly #readFd: number;
  readonly #decoder = new StringDecoder('utf8');
  readonly #chunk = Buffer.alloc(CHUNK_BYTES);
  #position = 0;
  /** Text after the last newline, waiting for the rest of its line. */
  #partial = '';
  #closed = false;

  constructor(readonly path: string) {
    this.#writeFd = openSync(path, 'a');
    this.#readFd = openSync(path, 'r');
  }

  /** Give this to the child as both stdout and stderr (O_APPEND keeps their lines whole). */
  get writeFd(): number {
    if (this.#writeFd === undefined) throw new Error(`${this.path}: write side already released`);
    return this.#writeFd;
  }

  /** Our copy of the write side is only needed until the child has been spawned with it. */
  releaseWriteFd(): void {
    if (this.#writeFd === undefined) return;
    closeSync(this.#writeFd);
    this.#writeFd = undefined;
  }

  /** Complete lines written since the last call. */
  drain(): string[] {
    if (this.#closed) return [];
    let text = this.#partial;
    for (;;) {
      const bytes = readSync(this.#readFd, this.#chunk, 0, CHUNK_BYTES, this.#position);
      if (bytes === 0) break;
      this.#position += bytes;
      text += this.#decoder.write(this.#chunk.subarray(0, bytes));
    }
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    return lines;
  }

  /** Everything left, including an unterminated last line; for when the writer has exited. */
  drainAll(): string[] {
    const lines = this.drain();
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    if (rest !== '') lines.push(rest);
    return lines;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.releaseWriteFd();
    closeSync(this.#readFd);
  }
}
