// Per-process measurements from /proc, shared by the benchmarks (Linux only, like the CI machine).
import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/<pid>/stat after the command name (so the state is [0], utime [11]). */
function statFields(pid: number): string[] {
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
}

/** user+system CPU seconds of a process so far, every thread. */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Resident set size of a process, bytes. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Context switches of a process so far, every thread: voluntary (it blocked,
 * e.g. waiting in epoll) and involuntary (it was preempted).
 */
export function contextSwitches(pid: number): { voluntary: number; involuntary: number } {
  const field = (text: string, name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  let voluntary = 0;
  let involuntary = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    voluntary += field(status, 'voluntary_ctxt_switches');
    involuntary += field(status, 'nonvoluntary_ctxt_switches');
  }
  return { voluntary, involuntary };
}

/**
 * Process ids whose name (comm) starts with `prefix`, e.g. the kernel's
 * DAMON threads (`kdamond.N`), whose CPU bursts are this VM's periodic
 * stalls (docs/performance.md, session 21).
 */
export function processesNamed(prefix: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith(prefix)) found.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return found;
}

/** A process's nice value (-20..19). */
export function niceOf(pid: number): number {
  return Number(statFields(pid)[16]);
}
