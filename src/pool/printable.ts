/**
 * What a pooled client shows when it is printed or serialized. An ioredis client holds its
 * options (the password among them) and, once connected, the AUTH it sent; `console.log` of a
 * Lambda context that carries one prints the password at the default depth, and JSON.stringify
 * may meet a cycle (its sockets and timers) and throw. Logging the context is one of the
 * commonest lines in Lambda code, so:
 *
 * - every client the pool creates (a Redis, a Cluster and each of the Cluster's node clients)
 *   prints as `Redis { name, status }` or `Cluster { status, nodes }` in util.inspect (hence
 *   console.log) and serializes to the same in JSON;
 * - `context.redis` is set as a non-enumerable property, so that loggers that walk an object's
 *   own properties themselves, ignoring both, do not reach the client at all.
 */
import { Cluster, type Redis } from 'ioredis';
import { inspect } from '../builtins.js';
import type { RedisClient } from './connection.js';

/** Makes `client` (named `name`) print and serialize as a summary without its options. */
export function summarizeWhenPrinted(client: RedisClient, name: string): void {
  if (client instanceof Cluster) {
    showAs(client, 'Cluster', () => ({ status: client.status, nodes: client.nodes().length }));
    // The node clients are created as the cluster discovers its nodes.
    for (const node of client.nodes()) summarizeNode(node);
    client.on('+node', summarizeNode);
    return;
  }
  showAs(client, 'Redis', () => ({ name, status: client.status }));
}

/**
 * Sets `context.redis` to `client`: readable and writable as before, but not enumerable, so
 * neither printing nor copying the context's own properties reaches the client.
 */
export function attachClient(context: object, client: RedisClient): void {
  Object.defineProperty(context, 'redis', {
    value: client,
    enumerable: false,
    writable: true,
    configurable: true,
  });
}

function summarizeNode(node: Redis): void {
  showAs(node, 'Redis', () => ({
    name: node.options.connectionName,
    status: node.status,
  }));
}

/** Own, non-enumerable `toJSON` and `util.inspect.custom`, both giving `summary()`. */
function showAs(client: object, label: string, summary: () => Record<string, unknown>): void {
  Object.defineProperties(client, {
    toJSON: { value: summary, configurable: true },
    [inspect.custom]: {
      value: (_depth: number, options: object) => `${label} ${inspect(summary(), options)}`,
      configurable: true,
    },
  });
}
