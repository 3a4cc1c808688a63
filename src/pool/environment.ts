/**
 * Identity of this execution environment. Lambda gives no stable, non-secret id for it, so one
 * is drawn once per process: every connection's CLIENT SETNAME carries it, letting an operator
 * see in CLIENT LIST which environment holds which connections.
 */
import { randomBytes } from '../builtins.js';

export const ENVIRONMENT_ID = randomBytes(4).toString('hex');

/** `<prefix>:<environment>:<connection number>`, e.g. `orders-api:1f2e3d4c:1`. */
export function connectionName(prefix: string, connectionId: number): string {
  return `${prefix}:${ENVIRONMENT_ID}:${connectionId}`;
}
