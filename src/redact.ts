/**
 * Secrets out of errors. ioredis attaches to the error of a refused command the command itself
 * (`error.command = { name, args }`), so a refused `HELLO 3 AUTH user password` (a rotated or
 * wrong password), or a handler's own AUTH, ACL SETUSER or CONFIG SET, carries a password into
 * every log line that prints the error deeply (util.inspect, JSON, structured loggers, the
 * Lambda runtime's own "Invoke Error" line, which prints every enumerable property).
 *
 * `redactSecrets` replaces the argument positions that carry secrets with `***`, in place, in
 * an error and in every error it holds (`cause`, AggregateError's `errors`, ioredis's
 * `previousErrors` and `lastNodeError`, ...). User names, keys and every other argument stay:
 * they say what failed, and are no more secret than the user name in a redacted URL.
 */

/** What a redacted argument reads. */
export const REDACTED = '***';

/**
 * Secrets shorter than this are not searched for in messages: replacing every "ab" in a
 * message would garble it, and a password that short protects nothing anyway.
 */
const MIN_SCRUBBED_LENGTH = 4;

/** A command as ioredis attaches it to an error. */
interface AttachedCommand {
  readonly name: string;
  readonly args: readonly unknown[];
}

/**
 * Removes secrets from `error` and every error it holds, in place, and returns it: a thrown
 * error keeps its identity, class and stack. Anything that is not an Error is returned as is.
 *
 * Never throws, whatever it is given: the wrappers call it on the way out of an invocation,
 * and an error there would leave the invocation unanswered. So the errors are walked with a
 * loop, not recursion (a cause chain of any depth), and every read that can throw (a getter, a
 * revoked Proxy) is guarded on its own: what fails is skipped (a command that cannot be read is
 * left as it is) and the walk goes on with the rest. An argument with no string form (its
 * toString throws) reads as empty text: the positions of the others are still redacted.
 */
export function redactSecrets<T>(error: T): T {
  const seen = new Set<Error>();
  const pending: unknown[] = [error];
  while (pending.length > 0) {
    const next = pending.pop();
    if (!isUnseenError(next, seen)) continue;
    try {
      redactAttachedCommand(next);
    } catch {
      // Unreadable: left as it is (see above).
    }
    pushHeld(next, pending);
  }
  return error;
}

function isUnseenError(value: unknown, seen: Set<Error>): value is Error {
  try {
    if (!(value instanceof Error) || seen.has(value)) return false;
  } catch {
    return false; // A revoked Proxy: nothing of it can be read.
  }
  seen.add(value);
  return true;
}

/**
 * Pushes what `error` holds in its own properties, enumerable or not (`cause` is not), alone or
 * in arrays (AggregateError's `errors`, ioredis's `previousErrors`): the walk keeps the errors
 * among them. Read through descriptors, so no getter runs; one at a time, since an array may be
 * too long to spread into a call.
 */
function pushHeld(error: Error, into: unknown[]): void {
  let keys: string[];
  try {
    keys = Object.getOwnPropertyNames(error);
  } catch {
    return;
  }
  for (const key of keys) {
    try {
      const value = Object.getOwnPropertyDescriptor(error, key)?.value;
      if (!Array.isArray(value)) into.push(value);
      else for (const item of value) into.push(item);
    } catch {
      // This property cannot be read; the others still are.
    }
  }
}

/**
 * `args` of the command `name` with every argument that carries a secret replaced by `***`;
 * the same array when there is none.
 */
export function redactCommandArgs(name: string, args: readonly unknown[]): readonly unknown[] {
  const secret = secretPositions(name.toLowerCase(), args.map(argText));
  if (secret.size === 0) return args;
  return args.map((arg, i) => {
    const mark = secret.get(i);
    return mark === undefined ? arg : mark;
  });
}

/** Replaces `error.command` with a redacted copy, and the secrets in the server's message. */
function redactAttachedCommand(error: Error): void {
  const command = (error as { command?: unknown }).command;
  if (!isAttachedCommand(command)) return;
  const args = redactCommandArgs(command.name, command.args);
  if (args === command.args) return;
  // The secret itself: an ACL rule's text after its operator (`>`, `#`, ...).
  const secrets = command.args
    .flatMap((arg, i) => {
      const mark = args[i];
      if (arg === mark || typeof mark !== 'string') return [];
      return [argText(arg).slice(mark.length - REDACTED.length)];
    })
    .filter((text) => text.length >= MIN_SCRUBBED_LENGTH);
  try {
    // A new object: ioredis's own `args` array belongs to the command it sent.
    (error as { command?: unknown }).command = { ...command, args };
    error.message = scrub(error.message, secrets);
    if (typeof error.stack === 'string') error.stack = scrub(error.stack, secrets);
  } catch {
    // A frozen error cannot be changed; nothing else is possible without changing its identity.
  }
}

/** A server reply may quote what it refused (an invalid ACL rule, say). */
function scrub(text: string, secrets: readonly string[]): string {
  return secrets.reduce((out, secret) => out.replaceAll(secret, REDACTED), text);
}

function isAttachedCommand(value: unknown): value is AttachedCommand {
  if (typeof value !== 'object' || value === null) return false;
  const { name, args } = value as { name?: unknown; args?: unknown };
  return typeof name === 'string' && Array.isArray(args);
}

/** An argument as text; one with no string form (its toString throws) reads as empty. */
function argText(arg: unknown): string {
  try {
    return Buffer.isBuffer(arg) ? arg.toString('utf8') : String(arg);
  } catch {
    return '';
  }
}

/**
 * Which positions of a command's arguments carry a secret, and what each becomes: `***`, or
 * for an ACL rule its operator followed by `***` (`>***`), so the rule's kind still shows.
 */
function secretPositions(name: string, args: readonly string[]): Map<number, string> {
  const secret = new Map<number, string>();
  const lower = args.map((a) => a.toLowerCase());
  switch (name) {
    case 'auth':
      // AUTH password, AUTH username password: the last one; anything else, all.
      if (args.length === 2) secret.set(1, REDACTED);
      else for (let i = 0; i < args.length; i++) secret.set(i, REDACTED);
      break;
    case 'hello':
      helloSecrets(lower, secret);
      break;
    case 'migrate':
      migrateSecrets(lower, secret);
      break;
    case 'config':
      // CONFIG SET name value [name value ...]
      if (lower[0] === 'set') pairSecrets(lower, 1, secret);
      break;
    case 'sentinel':
      // SENTINEL SET master name value [...], SENTINEL CONFIG SET name value [...]
      if (lower[0] === 'set') pairSecrets(lower, 2, secret);
      if (lower[0] === 'config' && lower[1] === 'set') pairSecrets(lower, 2, secret);
      break;
    case 'acl':
      // ACL SETUSER username [rule ...]
      if (lower[0] === 'setuser') aclRuleSecrets(args, secret);
      break;
  }
  return secret;
}

/** HELLO [protover [AUTH username password] [SETNAME clientname]]: the password. */
function helloSecrets(args: readonly string[], secret: Map<number, string>): void {
  for (let i = 1; i < args.length; i++) {
    if (args[i] === 'auth') {
      secret.set(i + 2, REDACTED);
      i += 2;
    } else if (args[i] === 'setname') i += 1;
  }
}

/**
 * MIGRATE host port key db timeout [COPY] [REPLACE] [AUTH password | AUTH2 username password]
 * [KEYS key ...]: the password; key names after KEYS are not options, whatever they read.
 */
function migrateSecrets(args: readonly string[], secret: Map<number, string>): void {
  for (let i = 5; i < args.length && args[i] !== 'keys'; i++) {
    if (args[i] === 'auth') {
      secret.set(i + 1, REDACTED);
      i += 1;
    } else if (args[i] === 'auth2') {
      secret.set(i + 2, REDACTED);
      i += 2;
    }
  }
}

/** `name value` pairs from `start`: the value of every setting named like a password. */
function pairSecrets(args: readonly string[], start: number, secret: Map<number, string>): void {
  for (let i = start; i + 1 < args.length; i += 2) {
    if (/pass|auth/.test(args[i] ?? '')) secret.set(i + 1, REDACTED);
  }
}

/** ACL rules that set or remove a password (>pass, <pass) or its hash (#hash, !hash). */
function aclRuleSecrets(args: readonly string[], secret: Map<number, string>): void {
  for (let i = 2; i < args.length; i++) {
    const operator = args[i]?.[0];
    if (operator === '>' || operator === '<' || operator === '#' || operator === '!') {
      secret.set(i, `${operator}${REDACTED}`);
    }
  }
}
