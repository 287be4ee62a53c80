/** mergeBaseConfig: nixpkgs' Env merge (spec §2.7) exactly, and --inherit-config. */
import { describe, expect, it } from "vitest";
import { pythonJsonDumps } from "../../src/image/py-json.js";
import { StrataError } from "../../src/errors.js";
import { mergeBaseConfig } from "../../src/source/config-merge.js";
import { failure } from "./fixtures.js";

describe("mergeBaseConfig: Env as nixpkgs merges it", () => {
  it("nixpkgs' Env-inheritance scenario: LAST_LAYER once, the child's value, at the parent's position", () => {
    const base = { Env: ["FROM_PARENT=true", "LAST_LAYER=parent"] };
    const child = { Env: ["FROM_CHILD=true", "LAST_LAYER=child"] };
    const merged = mergeBaseConfig(base, child, { inherit: false });
    expect(merged["Env"]).toEqual(["FROM_PARENT=true", "LAST_LAYER=child", "FROM_CHILD=true"]);
    // As the test greps the config JSON: LAST_LAYER appears exactly once.
    const json = pythonJsonDumps({ config: merged });
    expect(json.match(/LAST_LAYER/g)).toHaveLength(1);
    expect(json).toContain('"LAST_LAYER=child"');
  });

  it("is Python's dict: last value wins at the first position; an entry without = is its own key", () => {
    const merged = mergeBaseConfig(
      { Env: ["A=1", "B=1", "FLAG", "A=2"] },
      { Env: ["C=1", "B=2=x", "FLAG", "A=3", "D"] },
      { inherit: false },
    );
    expect(merged["Env"]).toEqual(["A=3", "B=2=x", "FLAG", "C=1", "D"]);
  });

  it("keeps Env where the config had it, and appends it last when it had none", () => {
    const inPlace = mergeBaseConfig({ Env: ["X=1"] }, { Cmd: ["a"], Env: ["Y=2"], User: "u" }, { inherit: false });
    expect(Object.keys(inPlace)).toEqual(["Cmd", "Env", "User"]);
    const appended = mergeBaseConfig({ Env: ["X=1"] }, { Cmd: ["a"], User: "u" }, { inherit: false });
    expect(Object.keys(appended)).toEqual(["Cmd", "User", "Env"]);
    expect(appended["Env"]).toEqual(["X=1"]);
  });

  it("leaves the config alone when the merged Env is empty", () => {
    expect(mergeBaseConfig({ Env: [] }, { Cmd: ["a"] }, { inherit: false })).toEqual({ Cmd: ["a"] });
    expect(Object.keys(mergeBaseConfig(null, { Cmd: ["a"], Env: [] }, { inherit: false }))).toEqual(["Cmd", "Env"]);
    expect(mergeBaseConfig(undefined, {}, { inherit: false })).toEqual({});
  });

  it("without inherit drops the rest of the base config, as nixpkgs does", () => {
    const base = { Cmd: ["/base"], Entrypoint: ["/e"], WorkingDir: "/w", User: "u", Labels: { a: "1" }, ExposedPorts: { "80/tcp": {} }, Env: ["P=1"] };
    expect(mergeBaseConfig(base, { Cmd: ["/child"] }, { inherit: false })).toEqual({ Cmd: ["/child"], Env: ["P=1"] });
  });

  it("does not modify its inputs", () => {
    const base = { Env: ["A=1"], Labels: { x: "1" } };
    const child = { Env: ["A=2"], Labels: { y: "2" } };
    mergeBaseConfig(base, child, { inherit: true });
    expect(base).toEqual({ Env: ["A=1"], Labels: { x: "1" } });
    expect(child).toEqual({ Env: ["A=2"], Labels: { y: "2" } });
  });

  it("refuses an Env that is not a list of strings", async () => {
    expect(() => mergeBaseConfig({ Env: "A=1" }, {}, { inherit: false })).toThrow(StrataError);
    const err = await failure(() => mergeBaseConfig({}, { Env: [1] }, { inherit: false }));
    expect(err.code).toBe("E_CLOSURE_INPUT");
    expect(err.message).toMatch(/expected the image's Env to be a list/);
  });
});

describe("mergeBaseConfig with inherit", () => {
  const base = {
    Cmd: ["/base/cmd"],
    Entrypoint: ["/base/entry"],
    Env: ["PATH=/base/bin", "BASE=1"],
    ExposedPorts: { "80/tcp": {}, "443/tcp": {} },
    Labels: { maintainer: "base", "org.base": "yes" },
    StopSignal: "SIGTERM",
    User: "base",
    Volumes: { "/data": {} },
    WorkingDir: "/base",
  };

  it("carries Cmd, Entrypoint, WorkingDir, User, Labels, ExposedPorts and Volumes over an empty config", () => {
    const merged = mergeBaseConfig(base, {}, { inherit: true });
    expect(merged).toEqual({
      Cmd: ["/base/cmd"],
      Entrypoint: ["/base/entry"],
      ExposedPorts: { "443/tcp": {}, "80/tcp": {} },
      Labels: { maintainer: "base", "org.base": "yes" },
      User: "base",
      Volumes: { "/data": {} },
      WorkingDir: "/base",
      Env: ["PATH=/base/bin", "BASE=1"],
    });
    expect(merged).not.toHaveProperty("StopSignal");
  });

  it("lets the child's keys win, merges Labels (child wins) and unions ports and volumes", () => {
    const child = {
      Cmd: [],
      Env: ["PATH=/child/bin"],
      ExposedPorts: { "8080/tcp": {} },
      Labels: { maintainer: "child", "org.child": "yes" },
      User: "child",
      Volumes: { "/cache": {} },
    };
    const merged = mergeBaseConfig(base, child, { inherit: true });
    expect(merged["Cmd"]).toEqual([]);
    expect(merged["User"]).toBe("child");
    expect(merged["Entrypoint"]).toEqual(["/base/entry"]);
    expect(merged["WorkingDir"]).toBe("/base");
    expect(merged["Labels"]).toEqual({ maintainer: "child", "org.base": "yes", "org.child": "yes" });
    expect(Object.keys(merged["ExposedPorts"] as object)).toEqual(["443/tcp", "80/tcp", "8080/tcp"]);
    expect(Object.keys(merged["Volumes"] as object)).toEqual(["/cache", "/data"]);
    expect(merged["Env"]).toEqual(["PATH=/child/bin", "BASE=1"]);
    // The child's keys keep their order; inherited keys follow in the base's order.
    expect(Object.keys(merged)).toEqual(["Cmd", "Env", "ExposedPorts", "Labels", "User", "Volumes", "Entrypoint", "WorkingDir"]);
  });

  it("works on a base without a config", () => {
    expect(mergeBaseConfig(null, { Cmd: ["x"] }, { inherit: true })).toEqual({ Cmd: ["x"] });
  });
});

describe("mergeBaseConfig with inherit: Entrypoint resets Cmd", () => {
  it("does not carry the base's Cmd over to an image with its own Entrypoint", () => {
    const merged = mergeBaseConfig({ Cmd: ["nginx", "-g", "daemon off;"], WorkingDir: "/srv" }, { Entrypoint: ["/bin/app"] }, { inherit: true });
    expect(merged).toEqual({ Entrypoint: ["/bin/app"], WorkingDir: "/srv" });
  });
});
