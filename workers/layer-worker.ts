/**
 * piscina entry for layer tasks. Thin: the work is in src/layer/build-layer.ts. The default export
 * streams a layer through a ring (the merger); `measure` and `writeAt` are the positional mode's
 * two phases (an output file written at known offsets).
 */
import { buildLayer, measureLayer, writeLayerAt } from "../src/layer/build-layer.js";
import type { ChannelSpec, WriteAtSpec } from "../src/pool/protocol.js";
import type { LayerDigest, LayerTask } from "../src/layer/layer-task.js";

export default function layerTask(task: LayerTask & { readonly channel: ChannelSpec }): LayerDigest | undefined {
  return buildLayer(task, task.channel);
}

export function measure(task: LayerTask): number {
  return measureLayer(task);
}

export function writeAt(task: LayerTask & { readonly at: WriteAtSpec }): LayerDigest {
  return writeLayerAt(task, task.at);
}
