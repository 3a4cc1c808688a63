/**
 * Reading a process's scheduler state from /proc (Linux), to see what a test did to it:
 * 'T' is stopped (frozen), 'S' sleeping, 'R' running, 'Z' a zombie.
 */
import { readFileSync } from 'node:fs';

/** Field 3 of /proc/<pid>/stat; undefined when there is no such process. */
export function processState(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2, the command name, is in parentheses and may itself contain spaces or ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

/** The process exists and is not a zombie. */
export function isProcessAlive(pid: number): boolean {
  const state = processState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}
