/**
 * Issue 15, the readers of untrusted images (items 3, 13, 14): what an archive or a layout claims
 * does not decide how much strata reads or keeps, bad JSON is an input error naming the file, and
 * nothing outside an OCI layout is read through a link (nor quoted in an error).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectImage } from "../../src/inspect.js";
import { LIMITS } from "../../src/source/limits.js";
import { openImages } from "../../src/source/open-images.js";
import { openImage } from "../../src/source/read-image.js";
import { withLimit } from "./readers-helpers.js";
import { configFor, failure, makeLayer, makeOciLayout, makeTar, sha256, tempArea, type TarMember } from "../source/fixtures.js";

let area: ReturnType<typeof tempArea>;
let layer: Buffer;
let n = 0;

beforeAll(async () => {
  area = tempArea("strata-harden-readers-");
  layer = await makeLayer({ "bin/hello": "hello\n" });
});
afterAll(() => area?.cleanup());

const fresh = (name: string): string => path.join(area.root, `${name}-${++n}`);

/** A one-layer OCI layout in a fresh dir. */
function layout(name: string): { dir: string; config: Buffer } {
  const dir = fresh(name);
  const config = makeOciLayout(dir, { layers: [layer] });
  return { dir, config };
}

/** Both readers (inspect streams, openImage extracts) fail the same way on `input`. */
async function bothRefuse(input: string, code: string, message: RegExp): Promise<string[]> {
  const messages: string[] = [];
  for (const run of [() => inspectImage(input), () => openImage(input, { tmpDir: area.work })]) {
    const err = await failure(run);
    expect(err.code, err.message).toBe(code);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain("\n");
    messages.push(err.message);
  }
  expect(fs.readdirSync(area.work)).toEqual([]);
  return messages;
}

/** A docker-archive of `entries` manifest entries all naming one config. */
function dockerArchive(config: Buffer, entries: number, extra: readonly TarMember[] = []): Promise<Buffer> {
  const configName = `${sha256(config)}.json`;
  const manifest = Array.from({ length: entries }, (_, i) => ({ Config: configName, RepoTags: [`x:${i}`], Layers: ["001/layer.tar"] }));
  return makeTar([{ name: "001/layer.tar", content: layer }, ...extra, { name: configName, content: config }, { name: "manifest.json", content: JSON.stringify(manifest) }]);
}

describe("item 13: malformed JSON is an input error naming the file", () => {
  it("index.json nested 200,000 levels deep", async () => {
    const { dir } = layout("deep-index");
    fs.writeFileSync(path.join(dir, "index.json"), "[".repeat(200_000) + "]".repeat(200_000));
    await bothRefuse(dir, "E_CLOSURE_INPUT", new RegExp(`: index\\.json \\(index\\.json\\): expected JSON nested at most ${LIMITS.maxJsonDepth} levels deep, found more$`));
  });

  it("a config nested 200,000 levels deep, in a docker-archive", async () => {
    const config = Buffer.from(`{"rootfs":{"type":"layers","diff_ids":["sha256:${sha256(layer)}"]},"x":${"[".repeat(200_000)}${"]".repeat(200_000)}}`);
    const input = fresh("deep-config") + ".tar";
    fs.writeFileSync(input, await dockerArchive(config, 1));
    await bothRefuse(input, "E_CLOSURE_INPUT", /the image config \([0-9a-f]{64}\.json\): expected JSON nested at most \d+ levels deep, found more$/);
  });

  it("a config holding 1e400, which JSON.parse makes Infinity (and nothing can write back)", async () => {
    const config = Buffer.from(`{"architecture":"amd64","os":"linux","config":{"StopTimeout":1e400},"rootfs":{"type":"layers","diff_ids":["sha256:${sha256(layer)}"]}}`);
    const input = fresh("1e400") + ".tar";
    fs.writeFileSync(input, await dockerArchive(config, 1));
    await bothRefuse(input, "E_CLOSURE_INPUT", /the image config \([0-9a-f]{64}\.json\): expected JSON numbers a double can hold, found one out of range \(such as 1e400\)$/);
  });

  it("index.json of null, of {\"manifests\":{}}, and of bytes that are not JSON", async () => {
    for (const [text, found] of [
      ["null", "found null$"],
      ['{"manifests":{}}', 'found an object whose "manifests" is an object$'],
      ['{"manifests":"x"}', 'found an object whose "manifests" is a string$'],
      ["", "found an empty file$"],
      ["{\"manifests\": [", "found bytes that are not JSON"],
    ] as const) {
      const { dir } = layout("bad-index");
      fs.writeFileSync(path.join(dir, "index.json"), text);
      await bothRefuse(dir, "E_CLOSURE_INPUT", new RegExp(`index\\.json.*${found}`));
    }
  });
});

describe("item 14: nothing outside an OCI layout is read through a link, nor quoted", () => {
  let secret: string;
  beforeAll(() => {
    secret = path.join(area.root, "shadow");
    fs.writeFileSync(secret, "root:$y$SECRETHASH:19000:0:99999:7:::\n", { mode: 0o600 });
  });

  it("index.json linked to a secret file: refused as a link, its bytes never shown", async () => {
    const { dir } = layout("index-link");
    fs.rmSync(path.join(dir, "index.json"));
    fs.symlinkSync(secret, path.join(dir, "index.json"));
    const messages = await bothRefuse(dir, "E_CLOSURE_INPUT", /expected index\.json at index\.json to be a regular file inside the layout, found index\.json a symbolic link$/);
    for (const m of messages) expect(m).not.toMatch(/root|SECRET|19000/);
  });

  it("a file that is not JSON is never quoted, even when it is a regular file of the layout", async () => {
    const { dir } = layout("index-secret");
    fs.copyFileSync(secret, path.join(dir, "index.json"));
    const messages = await bothRefuse(dir, "E_CLOSURE_INPUT", /index\.json \(index\.json\): expected a JSON document, found bytes that are not JSON \(at byte \d+\)$|found bytes that are not JSON$/);
    for (const m of messages) expect(m).not.toMatch(/root|SECRET|19000/);
  });

  it("a layer blob that is a link to a file outside, even one with the right bytes", async () => {
    const { dir } = layout("blob-link");
    const blob = path.join(dir, "blobs", "sha256", sha256(layer));
    const outside = path.join(area.root, `outside-${n}`);
    fs.renameSync(blob, outside);
    fs.symlinkSync(outside, blob);
    await bothRefuse(dir, "E_CLOSURE_INPUT", /to be a regular file inside the layout, found blobs\/sha256\/[0-9a-f]{64} a symbolic link$/);
  });

  it("blobs/ linked to a directory outside the layout", async () => {
    const { dir } = layout("blobs-link");
    const outside = path.join(area.root, `outside-blobs-${n}`);
    fs.renameSync(path.join(dir, "blobs"), outside);
    fs.symlinkSync(outside, path.join(dir, "blobs"));
    await bothRefuse(dir, "E_CLOSURE_INPUT", /found blobs a symbolic link$/);
  });

  it("a FIFO as a layer blob is refused without hanging", async () => {
    const { dir } = layout("blob-fifo");
    const blob = path.join(dir, "blobs", "sha256", sha256(layer));
    fs.rmSync(blob);
    expect(spawnSync("mkfifo", [blob]).status).toBe(0);
    await bothRefuse(dir, "E_CLOSURE_INPUT", /to be a regular file, found a FIFO$/);
  });
});

describe("item 3: memory follows the distinct bytes of an input, not what it claims", () => {
  it("100,000 manifest.json entries naming one config are refused before any config is read", async () => {
    const input = fresh("many-entries") + ".tar";
    fs.writeFileSync(input, await dockerArchive(configFor([layer]), 100_000));
    await bothRefuse(input, "E_CLOSURE_INPUT", new RegExp(`expected manifest\\.json to list at most ${LIMITS.maxImages} images, found 100000$`));
  });

  it("an OCI index of 20,000 manifests", async () => {
    const { dir } = layout("many-manifests");
    const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as { manifests: unknown[] };
    index.manifests = Array.from({ length: 20_000 }, () => index.manifests[0]);
    fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify(index));
    await bothRefuse(dir, "E_CLOSURE_INPUT", new RegExp(`expected index\\.json to list at most ${LIMITS.maxImages} manifests, found 20000$`));
  });

  it("every entry naming one config shares one read of it", async () => {
    const config = configFor([layer], { padding: "x".repeat(1 << 20) });
    const input = fresh("shared-config") + ".tar";
    fs.writeFileSync(input, await dockerArchive(config, LIMITS.maxImages));
    const source = await openImages(input, { tmpDir: area.work });
    try {
      expect(source.images).toHaveLength(LIMITS.maxImages);
      // One Buffer and one parsed object, not a thousand (1 GiB) of them.
      expect(new Set(source.images.map((i) => i.configBytes)).size).toBe(1);
      expect(new Set(source.images.map((i) => i.config)).size).toBe(1);
    } finally {
      await source.cleanup();
    }
    const inspected = await inspectImage(input);
    expect(inspected.images).toBe(LIMITS.maxImages);
  });

  it("distinct configs: LIMITS.maxJsonTotal bytes of JSON in all (here lowered to 3 MiB)", async () => {
    const configs = Array.from({ length: 5 }, (_, i) => configFor([layer], { padding: "x".repeat(1 << 20), n: i }));
    const names = configs.map((c) => `${sha256(c)}.json`);
    const input = fresh("many-configs") + ".tar";
    fs.writeFileSync(input, await makeTar([
      { name: "001/layer.tar", content: layer },
      ...configs.map((c, i) => ({ name: names[i]!, content: c })),
      { name: "manifest.json", content: JSON.stringify(names.map((Config) => ({ Config, RepoTags: null, Layers: ["001/layer.tar"] }))) },
    ]));
    await withLimit("maxJsonTotal", 3 << 20, () =>
      bothRefuse(input, "E_CLOSURE_INPUT", /expected at most 3145728 bytes of JSON documents in all, found more/));
  });

  it("more than LIMITS.maxLayers layers in one image", async () => {
    const many = LIMITS.maxLayers + 1;
    const config = Buffer.from(JSON.stringify({ rootfs: { type: "layers", diff_ids: Array(many).fill(`sha256:${sha256(layer)}`) } }));
    const configName = `${sha256(config)}.json`;
    const input = fresh("many-layers") + ".tar";
    fs.writeFileSync(input, await makeTar([
      { name: "001/layer.tar", content: layer },
      { name: configName, content: config },
      { name: "manifest.json", content: JSON.stringify([{ Config: configName, RepoTags: null, Layers: Array(many).fill("001/layer.tar") }]) },
    ]));
    await bothRefuse(input, "E_CLOSURE_INPUT", new RegExp(`expected manifest\\.json entry 0 to list at most ${LIMITS.maxLayers} layers, found ${many}$`));
  });
});
