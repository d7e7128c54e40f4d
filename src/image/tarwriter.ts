// The tar writer lives in lib/ (the snapshotter streams tars with it too); kept here for existing importers.
export * from '../lib/tarwriter.js';
