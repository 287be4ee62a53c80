/** Image references parse as skopeo and podman read them, and bad ones fail in one line. */
import { describe, expect, it } from "vitest";
import { StrataError } from "../../../src/errors.js";
import { formatReference, parseReference } from "../../../src/dest/registry/reference.js";

const D = `sha256:${"a".repeat(64)}`;

describe("parseReference", () => {
  it.each([
    ["docker://alpine", "docker.io", "registry-1.docker.io", "library/alpine", "latest", undefined],
    ["alpine:3.19", "docker.io", "registry-1.docker.io", "library/alpine", "3.19", undefined],
    ["docker://me/app", "docker.io", "registry-1.docker.io", "me/app", "latest", undefined],
    ["docker://index.docker.io/library/alpine:edge", "docker.io", "registry-1.docker.io", "library/alpine", "edge", undefined],
    ["docker://localhost/app", "localhost", "localhost", "app", "latest", undefined],
    ["docker://localhost:5000/a/b/c:v1", "localhost:5000", "localhost:5000", "a/b/c", "v1", undefined],
    ["127.0.0.1:5000/app:1.0", "127.0.0.1:5000", "127.0.0.1:5000", "app", "1.0", undefined],
    ["docker://ghcr.io/me/my-app__x.y:1.0", "ghcr.io", "ghcr.io", "me/my-app__x.y", "1.0", undefined],
    [`docker://ghcr.io/me/app@${D}`, "ghcr.io", "ghcr.io", "me/app", undefined, D],
    [`docker://ghcr.io/me/app:1.0@${D}`, "ghcr.io", "ghcr.io", "me/app", "1.0", D],
    ["docker://Registry/app", "Registry", "Registry", "app", "latest", undefined],
  ])("%s", (input, registry, apiHost, repository, tag, digest) => {
    expect(parseReference(input)).toEqual({ registry, apiHost, repository, tag, digest });
  });

  it.each([
    ["docker://", "the name is empty"],
    ["docker://ghcr.io/Me/app", "must be lowercase"],
    ["docker://ghcr.io/me/app:-x", "tag \"-x\""],
    [`docker://ghcr.io/me/app:${"t".repeat(129)}`, "tag"],
    ["docker://ghcr.io/me/app@sha256:abc", "digest \"sha256:abc\""],
    ["docker://ghcr.io/me//app", "repository component \"\""],
    ["docker://ghcr.io/me/app-", "repository component \"app-\""],
    ["docker://host_x.io/app", "registry host"],
    ["docker://ghcr.io/", "repository name is empty"],
    [`docker://ghcr.io/${"a/".repeat(130)}b`, "longer than 255"],
  ])("rejects %s", (input, fragment) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StrataError);
    expect((err as StrataError).code).toBe("E_USAGE");
    expect((err as StrataError).message).toContain(fragment);
    expect((err as StrataError).message).not.toContain("\n");
  });

  it("formats back to the canonical docker:// form", () => {
    expect(formatReference(parseReference("alpine"))).toBe("docker://docker.io/library/alpine:latest");
    expect(formatReference(parseReference(`127.0.0.1:5000/x@${D}`))).toBe(`docker://127.0.0.1:5000/x@${D}`);
  });
});
