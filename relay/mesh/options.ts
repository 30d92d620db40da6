/**
 * Mesh options: the rows config.ts adds to `node relay --help` and the parsed
 * values the mesh runs with. Intervals are options so tests can run the
 * canary and gossip loops in seconds instead of minutes.
 */

export type MeshMode = 'plumtree' | 'flood';
export const TEST_FAULTS = ['drop-forward', 'garbage', 'flood', 'no-announce', 'lose-answers'] as const;
export type TestFault = (typeof TEST_FAULTS)[number];

export interface MeshOptions {
  /** plumtree: eager push on a tree, ids (ihave) on the other links; flood: every payload on every link. */
  mode: MeshMode;
  /** Dial learned relays while fewer links than this are up (configured --peer URLs are always dialed). */
  targetPeers: number;
  canaryIntervalMs: number;
  canaryTimeoutMs: number;
  gossipIntervalMs: number;
  /** First ban length; each further ban of the same relay doubles it. */
  banMs: number;
  /** Frames per second a peer may send (token bucket, burst 2x); excess is dropped and penalised. */
  peerRate: number;
  /** Plumtree: how long an announced id may stay missing before it is requested (graft). */
  graftTimeoutMs: number;
  /** Catch-up payloads per second this relay requests from one peer. */
  catchupRate: number;
  /** How often each link re-runs catch-up reconciliation (anti-entropy); 0 = only when a link opens. */
  reconcileIntervalMs: number;
  /** Test-only misbehaviour; never set in production. */
  testFault: TestFault | undefined;
}

export interface MeshOptionSpec {
  flag: string;
  env: string;
  arg: string;
  def: string;
  help: string;
}

export const MESH_OPTIONS: MeshOptionSpec[] = [
  { flag: 'mesh-mode', env: 'RELAY_MESH_MODE', arg: 'MODE', def: 'plumtree', help: 'plumtree (eager tree + id announcements) or flood (every payload on every link)' },
  { flag: 'target-peers', env: 'RELAY_TARGET_PEERS', arg: 'N', def: '4', help: 'dial relays learned from server lists until this many links are up' },
  { flag: 'canary-interval', env: 'RELAY_CANARY_INTERVAL', arg: 'DURATION', def: '5m', help: 'how often a drop-detection canary is sent to one peer (0 = off)' },
  { flag: 'canary-timeout', env: 'RELAY_CANARY_TIMEOUT', arg: 'DURATION', def: '60s', help: 'how long a canary may take to come back before it counts as lost' },
  { flag: 'gossip-interval', env: 'RELAY_GOSSIP_INTERVAL', arg: 'DURATION', def: '10m', help: 'how often server lists are exchanged with peers' },
  { flag: 'ban-time', env: 'RELAY_BAN_TIME', arg: 'DURATION', def: '1h', help: 'first ban of a misbehaving peer; doubles with each further ban' },
  { flag: 'peer-rate', env: 'RELAY_PEER_RATE', arg: 'N', def: '20000', help: 'frames per second a peer relay may send before it is penalised' },
  { flag: 'graft-timeout', env: 'RELAY_GRAFT_TIMEOUT', arg: 'DURATION', def: '150ms', help: 'plumtree: wait this long for an announced message before requesting it' },
  { flag: 'catchup-rate', env: 'RELAY_CATCHUP_RATE', arg: 'N', def: '2000', help: 'catch-up messages per second pulled from one peer' },
  { flag: 'reconcile-interval', env: 'RELAY_RECONCILE_INTERVAL', arg: 'DURATION', def: '10m', help: 'how often each peer link reconciles held ids again, repairing anything lost since (0 = only when a link opens)' },
  { flag: 'test-fault', env: 'RELAY_TEST_FAULT', arg: 'FAULT', def: '', help: `TEST ONLY: misbehave on purpose (${TEST_FAULTS.join(', ')})` },
];

interface Parsers {
  get(flag: string): string;
  duration(text: string, what: string): number;
  int(text: string, what: string, min: number, max: number): number;
  fail(message: string): never;
}

export function parseMeshOptions(p: Parsers): MeshOptions {
  const mode = p.get('mesh-mode');
  if (mode !== 'plumtree' && mode !== 'flood') p.fail('--mesh-mode: must be plumtree or flood');
  const fault = p.get('test-fault');
  if (fault && !(TEST_FAULTS as readonly string[]).includes(fault)) p.fail(`--test-fault: one of ${TEST_FAULTS.join(', ')}`);
  const canary = p.get('canary-interval');
  const reconcile = p.get('reconcile-interval');
  return {
    mode,
    targetPeers: p.int(p.get('target-peers'), '--target-peers', 0, 1000),
    canaryIntervalMs: canary === '0' ? 0 : p.duration(canary, '--canary-interval'),
    canaryTimeoutMs: p.duration(p.get('canary-timeout'), '--canary-timeout'),
    gossipIntervalMs: p.duration(p.get('gossip-interval'), '--gossip-interval'),
    banMs: p.duration(p.get('ban-time'), '--ban-time'),
    peerRate: p.int(p.get('peer-rate'), '--peer-rate', 1, 10_000_000),
    graftTimeoutMs: p.duration(p.get('graft-timeout'), '--graft-timeout'),
    catchupRate: p.int(p.get('catchup-rate'), '--catchup-rate', 1, 1_000_000),
    reconcileIntervalMs: reconcile === '0' ? 0 : p.duration(reconcile, '--reconcile-interval'),
    testFault: (fault || undefined) as TestFault | undefined,
  };
}

export const defaultMeshOptions = (): MeshOptions => ({
  mode: 'plumtree',
  targetPeers: 4,
  canaryIntervalMs: 5 * 60_000,
  canaryTimeoutMs: 60_000,
  gossipIntervalMs: 10 * 60_000,
  banMs: 3_600_000,
  peerRate: 20_000,
  graftTimeoutMs: 150,
  catchupRate: 2000,
  reconcileIntervalMs: 10 * 60_000,
  testFault: undefined,
});
