/**
 * CPU time taken by other processes while a measurement ran: the machine's busy time from /proc/stat minus
 * this process's own CPU time (`process.cpuUsage`, every thread of the process included).
 */
import { readFileSync } from 'node:fs';

/** A reading of the machine's busy CPU time and this process's own, both in milliseconds. */
export interface CpuReading {
  /** Busy time of all CPUs since boot (user, nice, system, irq, softirq, steal), ms. */
  readonly machineMs: number;
  /** This process's user + system time, ms. */
  readonly ownMs: number;
}

/** Where readings come from: the real machine, or a fake in tests. */
export interface CpuProbe {
  /** A reading, or undefined where the machine's time cannot be read (no /proc/stat). */
  read(): CpuReading | undefined;
}

/** Clock ticks per second of /proc/stat (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/** The busy milliseconds of the aggregate `cpu` line of /proc/stat, or undefined if there is none. */
export function parseProcStat(text: string): number | undefined {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (line === undefined) return undefined;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((x) => !Number.isFinite(x))) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return ((user + nice + system + irq + softirq + steal) * 1000) / USER_HZ;
}

/** The probe of this machine: /proc/stat and `process.cpuUsage()`. */
export const processCpu: CpuProbe = {
  read() {
    let text: string;
    try {
      text = readFileSync('/proc/stat', 'utf8');
    } catch {
      return undefined;
    }
    const machineMs = parseProcStat(text);
    if (machineMs === undefined) return undefined;
    const u = process.cpuUsage();
    return { machineMs, ownMs: (u.user + u.system) / 1000 };
  },
};

/** CPU milliseconds other processes used between two readings (never below zero). */
export function foreignMs(before: CpuReading, after: CpuReading): number {
  return Math.max(0, after.machineMs - before.machineMs - (after.ownMs - before.ownMs));
}
