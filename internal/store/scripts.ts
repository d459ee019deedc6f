import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineScript } from 'redis';
import type { CommandParser } from 'redis';

/**
 * The Lua scripts, registered once with node-redis defineScript: node-redis
 * sends EVALSHA and falls back to EVAL after a NOSCRIPT (a restarted Redis).
 * Each script's header documents its KEYS, ARGV and reply.
 */
const SCRIPT_DIR = join(__dirname, 'lua');

/**
 * A script's text, with each `--#include <lib>` line replaced by lua/lib/<lib>.lua: Redis runs
 * one self-contained text per script, and the join bucket is taken by two of them
 * (rate-limit.lua and join.lua), which must agree to the byte.
 */
export function lua(name: string): string {
  return readFileSync(join(SCRIPT_DIR, `${name}.lua`), 'utf8').replace(/^--#include ([a-z-]+)$/gm, (_line, lib: string) =>
    readFileSync(join(SCRIPT_DIR, 'lib', `${lib}.lua`), 'utf8').trimEnd(),
  );
}

type Reply = Array<string | number>;
const raw = undefined as unknown as () => Reply;
const num = undefined as unknown as () => number;

function keysAndArgs(keyCount: number) {
  return (parser: CommandParser, ...args: Array<string | number>) => {
    args.forEach((a, i) => (i < keyCount ? parser.pushKey(String(a)) : parser.push(String(a))));
  };
}

/** For a script whose key count varies per call: (keys, args), the count written first. */
function variableKeys(parser: CommandParser, keys: readonly string[], args: ReadonlyArray<string | number>): void {
  parser.push(String(keys.length));
  for (const k of keys) parser.pushKey(k);
  for (const a of args) parser.push(String(a));
}

export const scripts = {
  ensureQueue: defineScript({
    NUMBER_OF_KEYS: 3,
    SCRIPT: lua('ensure-queue'),
    parseCommand: keysAndArgs(3) as (
      p: CommandParser,
      state: string,
      counter: string,
      eventStream: string,
      epoch: string,
      s: number,
      i: number,
      k: number,
      mode: string,
      opensAtMs: number,
      maxActive: number,
      seenEpoch: string,
      seenCounter: number,
      seenW: number,
      seenVersion: number,
      eventMaxLen: number,
      queueId: string,
      lengthAlertThreshold: number,
      lengthAlertClearBelow: number,
      ...retired: string[]
    ) => void,
    transformReply: raw,
  }),
  join: defineScript({
    // NUMBER_OF_KEYS left out: with the join limit on, one bucket key per ticket follows the three.
    SCRIPT: lua('join'),
    parseCommand: variableKeys,
    transformReply: raw,
  }),
  advanceWindow: defineScript({
    NUMBER_OF_KEYS: 10,
    SCRIPT: lua('advance-window'),
    parseCommand: keysAndArgs(10) as (
      p: CommandParser,
      state: string,
      counter: string,
      leader: string,
      eventStream: string,
      passes: string,
      stats: string,
      occupancy: string,
      claimWindows: string,
      claimedTickets: string,
      gone: string,
      owner: string,
      channel: string,
      seenEpoch: string,
      seenCounter: number,
      seenW: number,
      seenVersion: number,
      eventMaxLen: number,
      queueId: string,
      maxMove: number,
      goneEpoch: string,
      ...retired: string[]
    ) => void,
    transformReply: raw,
  }),
  // --- no-shows (docs/system.md, "No-shows") ---
  markGone: defineScript({
    NUMBER_OF_KEYS: 2,
    SCRIPT: lua('mark-gone'),
    parseCommand: keysAndArgs(2) as (p: CommandParser, state: string, gone: string, epoch: string, lifetimeMs: number, ...tickets: number[]) => void,
    transformReply: raw,
  }),
  unmarkGone: defineScript({
    NUMBER_OF_KEYS: 2,
    SCRIPT: lua('unmark-gone'),
    parseCommand: keysAndArgs(2) as (p: CommandParser, state: string, gone: string, epoch: string, ticket: number) => void,
    transformReply: raw,
  }),
  sweepGone: defineScript({
    NUMBER_OF_KEYS: 7,
    SCRIPT: lua('sweep-gone'),
    parseCommand: keysAndArgs(7) as (
      p: CommandParser,
      state: string,
      gone: string,
      ...rest: Array<string | number>
    ) => void,
    transformReply: raw,
  }),
  readGone: defineScript({
    NUMBER_OF_KEYS: 1,
    SCRIPT: lua('read-gone'),
    parseCommand: keysAndArgs(1) as (p: CommandParser, gone: string, from: number, to: number) => void,
    transformReply: raw,
  }),
  setOriginHold: defineScript({
    NUMBER_OF_KEYS: 3,
    SCRIPT: lua('set-origin-hold'),
    parseCommand: keysAndArgs(3) as (
      p: CommandParser,
      state: string,
      counter: string,
      eventStream: string,
      hold: number,
      channel: string,
      eventMaxLength: number,
      queueId: string,
      source: 'probe' | 'site',
      reason: string,
    ) => void,
    transformReply: raw,
  }),
  leaseRenew: defineScript({
    NUMBER_OF_KEYS: 1,
    SCRIPT: lua('lease-renew'),
    parseCommand: keysAndArgs(1) as (p: CommandParser, leader: string, owner: string, ttlMs: number) => void,
    transformReply: num,
  }),
  leaseRelease: defineScript({
    NUMBER_OF_KEYS: 1,
    SCRIPT: lua('lease-release'),
    parseCommand: keysAndArgs(1) as (p: CommandParser, leader: string, owner: string) => void,
    transformReply: num,
  }),
  // --- queues as data (docs/system.md, "Many queues") ---
  createQueue: defineScript({
    NUMBER_OF_KEYS: 4,
    SCRIPT: lua('create-queue'),
    parseCommand: keysAndArgs(4) as (
      p: CommandParser,
      config: string,
      state: string,
      counter: string,
      eventStream: string,
      doc: string,
      epoch: string,
      s: number,
      i: number,
      k: number,
      mode: string,
      opensAtMs: number,
      channel: string,
      eventMaxLen: number,
      queueId: string,
      maxActive: number,
      lengthAlertThreshold: number,
      lengthAlertClearBelow: number,
    ) => void,
    transformReply: raw,
  }),
  updateQueue: defineScript({
    NUMBER_OF_KEYS: 4,
    SCRIPT: lua('update-queue'),
    parseCommand: keysAndArgs(4) as (
      p: CommandParser,
      config: string,
      state: string,
      counter: string,
      eventStream: string,
      expectedVersion: number,
      doc: string,
      s: number,
      i: number,
      k: number,
      mode: string,
      opensAtMs: number,
      channel: string,
      eventMaxLen: number,
      queueId: string,
      change: string,
      maxActive: number,
      lengthAlertThreshold: number,
      lengthAlertClearBelow: number,
    ) => void,
    transformReply: raw,
  }),
  deleteQueue: defineScript({
    NUMBER_OF_KEYS: 13,
    SCRIPT: lua('delete-queue'),
    parseCommand: keysAndArgs(13) as (
      p: CommandParser,
      config: string,
      state: string,
      counter: string,
      leader: string,
      passes: string,
      revoked: string,
      stats: string,
      eventStream: string,
      flowSeconds: string,
      flowMinutes: string,
      occupancy: string,
      claimWindows: string,
      claimedTickets: string,
      expectedVersion: string,
      eventMaxLen: number,
      queueId: string,
    ) => void,
    transformReply: raw,
  }),
  readQueue: defineScript({
    NUMBER_OF_KEYS: 3,
    SCRIPT: lua('read-queue'),
    parseCommand: keysAndArgs(3) as (p: CommandParser, config: string, state: string, counter: string) => void,
    transformReply: raw,
  }),
  registrySet: defineScript({
    NUMBER_OF_KEYS: 3,
    SCRIPT: lua('registry-set'),
    parseCommand: keysAndArgs(3) as (p: CommandParser, registry: string, changeSeq: string, changed: string, id: string, version: number, channel: string) => void,
    transformReply: num,
  }),
  registryRemove: defineScript({
    NUMBER_OF_KEYS: 4,
    SCRIPT: lua('registry-remove'),
    parseCommand: keysAndArgs(4) as (p: CommandParser, registry: string, changeSeq: string, changed: string, changedBy: string, id: string, channel: string) => void,
    transformReply: num,
  }),
  registryTouch: defineScript({
    NUMBER_OF_KEYS: 3,
    SCRIPT: lua('registry-touch'),
    parseCommand: keysAndArgs(3) as (p: CommandParser, changeSeq: string, changed: string, changedBy: string, id: string, author: string) => void,
    transformReply: num,
  }),
  registryPoll: defineScript({
    NUMBER_OF_KEYS: 4,
    SCRIPT: lua('registry-poll'),
    parseCommand: keysAndArgs(4) as (p: CommandParser, changeSeq: string, changed: string, changedBy: string, changeLogId: string, since: number) => void,
    transformReply: undefined as unknown as () => string[],
  }),
  replicaHeartbeat: defineScript({
    NUMBER_OF_KEYS: 1,
    SCRIPT: lua('replica-heartbeat'),
    parseCommand: keysAndArgs(1) as (p: CommandParser, replicas: string, id: string, ttlMs: number) => void,
    transformReply: undefined as unknown as () => string[],
  }),
  // --- the operator console (docs/operations.md) ---
  flowSample: defineScript({
    NUMBER_OF_KEYS: 4,
    SCRIPT: lua('flow-sample'),
    parseCommand: keysAndArgs(4) as (
      p: CommandParser,
      state: string,
      counter: string,
      seconds: string,
      minutes: string,
      atMs: string,
      keepSecondsMs: number,
      keepMinutesMs: number,
    ) => void,
    transformReply: raw,
  }),
  // --- admission (docs/admission.md) ---
  claimPass: defineScript({
    NUMBER_OF_KEYS: 8,
    SCRIPT: lua('claim-pass'),
    parseCommand: keysAndArgs(8) as (
      p: CommandParser,
      claim: string,
      passes: string,
      stats: string,
      eventStream: string,
      state: string,
      occupancy: string,
      claimedTickets: string,
      gone: string,
      jti: string,
      pass: string,
      expMs: number,
      ttlMs: number,
      policy: string,
      eventMaxLen: number,
      queueId: string,
      epoch: string,
      ticket: number,
    ) => void,
    transformReply: raw,
  }),
  passDone: defineScript({
    NUMBER_OF_KEYS: 4,
    SCRIPT: lua('pass-done'),
    parseCommand: keysAndArgs(4) as (
      p: CommandParser,
      passes: string,
      revoked: string,
      stats: string,
      eventStream: string,
      jti: string,
      outcome: string,
      channel: string,
      eventMaxLen: number,
      queueId: string,
    ) => void,
    transformReply: raw,
  }),
  passSweep: defineScript({
    NUMBER_OF_KEYS: 4,
    SCRIPT: lua('pass-sweep'),
    parseCommand: keysAndArgs(4) as (
      p: CommandParser,
      passes: string,
      revoked: string,
      stats: string,
      eventStream: string,
      withRevoked: string,
      eventMaxLen: number,
      queueId: string,
    ) => void,
    transformReply: raw,
  }),
  // --- abuse limits ---
  rateLimit: defineScript({
    // NUMBER_OF_KEYS left out: one key per join in the batch, so parseCommand writes the count.
    SCRIPT: lua('rate-limit'),
    parseCommand: ((parser: CommandParser, buckets: readonly string[], burst: number, rate: number) => {
      parser.push(String(buckets.length));
      for (const k of buckets) parser.pushKey(k);
      parser.push(String(burst), String(rate));
    }) as (p: CommandParser, buckets: readonly string[], burst: number, rate: number) => void,
    transformReply: raw,
  }),
  passClients: defineScript({
    // NUMBER_OF_KEYS left out: the key count varies with the batch, so parseCommand writes it.
    SCRIPT: lua('pass-clients'),
    parseCommand: variableKeys,
    transformReply: raw,
  }),
  webhookEndpointWrite: defineScript({
    NUMBER_OF_KEYS: 4,
    SCRIPT: lua('webhook-endpoint-write'),
    parseCommand: keysAndArgs(4) as (p: CommandParser, endpoints: string, failing: string, deliveries: string, index: string, id: string, expected: string, json: string) => void,
    transformReply: raw,
  }),
  webhookDeliveryRecord: defineScript({
    NUMBER_OF_KEYS: 3,
    SCRIPT: lua('webhook-delivery-record'),
    parseCommand: keysAndArgs(3) as (p: CommandParser, deliveries: string, index: string, endpoints: string, id: string, eventId: string, json: string, atMs: number, keep: number) => void,
    transformReply: num,
  }),
  webhookHealth: defineScript({
    NUMBER_OF_KEYS: 1,
    SCRIPT: lua('webhook-health'),
    parseCommand: keysAndArgs(1) as (p: CommandParser, failing: string, id: string, ok: string, nowMs: number, disableAfterMs: number) => void,
    transformReply: raw,
  }),
  appendEvent: defineScript({
    NUMBER_OF_KEYS: 1,
    SCRIPT: lua('append-event'),
    parseCommand: keysAndArgs(1) as (p: CommandParser, stream: string, type: string, body: string, keep: number) => void,
    transformReply: undefined as unknown as () => string,
  }),
};

export type WaitroomScripts = typeof scripts;
