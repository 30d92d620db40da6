/// <reference lib="webworker" />
import * as Comlink from 'comlink';
import { selectEngine } from '../protocol/crypto/select.ts';
import type { SealInput } from '../protocol/message.ts';
import type { ForwardRequest } from '../protocol/forward.ts';
import { installErrorTransfer } from './comlink-errors.ts';
import { CryptoCore, type KeygenStage } from './crypto-core.ts';
import { IdbKeyStore } from './idb-key-store.ts';
import { MemoryKeyStore } from './key-store.ts';

installErrorTransfer();

let core: Promise<CryptoCore> | undefined;
const getCore = (): Promise<CryptoCore> =>
  (core ??= selectEngine().then((engine) => new CryptoCore(engine, typeof indexedDB === 'undefined' ? new MemoryKeyStore() : new IdbKeyStore())));

/** The API the main thread sees through comlink. Every method is async and returns clonable data. */
const api = {
  async engine(): Promise<string> {
    return (await getCore()).engineName;
  },
  async identity() {
    return (await getCore()).identity();
  },
  async generate(onProgress?: (stage: KeygenStage) => void) {
    return (await getCore()).generate(onProgress);
  },
  async importPem(pem: string) {
    return (await getCore()).importPem(pem);
  },
  async importBackup(text: string, passphrase: string) {
    return (await getCore()).importBackup(text, passphrase);
  },
  async exportBackup(passphrase: string, name?: string) {
    return (await getCore()).exportBackup(passphrase, name ? { name } : {});
  },
  async publicKeyPem() {
    return (await getCore()).publicKeyPem();
  },
  async forget() {
    return (await getCore()).forget();
  },
  async seal(recipient: string, input: SealInput) {
    return (await getCore()).seal(recipient, input);
  },
  async open(packet: unknown) {
    return (await getCore()).open(packet);
  },
  async signRetrieval(relayId: string, after?: string) {
    return (await getCore()).signRetrieval(relayId, after === undefined ? {} : { after });
  },
  async fingerprint(publicKey: string) {
    return (await getCore()).fingerprint(publicKey);
  },
  async verifyDescriptors(list: unknown[], now: number) {
    return (await getCore()).verifyDescriptors(list, now);
  },
  async sealCover(bucket: number) {
    return (await getCore()).sealCover(bucket);
  },
  async signCoverRetrieval(relayId: string, after?: string) {
    return (await getCore()).signCoverRetrieval(relayId, after);
  },
  async sealForward(destination: { id: string; publicKey: string }, req: ForwardRequest) {
    return (await getCore()).sealForward(destination, req);
  },
  async openForward(token: string, response?: unknown) {
    return (await getCore()).openForward(token, response);
  },
  async droppedCount() {
    return (await getCore()).droppedCount();
  },
};

export type CryptoApi = typeof api;

Comlink.expose(api);
