import { parseArgs } from 'node:util';
import { expect } from 'chai';
import { kubernetesCliOptions, kubernetesOptionsFromCli } from '../../../src/sources/kubernetes/cli.js';

function fromArgs(args: string[], env: NodeJS.ProcessEnv = {}) {
  const { values } = parseArgs({ args, options: kubernetesCliOptions, strict: true });
  return kubernetesOptionsFromCli(values, env);
}

describe('kubernetes CLI flags', () => {
  it('leaves the source off without --kubeconfig or --in-cluster', () => {
    expect(fromArgs([])).to.equal(undefined);
    expect(fromArgs(['--namespace', 'x'])).to.equal(undefined);
  });

  it('reads a kubeconfig, a namespace and a pod selector', () => {
    const o = fromArgs(['--kubeconfig', '/k', '--namespace', 'llm', '--pod-selector', 'app=vllm']);
    expect(o).to.include({ kubeconfig: '/k', inCluster: false, namespace: 'llm', podSelector: 'app=vllm', allNamespaces: false });
    expect(o!.leaderElection).to.equal(undefined);
  });

  it('in-cluster: namespace and Lease namespace default to POD_NAMESPACE', () => {
    const o = fromArgs(['--in-cluster', '--leader-elect'], { POD_NAMESPACE: 'kthena-system' });
    expect(o).to.include({ inCluster: true, namespace: 'kthena-system' });
    expect(o!.leaderElection).to.deep.equal({ leaseName: 'kthena-router', leaseNamespace: 'kthena-system' });
  });

  it('watches every namespace with --all-namespaces', () => {
    expect(fromArgs(['--in-cluster', '--all-namespaces'])).to.include({ allNamespaces: true });
  });

  it('rejects contradictory or orphaned flags with a usage message', () => {
    expect(() => fromArgs(['--kubeconfig', '/k', '--in-cluster'])).to.throw(/either --kubeconfig or --in-cluster/);
    expect(() => fromArgs(['--in-cluster', '--namespace', 'a', '--all-namespaces'])).to.throw(/either --namespace/);
    expect(() => fromArgs(['--pod-selector', 'app=x'])).to.throw(/--pod-selector needs --kubeconfig/);
  });
});
