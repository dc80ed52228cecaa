// Imported first by main.ts, so that this runs before the other modules load.
import { startEarlyRestore } from './opb/early-restore.js'

export const earlyRestore = startEarlyRestore(process.env)
