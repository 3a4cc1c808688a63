/**
 * Parameters of the throughput test, from a query string (GET) or a JSON body (POST).
 * Every bad parameter is named in one 400, so a caller fixes them all at once.
 *
 * - A parameter that is absent, `null` (JSON) or empty (`?op=`) takes its default: the same
 *   rule for every parameter, so a client that serializes "not set" as null gets the defaults.
 * - A POST reads its JSON body only: query parameters on a POST are a 400 naming them, rather
 *   than being ignored (or half-merged) while the caller believes they were applied.
 */
import { type ApiRequest, BadRequest } from './http.js';
import { LIMITS, OPS, type Op, type ThroughputParams } from './throughput-contract.js';

const KNOWN = new Set(['durationMs', 'concurrency', 'op', 'valueBytes', 'keyspace']);

export function parseThroughputParams(request: ApiRequest): ThroughputParams {
  const post = request.method === 'POST';
  const queryNames = Object.keys(request.query);
  if (post && queryNames.length > 0) {
    throw new BadRequest(
      `${queryNames.join(', ')}: query parameters on a POST are not read (send every parameter in the JSON body)`,
    );
  }
  const input = post ? bodyParams(request.body) : request.query;
  const problems: string[] = [];
  for (const key of Object.keys(input)) {
    if (!KNOWN.has(key))
      problems.push(`${key}: unknown parameter (known: ${[...KNOWN].join(', ')})`);
  }
  /** The value given, or undefined when the parameter is absent, null or empty. */
  const given = (key: string): unknown => {
    const value = Object.hasOwn(input, key) ? input[key] : undefined;
    return value === null || value === '' ? undefined : value;
  };
  const integer = (key: keyof typeof LIMITS): number => {
    const range = LIMITS[key];
    const value = given(key);
    if (value === undefined) return range.default;
    const n =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && /^-?\d+$/.test(value.trim())
          ? Number(value)
          : Number.NaN;
    if (!Number.isInteger(n) || n < range.min || n > range.max) {
      problems.push(
        `${key}: expected an integer from ${range.min} to ${range.max}, got ${describe(value)}`,
      );
      return range.default;
    }
    return n;
  };
  const params = {
    durationMs: integer('durationMs'),
    concurrency: integer('concurrency'),
    valueBytes: integer('valueBytes'),
    keyspace: integer('keyspace'),
    op: 'get' as Op,
  };
  const op = given('op') ?? 'get';
  if (typeof op === 'string' && (OPS as readonly string[]).includes(op)) params.op = op as Op;
  else problems.push(`op: expected one of ${OPS.join(', ')}, got ${describe(op)}`);
  if (problems.length > 0) throw new BadRequest(problems.join('; '));
  return params;
}

function bodyParams(body: string | undefined): Record<string, unknown> {
  if (body === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new BadRequest('body: expected a JSON object, got malformed JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadRequest(
      `body: expected a JSON object, got ${Array.isArray(parsed) ? 'an array' : describe(parsed)}`,
    );
  }
  return parsed as Record<string, unknown>;
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
