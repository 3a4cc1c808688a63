/**
 * Lambda-shaped inputs for handler tests: a context whose getRemainingTimeInMillis() counts
 * down from a real deadline, and capture of what a handler writes to stdout (where EMF goes).
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { vi } from 'vitest';
import { assertValidEmf } from './emf.js';

export function lambdaContext(timeoutMs = 3_000, functionName = 'lambda-redis-pool-test'): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/25/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** An EMF document as CloudWatch reads it. */
export interface EmfDocument {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string }>;
    }>;
  };
  [key: string]: unknown;
}

/**
 * Everything written to stdout while `fn` runs, and the EMF documents among it, each checked
 * against the EMF specification (./emf.ts): an invalid document fails the test that wrote it.
 */
export async function captureStdout<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; lines: string[]; emf: EmfDocument[] }> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  try {
    const result = await fn();
    const lines = chunks
      .join('')
      .split('\n')
      .filter((l) => l.trim() !== '');
    const emf = lines.filter((l) => l.includes('"_aws"')).map(parseEmf);
    return { result, lines, emf };
  } finally {
    spy.mockRestore();
  }
}

/** The numeric value of a metric in a document (one value per document here). */
export function metric(doc: EmfDocument, name: string): number {
  const value = doc[name];
  if (typeof value !== 'number')
    throw new Error(`metric ${name} missing from ${JSON.stringify(doc)}`);
  return value;
}

/** Parses one EMF line, after checking it against the specification. */
export function parseEmf(line: string): EmfDocument {
  assertValidEmf(line);
  return JSON.parse(line) as EmfDocument;
}
