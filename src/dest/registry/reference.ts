/**
 * Image references as skopeo and podman read them: `docker://HOST[:PORT]/REPO[:TAG][@sha256:...]`
 * or the same without the transport. The grammar is distribution's (`reference/regexp.go`): a
 * first component is a registry host when it is `localhost`, holds a dot or a port; otherwise
 * the image is on Docker Hub (`alpine` is `docker.io/library/alpine`, served by
 * `registry-1.docker.io`). Without a tag or a digest the tag is `latest`, as skopeo has it.
 */
import { StrataError } from "../../errors.js";
import type { Digest } from "../../digest.js";

export interface ImageReference {
  /** `host[:port]` as users write it and auth files key it; `docker.io` for Docker Hub. */
  readonly registry: string;
  /** Where the HTTP API answers: `registry` itself, except `registry-1.docker.io` for Docker Hub. */
  readonly apiHost: string;
  /** Repository path, e.g. `library/alpine`, `me/app`. */
  readonly repository: string;
  /** The tag; `latest` when neither a tag nor a digest was given. Undefined when only a digest was. */
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
}

export const DOCKER_HUB = "docker.io";
export const DOCKER_HUB_API = "registry-1.docker.io";

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]{1,5})?$/;
const IPV6_DOMAIN = /^\[[0-9a-fA-F:.]+\](?::[0-9]{1,5})?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const NAME_MAX = 255;

function usage(input: string, what: string): StrataError {
  return new StrataError("E_USAGE", `invalid image reference ${JSON.stringify(input)}: ${what}`,
    "write it as docker://HOST[:PORT]/REPO[:TAG][@sha256:HEX], e.g. docker://ghcr.io/me/app:1.0");
}

/** Whether `s` starts with the registry transport, `docker://`. */
export function isDockerReference(s: string): boolean {
  return s.startsWith("docker://");
}

/** Parse `docker://...` or a bare `HOST/REPO:TAG`. Throws E_USAGE with one line naming the fault. */
export function parseReference(input: string): ImageReference {
  let rest = isDockerReference(input) ? input.slice("docker://".length) : input;
  if (rest.startsWith("//")) throw usage(input, "expected docker://HOST/REPO, found an extra slash");
  if (rest === "") throw usage(input, "the name is empty");

  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!DIGEST.test(d)) throw usage(input, `digest ${JSON.stringify(d)} is not sha256: followed by 64 lowercase hex digits`);
    digest = d as Digest;
    rest = rest.slice(0, at);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw usage(input, `tag ${JSON.stringify(tag)} must be 1-128 of [A-Za-z0-9_.-], not starting with . or -`);
  }

  const { registry, path } = splitDomain(input, rest);
  if (path === "") throw usage(input, "the repository name is empty");
  for (const component of path.split("/")) {
    if (!PATH_COMPONENT.test(component)) {
      const why = /[A-Z]/.test(component) ? "repository names must be lowercase" : "components are [a-z0-9] separated by one of . _ __ -";
      throw usage(input, `repository component ${JSON.stringify(component)} is invalid (${why})`);
    }
  }
  const repository = registry === DOCKER_HUB && !path.includes("/") ? `library/${path}` : path;
  if (registry.length + 1 + repository.length > NAME_MAX) throw usage(input, `the name is longer than ${NAME_MAX} characters`);
  return {
    registry,
    apiHost: registry === DOCKER_HUB ? DOCKER_HUB_API : registry,
    repository,
    tag: tag ?? (digest === undefined ? "latest" : undefined),
    digest,
  };
}

function splitDomain(input: string, name: string): { registry: string; path: string } {
  const slash = name.indexOf("/");
  const first = slash < 0 ? name : name.slice(0, slash);
  const isHost = slash >= 0 && (first === "localhost" || first.includes(".") || first.includes(":") || first.startsWith("[") || /[A-Z]/.test(first));
  if (!isHost) return { registry: DOCKER_HUB, path: name };
  if (!DOMAIN.test(first) && !IPV6_DOMAIN.test(first)) throw usage(input, `registry host ${JSON.stringify(first)} is not a valid HOST[:PORT]`);
  const registry = first === "index.docker.io" || first === "registry-1.docker.io" ? DOCKER_HUB : first;
  return { registry, path: name.slice(slash + 1) };
}

/** The canonical text: `docker://HOST/REPO[:TAG][@DIGEST]`. */
export function formatReference(ref: ImageReference): string {
  return `docker://${ref.registry}/${ref.repository}${ref.tag === undefined ? "" : `:${ref.tag}`}${ref.digest === undefined ? "" : `@${ref.digest}`}`;
}

/** What names the manifest in the API: the digest when there is one, else the tag. */
export function manifestRef(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function isValidDigest(d: string): d is Digest {
  return DIGEST.test(d);
}
