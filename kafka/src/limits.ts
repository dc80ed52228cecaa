export { TRANSACTION_TIMEOUT_MS } from '@ridepulse/contracts'
