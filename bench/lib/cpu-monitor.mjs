// How much CPU the rest of the machine used while we measured. The bench
// cannot stop other processes (tests, builds), but it can say they ran:
// foreign = machine busy time − time of this runner and its descendants.
import { readdirSync, readFileSync } from 'node:fs';

function machineBusyTicks() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  // cpu user nice system idle iowait irq softirq steal …
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return user + nice + system + irq + softirq + steal;
}

function procStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised name; the name itself may contain spaces.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

/** utime+stime+cutime+cstime of `roots` and every live descendant (reaped ones sit in their parent's cutime). */
function treeTicks(roots) {
  const stats = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(name);
    if (st) stats.set(Number(name), st);
  }
  const ours = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, st] of stats) {
      if (!ours.has(pid) && ours.has(st.ppid)) {
        ours.add(pid);
        grew = true;
      }
    }
  }
  let total = 0;
  for (const pid of ours) total += stats.get(pid)?.ticks ?? 0;
  return total;
}

/** Call before a measurement; the returned function, called after, gives foreign CPU in % of one core. */
export function foreignCpu() {
  const t0 = performance.now();
  const busy0 = machineBusyTicks();
  const ours0 = treeTicks([process.pid]);
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const foreign = machineBusyTicks() - busy0 - (treeTicks([process.pid]) - ours0);
    // USER_HZ is 100 on every Linux this runs on.
    return Math.max(0, (100 * foreign) / 100 / seconds);
  };
}

/** Call before a measurement; the returned function gives the CPU the `pids` process trees used since, in % of one core. */
export function treeCpu(pids) {
  const t0 = performance.now();
  const ticks0 = treeTicks(pids);
  return () => (100 * (treeTicks(pids) - ticks0)) / 100 / ((performance.now() - t0) / 1000);
}
