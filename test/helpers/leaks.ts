/**
 * Looking for secrets in what code prints: every way a value is commonly printed or
 * serialized, and counting where a secret shows up in text.
 */
import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';

/**
 * What a structured logger makes of a value (pino's error serializer, say): every own
 * property, enumerable or not (`cause`, `errors`, `command`), recursively; cycles cut.
 */
export function ownPropertiesDeep(value: unknown, seen = new Set<unknown>()): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => ownPropertiesDeep(item, seen));
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  const out: Record<string, unknown> = {};
  for (const key of Object.getOwnPropertyNames(value)) {
    out[key] = ownPropertiesDeep((value as Record<string, unknown>)[key], seen);
  }
  return out;
}

/**
 * `value` printed every way application code prints things: console.log (as the Lambda runtime
 * writes it), `%o`, util.inspect to any depth with hidden properties, JSON.stringify (which
 * must not throw), and a structured logger's serialization.
 */
export function printedEveryWay(value: unknown): string {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      out.push(String(chunk));
      done();
    },
  });
  const console = new Console({ stdout: sink, stderr: sink });
  console.log(value);
  console.log('%o', value);
  console.error('failed:', value);
  out.push(inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true }));
  out.push(JSON.stringify(value) ?? '');
  out.push(JSON.stringify(ownPropertiesDeep(value)) ?? '');
  return out.join('\n');
}

/** How many times `needle` occurs in `text` (non-overlapping). */
export function occurrences(text: string, needle: string): number {
  return needle === '' ? 0 : text.split(needle).length - 1;
}
