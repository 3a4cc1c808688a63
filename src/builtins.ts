/**
 * The Node.js built-ins the library uses, taken with `process.getBuiltinModule` rather than
 * `import … from 'node:…'`.
 *
 * Why: in an ES module (this package's ESM build, and the one-file ESM bundle a Lambda function
 * is deployed as), importing a built-in makes Node build the module's namespace from every one
 * of its exports, and some exports are lazy getters that load more: fs's `promises` alone loads
 * some thirty internal modules (streams, watchers, readline). Each cold start paid for that:
 * 213 modules loaded at import against 183 this way (180 for a handler that imports ioredis
 * alone, which reaches its built-ins through `require`), and about 7 ms of main-thread CPU.
 * `getBuiltinModule` returns the module as `require` does, with nothing read that is not used.
 *
 * Types still come from `import type`, which leaves nothing behind at run time.
 */
export const { X509Certificate, randomBytes } = process.getBuiltinModule('node:crypto');
export const { Resolver, lookup } = process.getBuiltinModule('node:dns/promises');
export const { readFileSync, statSync } = process.getBuiltinModule('node:fs');
export const { createConnection, isIP } = process.getBuiltinModule('node:net');
const tls = process.getBuiltinModule('node:tls');
export const { connect: tlsConnect } = tls;
/**
 * Node's bundled CA certificates. A function, not a value: `tls.rootCertificates` is a lazy
 * getter that builds some 140 PEM strings (about 170 KB of young-generation garbage on every
 * cold start); only a connection with its own CA file needs them.
 */
export const rootCertificates = (): readonly string[] => tls.rootCertificates;
export const { inspect } = process.getBuiltinModule('node:util');
