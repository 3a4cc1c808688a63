/**
 * `@types/aws-lambda` is an optional peer: a user without it must still get a typed
 * `context.redis`, not `any`. This compiles a probe against the library with that package
 * hidden from the compiler (as if it were not installed) and with skipLibCheck, as most users
 * compile.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const probePath = join(root, 'test/types/__probe__.ts');

/** Fails to compile where a context or its client would accept anything, as `any` does. */
const probe = `
import type { RedisContext } from './../../src/index.js';
import type { MiddyRedisContext } from './../../src/middy.js';
// True for any, unknown and an unresolved type (0 extends 1 & T misses the last).
type Loose<T> = unknown extends T ? true : false;
export const context: Loose<RedisContext> = false;
export const redis: Loose<RedisContext['redis']> = false;
export const middyContext: Loose<MiddyRedisContext> = false;
export const middyRedis: Loose<MiddyRedisContext['redis']> = false;
// @ts-expect-error a number is not a client
export const notAClient: RedisContext['redis'] = 5;
// @ts-expect-error a number is not a client
export const notAMiddyClient: MiddyRedisContext['redis'] = 5;
`;

const hidden = (path: string) => path.replaceAll('\\', '/').includes('/@types/aws-lambda');

function compileProbe(): { diagnostics: string[]; loaded: string[] } {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile, directoryExists } = host;
  host.fileExists = (path) => path === probePath || (!hidden(path) && fileExists(path));
  host.readFile = (path) =>
    path === probePath ? probe : hidden(path) ? undefined : readFile(path);
  host.directoryExists = (path) => !hidden(path) && (directoryExists?.(path) ?? true);
  host.getSourceFile = (path, language, ...rest) =>
    path === probePath
      ? ts.createSourceFile(path, probe, language)
      : getSourceFile(path, language, ...rest);
  const program = ts.createProgram([probePath], options, host);
  const probeFile = program.getSourceFile(probePath);
  const diagnostics = [
    ...program.getSyntacticDiagnostics(probeFile),
    ...program.getSemanticDiagnostics(probeFile),
  ].map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  return { diagnostics, loaded: program.getSourceFiles().map((f) => f.fileName) };
}

/** A whole program compile: seconds when idle, much longer on a loaded 2-core machine. */
const COMPILE_TIMEOUT_MS = 180_000;

describe('without @types/aws-lambda', () => {
  it(
    'RedisContext and MiddyRedisContext are typed, not any',
    () => {
      const { diagnostics, loaded } = compileProbe();
      // The package really is out of the picture, and the library itself was compiled.
      expect(loaded.filter(hidden)).toEqual([]);
      expect(loaded.some((f) => f.endsWith('src/invocation.ts'))).toBe(true);
      expect(diagnostics).toEqual([]);
    },
    COMPILE_TIMEOUT_MS,
  );
});
