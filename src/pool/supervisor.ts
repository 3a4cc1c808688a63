/**
 * The supervisor of one open standalone ioredis connection: it knows whether the connection can
 * still carry a command, declares it dead after the command timeout of silence (silence.ts), and
 * makes every command that a lost connection takes down fail with one typed error,
 * ConnectionLostError, instead of ioredis's several (`Connection is closed.`, `Stream isn't
 * writeable and enableOfflineQueue options is false`, `Command aborted due to connection close`).
 *
 * It hooks two places, both on this client only: its `sendCommand` (every command, pipelines
 * and MULTI included, passes there) refuses a command the connection cannot carry, starts the
 * silence watch and, while batching, corks the socket for the rest of the tick; and the socket's 'close', heard before ioredis's own handler fails the commands
 * in flight, turns their rejections into ConnectionLostError. Nothing is allocated per command.
 */
import type { Command, Redis } from 'ioredis';
import { ConnectionLostError } from '../errors.js';
import { SilenceDetector } from './silence.js';

type SendCommand = Redis['sendCommand'];

export class ConnectionSupervisor {
  readonly #redis: Redis;
  readonly #silence: SilenceDetector;
  /** Known to be gone: closed, or declared dead. Never false again. */
  #lost = false;
  /** Why, when something said so: a socket error, or the silence. */
  #cause: Error | undefined;
  /** Several leases in flight: a tick's commands are written together (see batch()). */
  #batching = false;
  /** What the pool asked for last: on takes effect at once, off at the end of the tick. */
  #batchingWanted = false;
  #settling = false;
  #corked = false;
  readonly #uncork = () => {
    this.#corked = false;
    this.#redis.stream.uncork();
  };

  constructor(redis: Redis, commandTimeoutMs: number) {
    this.#redis = redis;
    const stream = redis.stream;
    this.#silence = new SilenceDetector(commandTimeoutMs, {
      pending: () => redis.commandQueue.length > 0,
      bytesRead: () => stream.bytesRead,
      silent: (silentMs) => this.#declareDead(silentMs),
    });
    const send: SendCommand = redis.sendCommand;
    redis.sendCommand = (command, writeStream) => {
      if (!this.usable) return this.#refuse(command);
      if (this.#batching && !this.#corked) this.#cork();
      const reply = send.call(redis, command, writeStream);
      this.#silence.watch();
      return reply;
    };
    stream.once('error', (error: Error) => {
      this.#cause ??= error;
    });
    // Before ioredis's 'close' handler, which rejects the commands in flight.
    stream.prependOnceListener('close', () => this.#closed());
  }

  /**
   * Open and able to take a command now: not declared dead, ioredis ready, and the socket
   * writable with no FIN read (ioredis still says `ready` between reading the server's FIN and
   * handling the socket's close, and would write into the dead socket).
   */
  get usable(): boolean {
    const stream = this.#redis.stream;
    return (
      !this.#lost &&
      this.#redis.status === 'ready' &&
      stream.writable &&
      !stream.readableEnded &&
      !stream.destroyed
    );
  }

  /**
   * While on, the first command of a tick corks the socket and the end of the tick (after the
   * promise continuations that issue the other leases' commands) uncorks it: the tick's commands
   * leave in one writev, as node-redis does. They are written to the socket in the order they
   * were sent, each in ioredis's command queue at once, so replies and ordering are as without
   * batching. Off (one lease in flight), each command is written at once: no wait for the tick.
   *
   * On takes effect at once; off at the end of the tick. Under load the leases of a tick's
   * invocations are all given back before the next ones are taken (a reply batch ends them, and
   * their callers start new ones): the lease count drops to one or none and rises again within
   * the tick, and the first new command would otherwise go out alone, a second write per tick
   * (13 % of the CPU per invocation at 64 in flight with one GET each).
   */
  batch(on: boolean): void {
    this.#batchingWanted = on;
    if (on) {
      this.#batching = true;
    } else if (this.#batching && !this.#settling) {
      this.#settling = true;
      process.nextTick(this.#settle);
    }
  }

  /** The end of the tick in which batching was turned off: off now, unless it was turned on again. */
  readonly #settle = () => {
    this.#settling = false;
    this.#batching = this.#batchingWanted;
  };

  #cork(): void {
    this.#corked = true;
    this.#redis.stream.cork();
    process.nextTick(this.#uncork);
  }

  /** The connection is closing for good (destroy, QUIT): no more silence verdicts. */
  stop(): void {
    this.#silence.stop();
  }

  /** Fails a command the connection cannot carry, without writing it. */
  #refuse(command: Command): unknown {
    command.reject(new ConnectionLostError(command.name, false, { cause: this.#reason() }));
    return command.promise;
  }

  /** Commands pending with nothing received for the command timeout, counted while running. */
  #declareDead(silentMs: number): void {
    this.#lost = true;
    this.#cause ??= new Error(
      `No reply for ${Math.round(silentMs)} ms with commands pending: the connection is presumed dead`,
    );
    // The socket's close fails the commands in flight (see #closed) and ends the client.
    this.#redis.stream.destroy();
  }

  /** The socket closed: every command still waiting for its reply is lost with it. */
  #closed(): void {
    this.#lost = true;
    this.#silence.stop();
    const queue = this.#redis.commandQueue;
    for (let i = 0; i < queue.length; i++) {
      const command = queue.peekAt(i)?.command;
      if (command) this.#failAsLost(command);
    }
  }

  /** Makes ioredis's rejection of an unanswered command a ConnectionLostError. */
  #failAsLost(command: Pick<Command, 'name' | 'reject'>): void {
    const reject = command.reject;
    command.reject = (error: Error) => {
      const cause = this.#cause ?? withoutArguments(error);
      reject(new ConnectionLostError(command.name, true, { cause }));
    };
  }

  /** For a command refused before it was written: what is known of the loss. */
  #reason(): Error {
    if (this.#cause) return this.#cause;
    const stream = this.#redis.stream;
    if (stream.readableEnded) return new Error('The server closed the connection');
    return new Error('Connection is closed.');
  }
}

/**
 * ioredis attaches the command, arguments included (a value, a password), to some of its errors
 * (`AbortError.command`): the cause keeps the message and the name, not that.
 */
function withoutArguments(error: Error): Error {
  if (!('command' in error)) return error;
  const copy = new Error(error.message);
  copy.name = error.name;
  return copy;
}
