/**
 * Reading the lines the RIC's patched console writes.
 *
 * TEXT format (the default): `2025-01-01T00:00:00.000Z\t<requestId>\tINFO\t<message>`.
 * JSON format (AWS_LAMBDA_LOG_FORMAT=JSON, and always in Managed Instances mode):
 * `{"timestamp":"…","level":"INFO","requestId":"…","message":"…"}`.
 * Anything else (process.stdout.write, a logger with its own console) is passed through as is.
 */

export interface LogLine {
  timestamp?: string;
  /** '-' outside an invocation (the RIC's own placeholder) is reported as undefined. */
  requestId?: string;
  level?: string;
  /** The message without the runtime's prefix; the whole line for raw lines. */
  message: string;
}

const TEXT_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z)\t([^\t]+)\t([A-Z]+)\t/;

export function parseLogLine(line: string): LogLine {
  const text = TEXT_LINE.exec(line);
  if (text !== null) {
    return withRequestId(
      { timestamp: text[1], level: text[3], message: line.slice(text[0].length) },
      text[2],
    );
  }
  if (line.startsWith('{')) {
    const json = parseRuntimeJson(line);
    if (json !== undefined) return json;
  }
  return { message: line };
}

function parseRuntimeJson(line: string): LogLine | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { timestamp, level, requestId, message } = parsed as Record<string, unknown>;
  if (typeof timestamp !== 'string' || typeof level !== 'string') return undefined;
  if (typeof requestId !== 'string') return undefined;
  const text = typeof message === 'string' ? message : JSON.stringify(message);
  return withRequestId({ timestamp, level, message: text }, requestId);
}

function withRequestId(entry: LogLine, requestId: string | undefined): LogLine {
  if (requestId !== undefined && requestId !== '-') entry.requestId = requestId;
  return entry;
}
