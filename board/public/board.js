// The dispatch board: live counts per zone and minute, pushed by the server
// over Server-Sent Events. No polling, nothing fetched from elsewhere.
import { heat, rankZones } from './hot.js'

const cells = new Map() // `${zone}|${windowStart}` -> cell
let shards = []
let selected = null
const $ = (id) => document.getElementById(id)
const thresholds = () => ({ demand: Number($('t-demand').value) || 1, unmet: (Number($('t-unmet').value) || 0) / 100 })
const hhmm = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
const ago = (ms) => { const s = Math.max(0, Math.round((Date.now() - ms) / 1000)); return s < 60 ? `${s}s ago` : `${Math.round(s / 60)}m ago` }

for (const id of ['t-demand', 't-unmet']) {
  const saved = localStorage.getItem(id)
  if (saved !== null) $(id).value = saved
  $(id).addEventListener('input', () => { localStorage.setItem(id, $(id).value); render() })
}

function put(list) {
  for (const c of list) {
    const k = `${c.zone}|${c.windowStart}`
    const have = cells.get(k)
    if (!have || have.rev < c.rev) cells.set(k, c)
  }
}

let scheduled = false
function render() {
  if (scheduled) return
  scheduled = true
  requestAnimationFrame(() => { scheduled = false; draw() })
}

function draw() {
  const all = [...cells.values()]
  const starts = [...new Set(all.map((c) => c.windowStart))].sort((a, b) => b - a).slice(0, 10)
  $('empty').hidden = all.length > 0
  const t = thresholds()
  const head = `<tr><th></th>${starts.map((s, i) => `<th>${i === 0 ? 'now · ' : ''}${hhmm(s)}</th>`).join('')}</tr>`
  const zones = rankZones(all.filter((c) => starts.includes(c.windowStart)))
  const rows = zones.map((z) => {
    const tds = starts.map((s) => {
      const c = cells.get(`${z}|${s}`)
      if (!c) return '<td class="none"></td>'
      const h = heat(c, t)
      const cls = [c.final ? 'final' : 'prov', h.demandHot ? 'demandHot' : '', h.unmetHot ? 'unmetHot' : ''].join(' ')
      return `<td class="${cls}" data-zone="${z}" data-window="${s}" data-final="${c.final}" data-requested="${c.requested}" title="rev ${c.rev}${c.final ? ', final' : ', provisional'}"><span class="n">${c.requested}</span><span class="s">${c.matched}m ${c.completed}c ${c.cancelled}x</span></td>`
    }).join('')
    return `<tr data-zone-row="${z}"><th class="zone${z === selected ? ' selected' : ''}" data-zone-name="${z}">${z}</th>${tds}</tr>`
  }).join('')
  $('grid').tHead.innerHTML = head
  $('grid').tBodies[0].innerHTML = rows
  drawShards()
  drawDetail()
  $('foot').textContent = `${zones.length} zones · ${cells.size} zone-minutes · counts are final once their minute closes; provisional ones still grow`
}

function drawShards() {
  $('shards').innerHTML = shards.map((s) => {
    const last = s.lastRecovery ? `<small>last recovery ${ago(s.lastRecovery.readyAt)} in ${s.lastRecovery.timeToRecoverMs} ms</small>` : ''
    // How far behind a running shard is: input records waiting and their age, the watermark behind the clock.
    const lag = s.lag ? `<small data-testid="lag-${s.shard}">lag ${s.lag.records} records · ${s.lag.inputSeconds.toFixed(1)} s${s.lag.watermarkSeconds !== null ? ` · watermark ${s.lag.watermarkSeconds.toFixed(1)} s behind` : ''}${s.lag.lateEventsPerSecond > 0 ? ` · ${s.lag.lateEventsPerSecond.toFixed(1)} late/s` : ''}</small>` : ''
    // With a hot standby: who owns the shard, who stands by and how far behind.
    const pair = s.pair ? `<small data-testid="pair-${s.shard}">owner ${s.pair.owner ?? 'none'} · standby ${s.pair.standby ? `${s.pair.standby}${s.pair.standbyReady ? '' : ' (not ready)'}${s.pair.standbyLagRecords !== null ? `, ${s.pair.standbyLagRecords} records${s.pair.standbyLagMs ? ` (${s.pair.standbyLagMs} ms)` : ''} behind` : ''}` : 'none'}${s.pair.promotions ? ` · ${s.pair.promotions} takeovers` : ''}</small>` : ''
    const bar = s.state === 'recovering' ? `<span class="bar"><i style="width:${Math.round((s.progress ?? 0) * 100)}%"></i></span> ${s.phase}` : ''
    return `<span class="shard ${s.state}" data-testid="shard-${s.shard}" data-state="${s.state}">shard ${s.shard}: ${s.state}${bar}${lag}${pair}${last}</span>`
  }).join('')
  const troubled = shards.filter((s) => s.state === 'recovering' || s.state === 'down')
  const banner = $('banner')
  banner.hidden = troubled.length === 0
  banner.textContent = troubled.map((s) => `Shard ${s.shard} is ${s.state === 'down' ? 'down, restarting' : `recovering (${s.phase})`}`).join(' · ') + (troubled.length ? ' — its zones pause for a moment; every other zone keeps updating.' : '')
}

function drawDetail() {
  const aside = $('detail')
  if (!selected) { aside.hidden = true; return }
  aside.hidden = false
  $('detail-zone').textContent = selected
  const list = [...cells.values()].filter((c) => c.zone === selected).sort((a, b) => a.windowStart - b.windowStart).slice(-12)
  const max = Math.max(1, ...list.map((c) => c.requested))
  const w = 300 / Math.max(list.length, 1)
  const bars = list.map((c, i) => {
    const x = 12 + i * w
    const hr = (c.requested / max) * 120
    const hm = (Math.min(c.matched, c.requested) / max) * 120
    return `<rect class="req ${c.final ? 'final' : 'prov'}" x="${x}" y="${140 - hr}" width="${w * 0.7}" height="${hr}"><title>${hhmm(c.windowStart)}: ${c.requested} requested${c.final ? ' (final)' : ' (provisional)'}</title></rect>` +
      `<rect class="mat" x="${x + w * 0.2}" y="${140 - hm}" width="${w * 0.3}" height="${hm}"></rect>` +
      (i % 2 === 0 ? `<text x="${x}" y="154">${hhmm(c.windowStart).slice(0, 5)}</text>` : '')
  }).join('')
  $('chart').innerHTML = `<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="2" height="4" fill="#ff8c1a" opacity=".6"/></pattern></defs>${bars}`
  $('detail-table').innerHTML = `<tr><th>minute</th><th>req</th><th>match</th><th>done</th><th>cancel</th><th></th></tr>` +
    list.slice().reverse().map((c) => `<tr data-detail-window="${c.windowStart}"><td>${hhmm(c.windowStart)}</td><td>${c.requested}</td><td>${c.matched}</td><td>${c.completed}</td><td>${c.cancelled}</td><td>${c.final ? 'final' : 'provisional'}</td></tr>`).join('')
}

function select(e) {
  const el = e.target.closest('[data-zone-name],[data-zone]')
  if (!el) return
  selected = el.dataset.zoneName ?? el.dataset.zone
  render()
}
// A click needs the press and the release on the same element, and a live
// update can redraw the grid in between: select on the press as well.
$('grid').addEventListener('pointerdown', (e) => { if (e.button === 0) select(e) })
$('grid').addEventListener('click', select)

function connect() {
  const es = new EventSource('/events')
  const conn = $('conn')
  es.addEventListener('open', () => { conn.textContent = 'live'; conn.className = 'conn live' })
  es.addEventListener('error', () => { conn.textContent = 'reconnecting…'; conn.className = 'conn lost' })
  es.addEventListener('snapshot', (e) => {
    const s = JSON.parse(e.data)
    cells.clear()
    put(s.cells)
    shards = s.shards
    render()
  })
  es.addEventListener('cells', (e) => { put(JSON.parse(e.data)); render() })
  es.addEventListener('shards', (e) => { shards = JSON.parse(e.data); render() })
}
connect()
setInterval(drawShards, 1000) // "last recovery 12s ago" keeps counting
