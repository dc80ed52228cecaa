import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { applyYaml, ensureNamespace, freePort, helmTemplate, installCrd, listPods, loadAllYaml, markPodReady, repoRoot, resourcePath, restFor, startOperator, waitFor, waitReady, type OperatorProcess } from '@ridepulse/testkit'
import { cleanUpPipelinesAfterEach, testPipeline } from '@ridepulse/testkit/vitest'
import { objectPath } from '@ridepulse/operator'

/**
 * The chart's monitoring kit against real parts: its alerts checked and
 * unit-tested by promtool, and every panel of its dashboard queried on a
 * real Prometheus (both built from source, scripts/prometheus/build.sh)
 * that scrapes a real pipeline under load and a real operator.
 */
const promBin = execFileSync('bash', [join(repoRoot, 'scripts', 'prometheus', 'build.sh'), '--print'], { encoding: 'utf8' }).trim()
const chartFiles = join(repoRoot, 'helm', 'ridepulse-operator', 'files')
const promtool = (args: string[]) => spawnSync(join(promBin, 'promtool'), args, { encoding: 'utf8' })
const work = mkdtempSync(join(tmpdir(), 'ridepulse-monitoring-'))
const run = Date.now().toString(36)

cleanUpPipelinesAfterEach()
const stops: (() => Promise<void> | void)[] = []
afterAll(async () => {
  for (const s of stops.reverse()) await s()
  rmSync(work, { recursive: true, force: true })
})

describe('the chart\'s alerts', () => {
  it('are valid rules, as the file and as the PrometheusRule the chart renders', () => {
    const file = promtool(['check', 'rules', join(chartFiles, 'prometheus-rules.yaml')])
    expect(file.status, file.stdout + file.stderr).toBe(0)
    expect(file.stdout).toMatch(/SUCCESS: 10 rules found/)
    const rendered = helmTemplate(inject('kubeBin'), 'monitoring', ['monitoring.prometheusRule.enabled=true'])
    const rule = loadAllYaml(rendered).find((o) => o?.kind === 'PrometheusRule') as unknown as { spec: unknown }
    const out = join(work, 'rendered-rules.yaml')
    writeFileSync(out, JSON.stringify(rule.spec))
    const fromChart = promtool(['check', 'rules', out])
    expect(fromChart.status, fromChart.stdout + fromChart.stderr).toBe(0)
    expect(fromChart.stdout).toMatch(/SUCCESS: 10 rules found/)
  })

  it('fire on the series they are about, after their `for`, with their words, and not on healthy ones (promtool test rules)', () => {
    const r = promtool(['test', 'rules', join(repoRoot, 'operator', 'test', 'fixtures', 'prometheus-rules.test.yaml')])
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/SUCCESS/)
  })

  it('would be caught wrong: a rule whose expression does not parse, or an alert test that expects the wrong thing, fails', () => {
    const broken = join(work, 'broken-rules.yaml')
    writeFileSync(broken, readFileSync(join(chartFiles, 'prometheus-rules.yaml'), 'utf8').replace('> 0\n        for: 2m', '>> 0\n        for: 2m'))
    expect(promtool(['check', 'rules', broken]).status).not.toBe(0)
    const wrongTest = join(repoRoot, 'operator', 'test', 'fixtures', `wrong-${run}.test.yaml`)
    writeFileSync(wrongTest, readFileSync(join(repoRoot, 'operator', 'test', 'fixtures', 'prometheus-rules.test.yaml'), 'utf8').replace("exp_labels: { severity: warning, resource: city/rides }", "exp_labels: { severity: warning, resource: city/other }"))
    try {
      expect(promtool(['test', 'rules', wrongTest]).status).not.toBe(0)
    } finally {
      rmSync(wrongTest, { force: true })
    }
  })
})


interface Panel { title: string; targets: { expr: string }[] }

describe('the dashboard', () => {
  it('has data for every panel on a real Prometheus that scrapes a pipeline under load, through a shard recovery, and its operator', async () => {
    // A pipeline under load whose shard 1 is killed and recovers.
    const t = testPipeline('monitoring')
    await t.p.startAll()
    const load = t.load()
    stops.push(() => load.stop().then(() => undefined))

    // An operator reconciling a resource of its own on the test API server; one of its shards recovers too.
    const admin = restFor(inject('kubeconfig'))
    const ns = `monitoring-${run}`
    await installCrd(admin)
    await ensureNamespace(admin, ns)
    const operator: OperatorProcess = startOperator({ KUBECONFIG: inject('kubeconfig'), WATCH_NAMESPACES: ns, LEADER_ELECTION: 'false', HTTP_PORT: '0', POD_NAME: 'operator-monitoring' })
    stops.push(() => operator.kill('SIGTERM'))
    // Gone before its operator stops (which releases it), so that no later test's operator finds it.
    stops.push(async () => {
      await admin.delete(resourcePath(ns, 'watched')).catch(() => undefined)
      await waitFor('the resource released', async () => admin.get(resourcePath(ns, 'watched')).then(() => false, () => true), 30_000).catch(() => undefined)
    })
    const topics = Object.fromEntries(['enriched', 'output', 'late', 'dlq', 'changelog', 'snapshots'].map((r) => [r, `${run}-mon.${r}`]))
    await applyYaml(admin, JSON.stringify({ apiVersion: 'ridepulse.io/v1alpha1', kind: 'StatefulOperator', metadata: { name: 'watched', namespace: ns }, spec: { kafka: { bootstrapServers: [inject('kafkaBrokers')] }, topics: { orders: `${run}-mon.orders`, ...topics }, opb: { shards: 2 } } }), ns)
    const sel = 'app.kubernetes.io/instance=watched,app.kubernetes.io/component=opb'
    const readyAll = async () => {
      for (const p of await listPods(admin, ns, sel)) if (!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) await markPodReady(admin, ns, p.metadata!.name!)
    }
    await waitFor('the operator\'s shards ready', async () => {
      await readyAll()
      return ((await admin.get<{ status?: { readyShards?: number } }>(resourcePath(ns, 'watched'))).status?.readyShards ?? 0) === 2
    }, 30_000)
    const operatorPort = await waitFor('the operator\'s port', async () => operator.port())

    // Prometheus, scraping every worker and the operator each second.
    const promPort = await freePort()
    const targets = [...t.p.opa.values(), ...t.p.opb.values()].map((w) => `127.0.0.1:${w.port}`)
    const config = join(work, 'prometheus.yml')
    writeFileSync(config, JSON.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      scrape_configs: [
        { job_name: 'workers', static_configs: [{ targets }] },
        { job_name: 'operator', static_configs: [{ targets: [`127.0.0.1:${operatorPort}`] }] },
      ],
    }))
    const prom: ChildProcess = spawn(join(promBin, 'prometheus'), [`--config.file=${config}`, `--storage.tsdb.path=${join(work, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' })
    stops.push(() => void prom.kill('SIGTERM'))
    await waitFor('Prometheus ready', async () => (await fetch(`http://127.0.0.1:${promPort}/-/ready`).catch(() => undefined))?.ok, 30_000)
    // Every target scraped a few times before anything happens: a rate needs the counters' values from before.
    const query = async (expr: string) => (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } }
    await waitFor('every target scraped', async () => (await query('count_over_time(up[1m]) >= 3 and up == 1')).data?.result.length === targets.length + 1, 30_000, 500)

    // The recoveries, on both sides.
    await t.p.killOpb(1)
    await waitReady(t.p.startOpb(1))
    const victim = (await listPods(admin, ns, sel))[0]!
    await admin.delete(objectPath('v1', 'pods', ns, victim.metadata!.name!), { gracePeriodSeconds: 0 })
    await waitFor('the operator\'s recovery recorded', async () => {
      await readyAll()
      return ((await admin.get<{ status?: { recoveries?: number } }>(resourcePath(ns, 'watched'))).status?.recoveries ?? 0) >= 1
    }, 30_000)

    const dashboard = JSON.parse(readFileSync(join(chartFiles, 'grafana-dashboard.json'), 'utf8')) as { panels: Panel[] }
    const queries = dashboard.panels.flatMap((p) => p.targets.map((q) => ({ title: p.title, expr: q.expr })))
    expect(queries.length).toBeGreaterThanOrEqual(16)
    const empty = new Map<string, string>()
    await waitFor('data for every panel', async () => {
      empty.clear()
      for (const q of queries) {
        const res = await query(q.expr)
        const values = (res.data?.result ?? []).map((r) => Number(r.value[1])).filter((v) => Number.isFinite(v))
        if (res.status !== 'success' || values.length === 0) empty.set(q.title, res.error ?? `${res.data?.result.length ?? 0} series, none finite`)
      }
      return empty.size === 0
    }, 90_000, 2000).catch(async (err: unknown) => {
      // What Prometheus holds of the metrics behind the empty panels, for the next reader of this failure.
      const raw: string[] = []
      for (const q of queries.filter((x) => empty.has(x.title))) {
        for (const name of new Set(q.expr.match(/ridepulse_[a-z_]+/g) ?? [])) {
          const r = await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(`${name}[30s]`)}`)).text()
          raw.push(`${name}: ${r.slice(0, 1500)}`)
        }
      }
      throw new Error(`${String(err)}: ${[...empty].map(([k, v]) => `${k}: ${v}`).join('; ')}\n${raw.join('\n')}`)
    })
    await load.stop()
  }, 240_000)
})
