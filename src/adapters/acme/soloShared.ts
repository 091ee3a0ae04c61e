import type { AcmeShared } from '../../core/acme/acmePorts.js';

/** One replica alone: it orders, and nothing is shared. */
export const soloShared: AcmeShared = {
  loadShared: async () => undefined,
  saveAccount: async () => undefined,
  saveCert: async () => undefined,
  saveStatus: async () => undefined,
  publishChallenges: async () => undefined,
  isOrderer: () => true,
  run: () => undefined,
};
