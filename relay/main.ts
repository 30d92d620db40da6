import { existsSync } from 'node:fs';
import { Relay } from './app.ts';
import { ConfigError, helpText, parseConfig, type RelayConfig } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import { Mesh } from './mesh/mesh.ts';
import { defaultMeshOptions } from './mesh/options.ts';
import type { LinkView } from './proxy/forwarder.ts';

interface Closable {
  close(): Promise<void>;
}

/** The calls issue's STUN server (relay/stun/server.ts), when present. */
async function startStun(config: RelayConfig, log: Logger): Promise<Closable | undefined> {
  if (!config.stunPort) return undefined;
  const file = new URL('./stun/server.ts', import.meta.url);
  if (!existsSync(file)) {
    log.warn('relay/stun/server.ts not present; STUN not started');
    return undefined;
  }
  const { startStunServer } = (await import(file.href)) as typeof import('./stun/server.ts');
  const stun = await startStunServer({ host: config.host, port: config.stunPort, log: log.child({ part: 'stun' }) });
  log.info({ port: stun.port }, 'STUN listening');
  return stun;
}

async function main(): Promise<void> {
  let config: RelayConfig | null;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`relay: ${e.message}\n\n${helpText()}`);
      process.exit(2);
    }
    throw e;
  }
  if (!config) {
    process.stdout.write(helpText());
    return;
  }
  const log = createLogger(config.logLevel);
  let relay: Relay;
  try {
    relay = await Relay.create({ config, log });
  } catch (e) {
    if ((e as { name?: string }).name === 'DataFolderInUse') {
      process.stderr.write(`relay: ${(e as Error).message}\n`);
      process.exit(1);
    }
    throw e;
  }
  // The mesh adds /v1/peer to the app, so it exists before listen().
  const mesh = new Mesh(relay, config.mesh ?? defaultMeshOptions(), log.child({ part: 'mesh' }));
  // A proxy forwards without probing to relays it dialed and authenticated at their URL.
  relay.forwarder.setPeerLinks(() => (mesh.status().peers as LinkView[]) ?? []);
  const port = await relay.listen();
  mesh.start();
  let stun: Closable | undefined;
  try {
    stun = await startStun(config, log);
  } catch (err) {
    // Calls degrade (no STUN here) but messaging must not: keep serving.
    log.error({ err, port: config.stunPort }, 'STUN server failed to start');
  }
  log.info({ id: relay.identity.id, url: config.publicUrl, host: config.host, port, data: config.dataDir, peers: config.peers.length }, 'relay listening');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    Promise.all([mesh.close().then(() => relay.close()), stun?.close()])
      .then(() => {
        log.info('stopped');
        process.exit(0);
      })
      .catch((err) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`relay: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
