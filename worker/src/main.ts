#!/usr/bin/env node
// Imported first, so that the newest snapshot is being read while the other modules load.
import { earlyRestore } from './early.js'
import { runWorker } from './run.js'

// Recovery is timed from the process start, module loading included.
await runWorker(process.env, Math.round(performance.timeOrigin), earlyRestore)
