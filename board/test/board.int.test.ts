import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { applyYaml, ensureNamespace, installCrd, resourcePath, restFor, topicsFor, waitReady } from '@ridepulse/testkit'
import { zonePartition } from '@ridepulse/contracts'
import { PlainProducer } from '@ridepulse/kafka'
import { testPipeline } from '@ridepulse/testkit/vitest'
import { rankZones } from '../public/hot.js'

const root = join(import.meta.dirname, '..', '..')
const SHARDS = 3
const t = testPipeline('board', { shards: SHARDS, ordersPartitions: SHARDS })
let board: ChildProcess
let boardLogs = ''
let startBoard: (port: string) => Promise<string>
let url = ''
let browser: Browser
let page: Page
let load: { stop: () => Promise<unknown> } | undefined
const requested: string[] = []

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
  startBoard = async (port: string) => {
    boardLogs = ''
    board = spawn(process.execPath, [join(root, 'board', 'dist', 'main.js')], {
      env: { PATH: process.env.PATH, KAFKA_BROKERS: t.settings.brokers.join(','), TOPIC_OUTPUT: topicsFor(t.p.opts.pipeline).TOPIC_OUTPUT, SHARDS: String(SHARDS), WORKER_STATUS_URLS: workers, STATUS_POLL_MS: '200', HTTP_PORT: port, HTTP_HOST: '127.0.0.1', HISTORY_WINDOWS: '60' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    board.stdout?.on('data', (b: Buffer) => (boardLogs += b.toString()))
    board.stderr?.on('data', (b: Buffer) => (boardLogs += b.toString()))
    return await until('the board listening', async () => /board on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(boardLogs)?.[1])
  }
  url = await startBoard('0')
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  page = await browser.newPage({ viewport: { width: 1400, height: 860 } })
  page.on('request', (r) => requested.push(r.url()))
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
    expect(requested.length).toBeGreaterThan(0)
    expect(requested.filter((u) => !u.startsWith(url)), 'nothing fetched from elsewhere').toEqual([])
    await until('cells on the page', async () => (await page.$$('td[data-zone]')).length >= 6)
    expect(await page.getByTestId('connection').textContent()).toBe('live')
    const first = JSON.stringify(await pageCells())
    await until('the numbers to change', async () => JSON.stringify(await pageCells()) !== first, 10_000)
    // Readable on a laptop and on a wall: the type grows with the screen, the grid stays on it.
    const rootFont = () => page.evaluate(() => Number.parseFloat(getComputedStyle(document.documentElement).fontSize))
    await page.setViewportSize({ width: 1280, height: 720 })
    const laptop = await rootFont()
    await page.setViewportSize({ width: 3840, height: 2160 })
    const wall = await rootFont()
    expect(wall).toBeGreaterThan(laptop * 1.5)
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true)
    await page.setViewportSize({ width: 1400, height: 860 })
    // Every shard reports running.
    await until('three running shards', async () => (await page.$$('[data-state="running"]')).length === SHARDS)
  })

  it('marks a zone hot by demand, following the threshold set on the page', async () => {
    const cells = await pageCells()
    // The newest minute may have just begun, its few cells all alike: the one before it is complete.
    const starts = [...new Set(cells.map((c) => c.windowStart))].sort((a, b) => b - a)
    const shown = starts[1] ?? starts[0]!
    const hottest = cells.filter((c) => c.windowStart === shown).sort((a, b) => b.requested - a.requested)[0]!
    expect(hottest.requested).toBeGreaterThan(1)
    // From a threshold nothing reaches, so what is hot afterwards is the new threshold's doing.
    await page.getByTestId('threshold-demand').fill('100000')
    await until('nothing hot', async () => ((await pageCells()).some((c) => c.hot) ? undefined : true), 5000)
    await page.getByTestId('threshold-demand').fill(String(hottest.requested))
    const after = await until('the threshold applied', async () => {
      const now = await pageCells()
      const c = now.find((x) => x.zone === hottest.zone && x.windowStart === hottest.windowStart)
      return c?.hot ? now : undefined
    }, 5000)
    // Hotness follows the threshold: below it, nothing is hot.
    expect(after.filter((c) => c.hot).every((c) => c.requested >= hottest.requested)).toBe(true)
    expect(after.some((c) => !c.hot && c.requested < hottest.requested)).toBe(true)
    // Hottest first: the rows follow the newest minute's demand (read together, as the minute may turn over).
    await until('rows in order of demand', async () => {
      const { rows, cells } = await page.evaluate(() => ({
        rows: [...document.querySelectorAll('tbody tr th')].map((th) => th.textContent),
        cells: [...document.querySelectorAll('td[data-zone]')].map((td) => ({ zone: td.getAttribute('data-zone')!, windowStart: Number(td.getAttribute('data-window')), requested: Number(td.getAttribute('data-requested')), matched: Number.parseInt(td.querySelector('.s')?.textContent ?? '0', 10) })),
      }))
      return rows.length > 1 && JSON.stringify(rows) === JSON.stringify(rankZones(cells))
    }, 5000)
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
    // How far behind it is, once it runs again.
    await until('the shard\'s lag on its chip', async () => /lag \d+ records · \d+\.\d s/.test((await page.getByTestId(`lag-${shard}`).textContent().catch(() => '')) ?? ''), 5000)
  })

  it('ends with final numbers equal to the verifier\'s ground truth, and a screenshot for the README', async () => {
    await page.click('tbody tr th')
    // The detail opens on the next render, not within the click.
    await page.getByTestId('detail').waitFor({ state: 'visible', timeout: 5000 })
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

  it('then survives a bad record on the output topic (the verdict is in), and a restart of the service: the page reconnects and catches up', async () => {
    const producer = new PlainProducer({ brokers: t.settings.brokers, clientId: 'board-test-garbage' })
    await producer.send([{ topic: topicsFor(t.p.opts.pipeline).TOPIC_OUTPUT, partition: 0, key: 'x', value: Buffer.from('{"not":"an output record"') }])
    await producer.close()
    const metric = async () => Number(/^ridepulse_board_skipped_records_total (\d+)$/m.exec(await (await fetch(`${url}metrics`)).text())?.[1] ?? 0)
    await until('the bad record counted', async () => (await metric()) >= 1, 10_000)
    expect((await fetch(`${url}healthz`)).ok).toBe(true)

    const before = (await pageCells()).length
    const gone = new Promise((r) => board.once('exit', r))
    board.kill('SIGTERM')
    await gone
    await until('the page noticing', async () => (await page.getByTestId('connection').textContent()) === 'reconnecting…', 10_000)
    await startBoard(new URL(url).port)
    // Its state is rebuilt from the topic; the page gets a fresh snapshot on reconnecting.
    await until('the page live again', async () => (await page.getByTestId('connection').textContent()) === 'live', 15_000)
    await until('the cells back', async () => (await pageCells()).length >= before, 15_000)
    await until('the board ready (caught up)', async () => (await fetch(`${url}readyz`)).ok, 15_000)
  })
})

describe('the board on Kubernetes', () => {
  it('takes shard health from the StatefulOperator\'s status', async () => {
    const rest = restFor(inject('kubeconfig'))
    await installCrd(rest)
    await ensureNamespace(rest, 'board-k8s')
    await applyYaml(rest, JSON.stringify({ apiVersion: 'ridepulse.io/v1alpha1', kind: 'StatefulOperator', metadata: { name: 'rides', namespace: 'board-k8s' }, spec: { kafka: { bootstrapServers: ['kafka:9092'] }, opb: { shards: 2 } } }), 'board-k8s')
    const res = await rest.get<Record<string, unknown>>(resourcePath('board-k8s', 'rides'))
    const status = { shards: [
      { shard: 0, pod: 'rides-opb-0', claim: 'data-rides-opb-0', phase: 'Running', ready: true, restarts: 0, recoveries: 0 },
      { shard: 1, pod: 'rides-opb-1', claim: 'data-rides-opb-1', phase: 'Recovering', ready: false, restarts: 0, recoveries: 0, pendingRecovery: { reason: 'PodDeleted', detectedAt: new Date().toISOString() } },
    ] }
    await rest.request('PUT', `${resourcePath('board-k8s', 'rides')}/status`, { body: { ...res, status } })
    let logs = ''
    const k8sBoard = spawn(process.execPath, [join(root, 'board', 'dist', 'main.js')], {
      env: { PATH: process.env.PATH, KAFKA_BROKERS: t.settings.brokers.join(','), TOPIC_OUTPUT: topicsFor(t.p.opts.pipeline).TOPIC_OUTPUT, SHARDS: String(SHARDS), STATUS_SOURCE: 'kubernetes', KUBE_RESOURCE: 'board-k8s/rides', KUBECONFIG: inject('kubeconfig'), STATUS_POLL_MS: '200', HTTP_PORT: '0', HTTP_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    k8sBoard.stdout?.on('data', (b: Buffer) => (logs += b.toString()))
    try {
      const u = await until('the second board', async () => /board on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(logs)?.[1])
      const shards = await until('shards from the resource', async () => {
        const s = (await (await fetch(`${u}api/state`)).json()) as { shards: { shard: number; state: string; phase?: string }[] }
        return s.shards.length === 2 ? s.shards : undefined
      })
      expect(shards.map((s) => [s.shard, s.state])).toEqual([[0, 'running'], [1, 'recovering']])
      expect(shards[1]?.phase).toBe('PodDeleted, detected')
    } finally {
      k8sBoard.kill('SIGTERM')
    }
  })
})
