// Imported first by main.ts, so that this runs before the other modules load
// (the shipped worker; the test kit's worker under test calls startEarlyRestore itself).
import { startEarlyRestore } from './opb/early-restore.js'

export const earlyRestore = startEarlyRestore(process.env)
