/**
 * A layer plan: which store paths go into which layer, bottom-most layer first. This is exactly
 * the shape of nixpkgs' `store_layers` in conf.json, so a plan can be written out and fed back.
 */
export type StoreLayers = readonly (readonly string[])[];
