import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { zonePartition } from '../../worker/src/core/partition.js'
import { topicsFor, waitReady } from '../../worker/src/demo/pipeline.js'
import { testPipeline } from '../../worker/test/harness.js'

const root = join(import.meta.dirname, '..', '..')
const SHARDS = 3
const t = testPipeline('board', { shards: SHARDS, ordersPartitions: SHARDS })
let board: ChildProcess
let boardLogs = ''
let url = ''
let browser: Browser
let page: Page
let load: { stop: () => Promise<unknown> } | undefined

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/** Every cell the page shows: zone, window, the four counts, final or not. */
const pageCells = () =>
  page.$$eval('td[data-zone]', (tds) =>
    tds.map((td) => {
      const [m, c, x] = (td.querySelector('.s')?.textContent ?? '').split(' ').map((s) => Number.parseInt(s, 10))
      return { zone: td.getAttribute('data-zone')!, windowStart: Number(td.getAttribute('data-window')), requested: Number(td.getAttribute('data-requested')), matched: m!, completed: c!, cancelled: x!, final: td.getAttribute('data-final') === 'true', hot: td.classList.contains('demandHot') }
    }),
  )

beforeAll(async () => {
  await t.p.startAll()
  load = t.load({ ratePerSec: 300 })
  const workers = Array.from({ length: SHARDS }, (_, s) => `${s}=http://127.0.0.1:${t.p.opts.httpBase + 100 + s}`).join(',')
  board = spawn(process.execPath, [join(root, 'board', 'dist', 'main.js')], {
    env: { PATH: process.env.PATH, KAFKA_BROKERS: t.settings.brokers.join(','), TOPIC_OUTPUT: topicsFor(t.p.opts.pipeline).TOPIC_OUTPUT, SHARDS: String(SHARDS), WORKER_STATUS_URLS: workers, STATUS_POLL_MS: '200', HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', HISTORY_WINDOWS: '60' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  board.stdout?.on('data', (b: Buffer) => (boardLogs += b.toString()))
  board.stderr?.on('data', (b: Buffer) => (boardLogs += b.toString()))
  url = await until('the board listening', async () => /board on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(boardLogs)?.[1])
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  page = await browser.newPage({ viewport: { width: 1400, height: 860 } })
  await page.goto(url)
})

afterAll(async () => {
  await load?.stop()
  await browser?.close()
  board?.kill('SIGTERM')
  await t.cleanup()
})

describe('the dispatch board in a real browser, fed by the real pipeline', () => {
  it('shows counts per zone and minute and keeps them updating', async () => {
    await expect(page.title()).resolves.toContain('dispatch board')
    await until('cells on the page', async () => (await page.$$('td[data-zone]')).length >= 6)
    expect(await page.getByTestId('connection').textContent()).toBe('live')
    const first = JSON.stringify(await pageCells())
    await until('the numbers to change', async () => JSON.stringify(await pageCells()) !== first, 10_000)
    // Every shard reports running.
    await until('three running shards', async () => (await page.$$('[data-state="running"]')).length === SHARDS)
  })

  it('marks a zone hot by demand, following the threshold set on the page', async () => {
    const cells = await pageCells()
    const newest = Math.max(...cells.map((c) => c.windowStart))
    const hottest = cells.filter((c) => c.windowStart === newest).sort((a, b) => b.requested - a.requested)[0]!
    expect(hottest.requested).toBeGreaterThan(1)
    await page.getByTestId('threshold-demand').fill(String(hottest.requested))
    const after = await until('the threshold applied', async () => {
      const now = await pageCells()
      const c = now.find((x) => x.zone === hottest.zone && x.windowStart === hottest.windowStart)
      return c?.hot ? now : undefined
    }, 5000)
    // Hotness follows the threshold: below it, nothing is hot.
    expect(after.filter((c) => c.hot).every((c) => c.requested >= hottest.requested)).toBe(true)
    expect(after.some((c) => !c.hot && c.requested < hottest.requested)).toBe(true)
    // The hottest zone is listed first.
    const firstRow = await page.$eval('tbody tr th', (th) => th.textContent)
    expect(firstRow).toBe(hottest.zone)
    await page.getByTestId('threshold-demand').fill('1000')
  })

  it('shows a recovery banner while a shard is down and recovering; the other shards\' zones keep updating', async () => {
    const shard = 1
    const otherZones = (cells: Awaited<ReturnType<typeof pageCells>>) => cells.filter((c) => zonePartition(c.zone, SHARDS) !== shard)
    await t.p.killOpb(shard)
    await until('the banner', async () => (await page.getByTestId('banner').isVisible()) && /Shard 1/.test((await page.getByTestId('banner').textContent()) ?? ''), 5000)
    expect(await page.getByTestId(`shard-${shard}`).getAttribute('data-state')).toMatch(/down|recovering/)
    const during = JSON.stringify(otherZones(await pageCells()))
    await until('other shards\' zones updating while shard 1 is down', async () => JSON.stringify(otherZones(await pageCells())) !== during, 8000)
    expect(await page.getByTestId('banner').isVisible()).toBe(true)
    const w = t.p.startOpb(shard)
    await waitReady(w)
    await until('the banner cleared', async () => !(await page.getByTestId('banner').isVisible()), 10_000)
    const chip = (await page.getByTestId(`shard-${shard}`).textContent()) ?? ''
    expect(chip).toMatch(/running.*last recovery .* in \d+ ms/)
  })

  it('ends with final numbers equal to the verifier\'s ground truth, and a screenshot for the README', async () => {
    await page.click('tbody tr th')
    await expect(page.getByTestId('detail').isVisible()).resolves.toBe(true)
    mkdirSync(join(root, 'docs'), { recursive: true })
    await page.getByTestId('threshold-demand').fill('12')
    await sleep(500)
    await page.screenshot({ path: join(root, 'docs', 'board.png') })

    await load?.stop()
    load = undefined
    const report = await t.verifyWhenFinal(45_000)
    expect(report.ok, report.problems.join('\n')).toBe(true)
    // The page catches up with every final, then shows exactly the truth.
    const finals = await until('the page showing the last windows final', async () => {
      const cells = await pageCells()
      const shown = cells.filter((c) => report.truth.has(`${c.zone}|${c.windowStart}`))
      return shown.length > 0 && shown.every((c) => c.final) ? shown : undefined
    }, 20_000)
    expect(finals.length).toBeGreaterThanOrEqual(10)
    for (const c of finals) {
      const truth = report.truth.get(`${c.zone}|${c.windowStart}`)!
      expect({ zone: c.zone, requested: c.requested, matched: c.matched, completed: c.completed, cancelled: c.cancelled }).toEqual({ zone: c.zone, requested: truth.requested, matched: truth.matched, completed: truth.completed, cancelled: truth.cancelled })
    }
    // And the service's whole cache, not only what fits on the page.
    const state = (await (await fetch(`${url}api/state`)).json()) as { cells: { zone: string; windowStart: number; requested: number; final: boolean }[] }
    const truthFinals = state.cells.filter((c) => c.final && report.truth.has(`${c.zone}|${c.windowStart}`))
    expect(truthFinals.length).toBe(report.truth.size)
    for (const c of truthFinals) expect(c.requested).toBe(report.truth.get(`${c.zone}|${c.windowStart}`)!.requested)
  })
})
