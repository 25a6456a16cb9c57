/**
 * Sandbox links: a /30 of the configured pool per networked sandbox (gateway = host end, address = sandbox
 * end). Pure: which slot is free is decided by the kernel (link.ts creates the host interface named after
 * the slot; a name in use fails, so two polyrun processes never take the same slot).
 */
import { blockSize, nthAddress, type Cidr } from './address.js';

export interface LinkAddresses {
  gateway: string;
  address: string;
  prefix: 30;
}

export function slotCount(pool: Cidr): number {
  return Number(blockSize(pool) / 4n);
}

export function allocateLink(pool: Cidr, slot: number): LinkAddresses {
  if (pool.family !== 4) throw new Error('the link pool must be an IPv4 block');
  if (!Number.isInteger(slot) || slot < 0 || slot >= slotCount(pool)) throw new Error(`slot ${slot} is outside the link pool`);
  const base = BigInt(slot) * 4n;
  return { gateway: nthAddress(pool, base + 1n), address: nthAddress(pool, base + 2n), prefix: 30 };
}
