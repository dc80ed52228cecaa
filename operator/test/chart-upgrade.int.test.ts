import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import type { V1CustomResourceDefinition } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { objectPath } from '@ridepulse/operator'
import { ensureNamespace, helm, repoRoot, resourcePath, restFor, startControlPlane } from '@ridepulse/testkit'

/**
 * Upgrading the chart on a real API server of its own (the CRD's life is
 * this test's): from 0.1.0, which shipped the CRD in crds/ (installed once,
 * never upgraded by Helm), to the chart that has it as a template. The
 * previous release is kept as the package a chart repository served
 * (`helm package` of the chart as released).
 */
const previousChart = join(repoRoot, 'operator', 'test', 'fixtures', 'ridepulse-operator-0.1.0.tgz')
const CRD = 'statefuloperators.ridepulse.io'
const ns = 'ridepulse-system'
let cp: ReturnType<typeof startControlPlane> | undefined
const chart = join(repoRoot, 'helm', 'ridepulse-operator')

beforeAll(() => {
  cp = startControlPlane(inject('kafkaPort') + 2000)
}, 120_000)

afterAll(() => {
  cp?.stop()
})

const run = (args: string[]) => helm(inject('kubeBin'), cp!.kubeconfig, args)
const fails = (args: string[]): string => {
  try {
    run(args)
  } catch (err) {
    return String((err as { stderr?: unknown }).stderr ?? err)
  }
  throw new Error(`helm ${args.join(' ')} succeeded`)
}
const kafkaProps = (crd: V1CustomResourceDefinition) => crd.spec.versions[0]?.schema?.openAPIV3Schema?.properties?.spec?.properties?.kafka?.properties ?? {}

describe('upgrading the chart', () => {
  it('from 0.1.0 (CRD in crds/): adopted as the docs say, upgraded, and the new fields are kept; later upgrades and uninstall keep the CRD', async () => {
    const admin = restFor(cp!.kubeconfig)
    await ensureNamespace(admin, 'city')
    // No --wait: this API server runs no pods.
    run(['install', 'rp', previousChart, '--namespace', ns, '--create-namespace'])
    const crdPath = objectPath('apiextensions.k8s.io/v1', 'customresourcedefinitions', undefined, CRD)
    expect(kafkaProps(await admin.get<V1CustomResourceDefinition>(crdPath))).not.toHaveProperty('tls')

    // Under the old CRD a field it does not know is pruned: what an upgrade that leaves the CRD behind does to new fields.
    const resource = (name: string) => ({ apiVersion: 'ridepulse.io/v1alpha1', kind: 'StatefulOperator', metadata: { name, namespace: 'city' }, spec: { kafka: { bootstrapServers: ['kafka:9093'], tls: { caSecretName: 'kafka-ca' } } } })
    await admin.request('POST', resourcePath('city'), { body: resource('before') })
    expect((await admin.get<{ spec: { kafka: Record<string, unknown> } }>(resourcePath('city', 'before'))).spec.kafka).not.toHaveProperty('tls')

    // The chart now owns the CRD; one that Helm installed from crds/ belongs to no release yet.
    expect(fails(['upgrade', 'rp', chart, '--namespace', ns])).toMatch(/CustomResourceDefinition "statefuloperators.ridepulse.io" .*invalid ownership metadata/)
    // docs/operator.md, "Upgrading": hand the CRD to the release, then upgrade.
    await admin.mergePatch(crdPath, { metadata: { labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'meta.helm.sh/release-name': 'rp', 'meta.helm.sh/release-namespace': ns } } })
    run(['upgrade', 'rp', chart, '--namespace', ns])
    const crd = await admin.get<V1CustomResourceDefinition>(crdPath)
    expect(kafkaProps(crd)).toHaveProperty('tls')
    expect(crd.metadata?.annotations?.['helm.sh/resource-policy']).toBe('keep')

    // The new fields are served and kept, their defaults filled; the resource from before is still there.
    await admin.request('POST', resourcePath('city'), { body: resource('after') })
    const after = await admin.get<{ spec: { kafka: Record<string, unknown>; recovery: Record<string, unknown> } }>(resourcePath('city', 'after'))
    expect(after.spec.kafka.tls).toEqual({ caSecretName: 'kafka-ca', caKey: 'ca.crt', certKey: 'tls.crt', keyKey: 'tls.key' })
    expect(after.spec.recovery.deadlineSeconds).toBe(300)
    await admin.get(resourcePath('city', 'before'))

    // A later upgrade needs nothing by hand; uninstall leaves the CRD and the pipelines.
    run(['upgrade', 'rp', chart, '--namespace', ns, '--set', 'logLevel=debug'])
    run(['uninstall', 'rp', '--namespace', ns])
    expect((await admin.get<V1CustomResourceDefinition>(crdPath)).metadata?.name).toBe(CRD)
    await admin.get(resourcePath('city', 'after'))
  })

  it('installs afresh with the sample resource: the CRD and the resource of that kind in one release, the kept CRD taken back', async () => {
    const admin = restFor(cp!.kubeconfig)
    // The CRD the previous test's release left (resource-policy keep) is taken back by a release of the same name.
    run(['install', 'rp', chart, '--namespace', ns, '--set', 'sample.create=true'])
    const sample = await admin.get<{ metadata: { name: string } }>(resourcePath(ns, 'rides'))
    expect(sample.metadata.name).toBe('rides')
    // The pre-delete hook's Job needs a kubelet (the end-to-end run has one): uninstalled without it here.
    run(['uninstall', 'rp', '--namespace', ns, '--no-hooks'])
  })

  it('as a subchart: values under global are accepted, and crds.install=false leaves the CRD out', () => {
    const rendered = execFileSync(join(inject('kubeBin'), 'helm'), ['template', 'sub', chart, '--namespace', ns, '--kube-version', '1.31.4', '--set', 'global.imageRegistry=registry.example', '--set', 'crds.install=false'], { encoding: 'utf8' })
    expect(rendered).not.toMatch(/kind: CustomResourceDefinition/)
    expect(rendered).toMatch(/kind: Deployment/)
  })
})
