/**
 * Checks every closure graph must pass before the planner may trust it: store paths have the form
 * `<storeDir>/<name>`, every reference is a node of the graph, and there is no cycle beyond
 * self-references. The readers run them on what they parse; the planner re-runs the cheap ones on
 * graphs built in code, so a hand-made graph fails with a clear message instead of a wrong plan.
 */

import { StrataError } from "../errors.js";

/** The part of a node these checks look at. */
interface Node {
  readonly references: readonly string[];
}

/**
 * Characters Nix allows in a store path name (`<hash>-<name>`); Nix also refuses a leading `.`.
 * Holding paths to this alphabet keeps them ASCII, so plain JS string comparison orders them
 * exactly as Python's code-point comparison does in nixpkgs' scripts.
 */
const NAME_CHARS = /^[A-Za-z0-9+\-._?=]+$/;

/** A store path name as Nix makes it: 32 characters of Nix base-32 (no e, o, u, t), a dash, a name. */
const HASHED_NAME = /^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]{1,211}$/;

/**
 * Why `path` is not a store path directly under `storeDir`, or undefined when it is one. With
 * `hashed`, the name must also start with a Nix hash (`<32 base-32 chars>-`), as every path of a
 * real store does; graphs built in code by tests use short names, so it is not the default.
 */
export function storePathProblem(path: string, storeDir: string, options: { readonly hashed?: boolean } = {}): string | undefined {
  const prefix = `${storeDir}/`;
  if (!path.startsWith(prefix)) return `it does not start with ${prefix}`;
  const name = path.slice(prefix.length);
  if (name === "") return "its name is empty";
  if (name.includes("/")) return "it names a file inside a store path, not a store path";
  if (name.startsWith(".")) return "its name starts with '.' (this also rules out '..')";
  if (!NAME_CHARS.test(name)) return "its name has characters Nix does not allow in store paths";
  if (options.hashed === true && !HASHED_NAME.test(name)) return "its name is not <32-character Nix hash>-<name>";
  return undefined;
}

/** Why `storeDir` is not a store directory as Nix prints it, or undefined when it is one. */
export function storeDirProblem(storeDir: string): string | undefined {
  if (!storeDir.startsWith("/") || storeDir.endsWith("/") || storeDir.includes("//")) return "it must be absolute, without a trailing slash";
  // `/nix/store/..` would make `/nix/store/../x` a "store path" directly under it.
  if (storeDir.split("/").some((c) => c === "." || c === "..")) return "it must not have '.' or '..' components";
  return undefined;
}

/** The store directory must be absolute and without a trailing slash, as Nix prints it (so not `/`). */
export function checkStoreDir(storeDir: string): void {
  const problem = storeDirProblem(storeDir);
  if (problem !== undefined) {
    throw new StrataError(
      "E_USAGE",
      `storeDir must be an absolute directory without a trailing slash or '..', got ${JSON.stringify(storeDir)}: ${problem}`,
      "pass the store directory as Nix prints it, normally /nix/store",
    );
  }
}

/** Every `[node, reference]` pair whose reference is not a node of the graph, sorted. */
export function danglingReferences(paths: ReadonlyMap<string, Node>): [string, string][] {
  const dangling: [string, string][] = [];
  for (const [path, node] of paths) {
    for (const ref of node.references) if (!paths.has(ref)) dangling.push([path, ref]);
  }
  return dangling.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
}

/** Throws E_CLOSURE_INPUT naming the first reference that leads out of the graph. */
export function assertNoDanglingReferences(paths: ReadonlyMap<string, Node>, source: string): void {
  const dangling = danglingReferences(paths);
  const first = dangling[0];
  if (first === undefined) return;
  const more = dangling.length > 1 ? ` (and ${dangling.length - 1} more)` : "";
  throw new StrataError(
    "E_CLOSURE_INPUT",
    `${source}: references to paths missing from the graph: ${first[0]} references ${first[1]}, which has no entry${more}`,
    "re-export the graph with the whole closure, e.g. `nix path-info --json --recursive <paths>`",
  );
}

/**
 * A cycle as `[a, b, ..., a]`, or undefined when the graph is acyclic apart from self-references.
 * Iterative three-colour DFS: closures can have 100,000 nodes and chains thousands deep, far past
 * what JS recursion survives. Nodes and references are visited in map / list order, so for a
 * sorted graph the reported cycle is always the same one. References to unknown paths are skipped
 * (that is `danglingReferences`' job). O(nodes + references).
 */
export function findCycle(paths: ReadonlyMap<string, Node>): string[] | undefined {
  const ON_STACK = 1;
  const DONE = 2;
  const state = new Map<string, number>();
  // The DFS stack: a node and the index of the next reference of it to look at.
  const stackPath: string[] = [];
  const stackNext: number[] = [];
  for (const start of paths.keys()) {
    if (state.has(start)) continue;
    state.set(start, ON_STACK);
    stackPath.push(start);
    stackNext.push(0);
    while (stackPath.length > 0) {
      const top = stackPath.length - 1;
      const path = stackPath[top] as string;
      const refs = (paths.get(path) as Node).references;
      const i = stackNext[top] as number;
      if (i >= refs.length) {
        state.set(path, DONE);
        stackPath.pop();
        stackNext.pop();
        continue;
      }
      stackNext[top] = i + 1;
      const ref = refs[i] as string;
      if (ref === path || !paths.has(ref)) continue;
      const seen = state.get(ref);
      if (seen === ON_STACK) return [...stackPath.slice(stackPath.lastIndexOf(ref)), ref];
      if (seen === undefined) {
        state.set(ref, ON_STACK);
        stackPath.push(ref);
        stackNext.push(0);
      }
    }
  }
  return undefined;
}

/** Throws E_CLOSURE_INPUT spelling out the first cycle found. */
export function assertAcyclic(paths: ReadonlyMap<string, Node>, source: string): void {
  const cycle = findCycle(paths);
  if (cycle === undefined) return;
  throw new StrataError(
    "E_CLOSURE_INPUT",
    `${source}: cycle in the references graph: ${cycle.join(" -> ")}`,
    "Nix closures are acyclic apart from self-references; re-export the graph from Nix instead of editing it",
  );
}
