import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitFor } from '@ridepulse/testkit'
import { repoRoot } from './kube.js'

/**
 * A real Prometheus (built from source by scripts/prometheus/build.sh) on
 * this machine, finding the pipeline's and the operator's pods through the
 * API server as a PodMonitor would, with the chart's alerts loaded: what a
 * platform team's monitoring sees of the end-to-end run.
 */
export interface Monitoring {
  url: string
  stop(): Promise<void>
}

export interface MonitoringReport {
  /** Each dashboard panel's query, and how many series with a finite value it returned. */
  panels: { title: string; series: number; error?: string }[]
  /** Alerting rules Prometheus loaded from the chart's rule file, and those firing at the end. */
  rules: number
  firing: string[]
  /** The pods Prometheus scraped successfully last, by namespace/name. */
  targetsUp: string[]
}

const chartFiles = join(repoRoot, 'helm', 'ridepulse-operator', 'files')
/** An OpA or OpB pod, by its namespace/name. */
export const isWorker = (pod: string): boolean => /-op[ab]-\d+$/.test(pod)


interface Answer<T> { status: string; error?: string; data?: T }
const get = async <T>(url: string): Promise<Answer<T>> => (await (await fetch(url, { signal: AbortSignal.timeout(5000) })).json()) as Answer<T>
const query = (url: string, expr: string) => get<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)

/** Starts Prometheus, scraping every pod labelled app.kubernetes.io/name=ridepulse or ridepulse-operator on its `http` port, and waits until `targets` of them are up. */
export async function startMonitoring(kubeconfig: string, targets: number, log: (line: string) => void): Promise<Monitoring> {
  const bin = process.env.E2E_PROMETHEUS ?? join(execFileSync('bash', [join(repoRoot, 'scripts', 'prometheus', 'build.sh')], { encoding: 'utf8' }).trim(), 'prometheus')
  const dir = mkdtempSync(join(tmpdir(), 'ridepulse-e2e-prometheus-'))
  const port = await freePort()
  const config = join(dir, 'prometheus.yml')
  writeFileSync(config, JSON.stringify({
    global: { scrape_interval: '2s', evaluation_interval: '5s' },
    rule_files: [join(chartFiles, 'prometheus-rules.yaml')],
    scrape_configs: [{
      job_name: 'ridepulse-pods',
      kubernetes_sd_configs: [{ role: 'pod', kubeconfig_file: kubeconfig }],
      relabel_configs: [
        { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'], regex: 'ridepulse|ridepulse-operator', action: 'keep' },
        { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: 'http', action: 'keep' },
        { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
        { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      ],
    }],
  }))
  let out = ''
  const child = spawn(bin, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr.on('data', (b: Buffer) => (out += b.toString()))
  const url = `http://127.0.0.1:${port}`
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await gone
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitFor('Prometheus ready', async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok, 30_000)
    // Scraped a few times each before anything happens: a rate needs the values from before.
    await waitFor(`${targets} pods scraped`, async () => ((await query(url, 'count_over_time(up[1m]) >= 3 and up == 1')).data?.result.length ?? 0) >= targets, 60_000, 1000)
  } catch (err) {
    log(`prometheus said:\n${out.split('\n').slice(-20).join('\n')}`)
    await stop()
    throw err
  }
  log(`prometheus: ${url}, ${targets} pods scraped`)
  return { url, stop }
}

/**
 * Every dashboard panel's query, until each has data and at least `workers`
 * worker pods are up (a pod just replaced is scraped once discovered, a
 * scrape interval or two later), or `timeoutMs`; and the rules Prometheus
 * evaluates.
 */
export async function checkMonitoring(m: Monitoring, workers: number, timeoutMs: number): Promise<MonitoringReport> {
  const dashboard = JSON.parse(readFileSync(join(chartFiles, 'grafana-dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] }
  const queries = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: t.expr })))
  let panels: MonitoringReport['panels'] = []
  let targetsUp: string[] = []
  await waitFor('data for every dashboard panel, every worker scraped', async () => {
    panels = []
    for (const q of queries) {
      const r = await query(m.url, q.expr)
      const series = (r.data?.result ?? []).filter((x) => Number.isFinite(Number(x.value[1]))).length
      panels.push({ title: q.title, series, ...(r.status !== 'success' ? { error: r.error ?? r.status } : {}) })
    }
    const up = await query(m.url, 'up == 1')
    targetsUp = (up.data?.result ?? []).map((r) => `${r.metric.namespace}/${r.metric.pod}`).sort()
    return panels.every((p) => p.series > 0) && targetsUp.filter(isWorker).length >= workers
  }, timeoutMs, 2000).catch(() => undefined)
  const rules = await get<{ groups: { rules: { type: string }[] }[] }>(`${m.url}/api/v1/rules`)
  const alerts = await get<{ alerts: { labels: { alertname: string }; state: string }[] }>(`${m.url}/api/v1/alerts`)
  return {
    panels,
    rules: (rules.data?.groups ?? []).flatMap((g) => g.rules).filter((r) => r.type === 'alerting').length,
    firing: (alerts.data?.alerts ?? []).filter((a) => a.state === 'firing').map((a) => a.labels.alertname),
    targetsUp,
  }
}
