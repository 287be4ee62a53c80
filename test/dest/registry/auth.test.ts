/** Auth files resolve in podman's order, keys match like podman's, credential helpers run. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CredentialResolver, normaliseKey, parseCreds } from "../../../src/dest/registry/auth.js";
import { StrataError } from "../../../src/errors.js";

let root: string;
let home: string;
let env: NodeJS.ProcessEnv;

const b64 = (s: string): string => Buffer.from(s).toString("base64");
function write(file: string, json: unknown): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "strata-auth-"));
  home = path.join(root, "home");
  fs.mkdirSync(home);
  env = { PATH: `${path.join(root, "bin")}:${process.env["PATH"] ?? ""}`, HOME: home };
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

describe("CredentialResolver", () => {
  it("--creds wins and reads no file", async () => {
    write(path.join(home, ".docker/config.json"), { auths: { "r.io": { auth: b64("file:pw") } } });
    const r = new CredentialResolver({ creds: "me:pa:ss", env, home });
    expect(await r.lookup("r.io", "x")).toMatchObject({ kind: "basic", username: "me", password: "pa:ss", source: "--creds" });
    expect(r.filesRead).toEqual([]);
  });

  it("rejects --creds without a password, without echoing it", () => {
    expect(() => parseCreds("justuser")).toThrow(StrataError);
    expect(() => parseCreds(":pw")).toThrow(/empty user/);
  });

  it("reads files in podman's order: --authfile, then XDG_CONFIG_HOME, then ~/.docker", async () => {
    const authfile = write(path.join(root, "given.json"), { auths: { "a.io": { auth: b64("given:1") } } });
    write(path.join(home, ".config/containers/auth.json"), { auths: { "a.io": { auth: b64("xdg:2") }, "b.io": { auth: b64("xdg:3") } } });
    write(path.join(home, ".docker/config.json"), { auths: { "b.io": { auth: b64("docker:4") }, "c.io": { auth: b64("docker:5") } } });
    const r = new CredentialResolver({ authFile: authfile, env, home });
    expect(await r.lookup("a.io", "x")).toMatchObject({ username: "given" });
    expect(await r.lookup("b.io", "x")).toMatchObject({ username: "xdg" });
    expect(await r.lookup("c.io", "x")).toMatchObject({ username: "docker", password: "5" });
    expect(await r.lookup("d.io", "x")).toBeUndefined();
    expect(r.filesRead).toEqual([authfile, path.join(home, ".config/containers/auth.json"), path.join(home, ".docker/config.json")]);
    expect(r.hint()).toContain(authfile);
  });

  it("REGISTRY_AUTH_FILE, else XDG_RUNTIME_DIR; DOCKER_CONFIG replaces ~/.docker", async () => {
    const run = path.join(root, "run");
    write(path.join(run, "containers/auth.json"), { auths: { "a.io": { auth: b64("runtime:1") } } });
    const dockerConfig = path.join(root, "dc");
    write(path.join(dockerConfig, "config.json"), { auths: { "b.io": { auth: b64("dc:2") } } });
    write(path.join(home, ".docker/config.json"), { auths: { "b.io": { auth: b64("home:3") } } });
    const r1 = new CredentialResolver({ env: { ...env, XDG_RUNTIME_DIR: run, DOCKER_CONFIG: dockerConfig }, home });
    expect(await r1.lookup("a.io", "x")).toMatchObject({ username: "runtime" });
    expect(await r1.lookup("b.io", "x")).toMatchObject({ username: "dc" });
    const envFile = write(path.join(root, "env.json"), { auths: { "a.io": { auth: b64("envfile:4") } } });
    const r2 = new CredentialResolver({ env: { ...env, XDG_RUNTIME_DIR: run, REGISTRY_AUTH_FILE: envFile }, home });
    expect(await r2.lookup("a.io", "x")).toMatchObject({ username: "envfile" });
  });

  it("matches host/repo prefixes, most specific first, then legacy URL keys", async () => {
    write(path.join(home, ".docker/config.json"), {
      auths: {
        "r.io": { auth: b64("host:1") },
        "r.io/team": { auth: b64("team:2") },
        "r.io/team/app": { auth: b64("app:3") },
        "https://index.docker.io/v1/": { auth: b64("hub:4") },
        "http://old.io:5000/v2/": { auth: b64("old:5") },
        "empty.io": {},
      },
    });
    const r = new CredentialResolver({ env, home });
    expect(await r.lookup("r.io", "team/app")).toMatchObject({ username: "app" });
    expect(await r.lookup("r.io", "team/other")).toMatchObject({ username: "team" });
    expect(await r.lookup("r.io", "else")).toMatchObject({ username: "host" });
    expect(await r.lookup("docker.io", "library/alpine")).toMatchObject({ username: "hub" });
    expect(await r.lookup("old.io:5000", "x")).toMatchObject({ username: "old" });
    expect(await r.lookup("empty.io", "x")).toBeUndefined();
    expect(normaliseKey("https://registry-1.docker.io")).toBe("docker.io");
  });

  it("reads an identity token", async () => {
    write(path.join(home, ".docker/config.json"), { auths: { "r.io": { auth: b64("u:"), identitytoken: "IDTOKEN" } } });
    expect(await new CredentialResolver({ env, home }).lookup("r.io", "x")).toMatchObject({ kind: "identityToken", username: "u", token: "IDTOKEN" });
  });

  describe("credential helpers", () => {
    beforeEach(() => {
      // A docker-credential-test that answers for two servers, and logs what it was asked.
      const bin = path.join(root, "bin");
      fs.mkdirSync(bin);
      fs.writeFileSync(path.join(bin, "docker-credential-test"), `#!/bin/sh
read server
echo "$1 $server" >> "${root}/helper.log"
case "$server" in
  h.io) echo '{"ServerURL":"h.io","Username":"helper-user","Secret":"helper-pw"}' ;;
  t.io) echo '{"ServerURL":"t.io","Username":"<token>","Secret":"helper-idtoken"}' ;;
  https://index.docker.io/v1/) echo '{"ServerURL":"x","Username":"hubuser","Secret":"hubpw"}' ;;
  broken.io) echo "secret-in-helper-output" >&2; exit 3 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`, { mode: 0o755 });
    });

    it("credHelpers per host, and credsStore for the rest, before auths", async () => {
      write(path.join(home, ".docker/config.json"), {
        credHelpers: { "h.io": "test" },
        credsStore: "test",
        auths: { "h.io": { auth: b64("file:pw") }, "n.io": { auth: b64("file-n:pw") } },
      });
      const r = new CredentialResolver({ env, home });
      expect(await r.lookup("h.io", "x")).toMatchObject({ kind: "basic", username: "helper-user", password: "helper-pw", source: "docker-credential-test" });
      expect(await r.lookup("t.io", "x")).toMatchObject({ kind: "identityToken", token: "helper-idtoken" });
      expect(await r.lookup("docker.io", "library/x")).toMatchObject({ username: "hubuser" });
      expect(await r.lookup("n.io", "x")).toMatchObject({ username: "file-n" });
      expect(fs.readFileSync(path.join(root, "helper.log"), "utf8").split("\n")).toContain("get h.io");
    });

    it("a failing helper is one E_AUTH line without its output; a missing one names the program", async () => {
      write(path.join(home, ".docker/config.json"), { credHelpers: { "broken.io": "test", "gone.io": "nonexistent" } });
      const r = new CredentialResolver({ env, home });
      const err = await r.lookup("broken.io", "x").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StrataError);
      expect((err as StrataError).code).toBe("E_AUTH");
      expect((err as StrataError).message).not.toContain("secret-in-helper-output");
      const gone = await r.lookup("gone.io", "x").catch((e: unknown) => e);
      expect((gone as StrataError).message).toContain("docker-credential-nonexistent");
    });
  });

  it("a malformed auth file is E_AUTH naming the file, quoting none of it", async () => {
    const f = path.join(home, ".docker/config.json");
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, '{"auths": {"r.io": {"auth": "c2VjcmV0"}},, }');
    const err = await new CredentialResolver({ env, home }).lookup("r.io", "x").catch((e: unknown) => e);
    expect((err as StrataError).code).toBe("E_AUTH");
    expect((err as StrataError).message).toContain(f);
    expect((err as StrataError).message).not.toContain("c2VjcmV0");
  });
});
