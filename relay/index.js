#!/usr/bin/env node
// `node relay`: TypeScript runs through tsx, no build step.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
