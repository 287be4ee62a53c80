/**
 * A fixture closure for the planner's golden tests, generated from a seed: a few hundred store
 * paths shaped like a real image's closure. A core of popular libraries (glibc first) that most
 * paths reference, two applications on top with their own dependency trees, many small leaves
 * (man pages, locales, data), heavy-tailed narSizes, self-references on most paths.
 */

import type { ClosureGraph, StorePathInfo } from "../../src/closure/types.js";
import { prng } from "../closure/random-graph.js";

const BASE32 = "0123456789abcdfghijklmnpqrsvwxyz";
const CORE = ["glibc-2.40", "gcc-14-lib", "zlib-1.3.1", "openssl-3.3.2", "ncurses-6.5", "readline-8.2", "libffi-3.4.6", "xz-5.6.3", "bzip2-1.0.8", "sqlite-3.46.1"];
const WORDS = ["python3", "perl", "bash", "curl", "git", "gnutls", "icu", "pcre2", "expat", "libxml2", "tzdata", "mailcap", "attr", "acl", "util-linux", "systemd-minimal", "dbus", "krb5", "libidn2", "libunistring"];

export interface FixtureClosure {
  readonly graph: ClosureGraph;
  /** The two applications: what an image's `contents` would be. */
  readonly roots: readonly string[];
}

export function fixtureClosure(seed = 20240611, size = 300): FixtureClosure {
  const random = prng(seed);
  const hash = () => Array.from({ length: 32 }, () => BASE32[Math.floor(random() * 32)]).join("");
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
  // Nodes in topological order, referrers first: the two apps, the middle, then the core.
  const names: string[] = ["webapp-1.4.2", "worker-0.9.0"];
  while (names.length < size - CORE.length) {
    const word = pick(WORDS);
    const kind = random();
    names.push(kind < 0.3 ? `${word}-${Math.floor(random() * 9)}.${Math.floor(random() * 20)}-man` : kind < 0.4 ? `${word}-data-${names.length}` : `${word}-${Math.floor(random() * 9)}.${Math.floor(random() * 20)}.${names.length}`);
  }
  names.push(...CORE);
  const paths = names.map((name) => `/nix/store/${hash()}-${name}`);
  const n = paths.length;
  const coreStart = n - CORE.length;
  const refs: Set<number>[] = paths.map(() => new Set());
  for (let i = 0; i < n; i++) {
    if (i >= coreStart) {
      // The core references later core paths (glibc, first in CORE, references nothing).
      if (i > coreStart) refs[i]!.add(coreStart);
      if (random() < 0.5 && i + 1 < n) refs[i]!.add(i + 1 + Math.floor(random() * (n - i - 1)));
      continue;
    }
    const leaf = names[i]!.endsWith("-man") || names[i]!.includes("-data-");
    if (leaf) continue; // man pages and data reference nothing
    const count = i < 2 ? 12 : 1 + Math.floor(-Math.log(random() + 1e-9) * 2.5);
    for (let k = 0; k < count; k++) {
      if (random() < 0.45) refs[i]!.add(coreStart + Math.floor(CORE.length * random() ** 2));
      else refs[i]!.add(Math.min(coreStart - 1, i + 1 + Math.floor((coreStart - i - 1) * random() ** 2)));
    }
    refs[i]!.delete(i);
  }
  // Make it the closure of the two apps: a path nothing references gets a referrer among the
  // earlier non-leaf paths, which are reachable from the apps by the same rule.
  const referenced = new Uint8Array(n);
  for (const set of refs) for (const j of set) referenced[j] = 1;
  const referrers = names.flatMap((name, i) => (i < coreStart && !name.endsWith("-man") && !name.includes("-data-") ? [i] : []));
  for (let i = 2; i < n; i++) {
    if (referenced[i] === 1) continue;
    const earlier = referrers.filter((j) => j < i);
    refs[pick(earlier)]!.add(i);
  }
  const infos: StorePathInfo[] = paths.map((path, i) => ({
    path,
    references: [...refs[i]!].map((j) => paths[j] as string).sort(),
    selfReference: random() < 0.7,
    // Pareto, alpha 1.1, from 1 KiB: most paths are small, a few hold most of the bytes.
    narSize: Math.min(2 ** 31, Math.floor(1024 / (random() + 1e-9) ** (1 / 1.1))) + (i >= coreStart ? 4 << 20 : 0),
  }));
  infos.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { graph: { storeDir: "/nix/store", paths: new Map(infos.map((info) => [info.path, info])) }, roots: [paths[0] as string, paths[1] as string] };
}
