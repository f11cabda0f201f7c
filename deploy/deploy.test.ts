// The deployment files: every Kubernetes manifest is valid against the API's
// schemas (kubernetes-models), and the values that must agree across files do:
// ports, the probe path, grace periods against the drain, the user id, the
// service the balancer looks up.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parse } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Service } from 'kubernetes-models/v1';
import * as cherrypy from '../cherrypy/index.ts';
import { bodyBudget } from '../cherrypy/memory.ts';
import { Landing } from '../run.ts';

const deployDir = fileURLToPath(new URL('.', import.meta.url));
const projectDir = join(deployDir, '..');
const k8sDir = join(deployDir, 'kubernetes');
const read = (...parts: string[]) => readFileSync(join(...parts), 'utf8');
const yamlOf = (file: string) => parse(read(k8sDir, file)) as Record<string, any>;

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler,
};

const deployment = yamlOf('deployment.yaml');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const dockerfile = read(projectDir, 'Dockerfile');
const stack = parse(read(deployDir, 'stack.yml')) as Record<string, any>;
const haproxy = read(deployDir, 'lb', 'haproxy.cfg');
/** server.shutdown_timeout as run.ts leaves it (importing run.ts applied its config.update). */
const shutdownTimeout = cherrypy.config.get('server.shutdown_timeout');

describe('deploy: Kubernetes manifests', () => {
  const manifests = readdirSync(k8sDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');

  it('are valid against the Kubernetes API schemas', () => {
    expect(manifests).to.have.members(['deployment.yaml', 'service.yaml', 'pdb.yaml', 'hpa.yaml']);
    for (const file of manifests) {
      const doc = yamlOf(file);
      const Model = MODELS[doc.kind];
      expect(Model, `${file}: kind ${doc.kind}`).to.not.equal(undefined);
      expect(() => new Model!(doc).validate(), file).not.to.throw();
    }
  });

  it('the validation catches a wrong manifest', () => {
    const broken = structuredClone(deployment);
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
    expect(() => new Deployment(broken).validate()).to.throw(/containerPort/);
  });

  it('kustomization.yaml lists every manifest', () => {
    expect(yamlOf('kustomization.yaml').resources).to.have.members(manifests);
  });

  it('agree on the port: the image exposes it, the container names it, the service targets it', () => {
    const exposed = Number(/^EXPOSE (\d+)$/m.exec(dockerfile)![1]);
    const http = container.ports.find((p: { name: string }) => p.name === 'http');
    expect(http.containerPort).to.equal(exposed);
    const service = yamlOf('service.yaml');
    expect(service.spec.ports[0].targetPort).to.equal('http');
    expect(service.spec.selector).to.deep.equal(deployment.spec.selector.matchLabels);
    expect(yamlOf('pdb.yaml').spec.selector.matchLabels).to.deep.equal(deployment.spec.selector.matchLabels);
    expect(yamlOf('hpa.yaml').spec.scaleTargetRef.name).to.equal(deployment.metadata.name);
  });

  it('probe a path the app answers with 200', async () => {
    const paths = [container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path];
    const site = await cherrypy.testing.serve(new Landing(), '/', join(projectDir, 'prod.conf'));
    for (const path of paths) expect((await site.get(path)).status, path).to.equal(200);
  });

  it('give the drain time: grace period above preStop + shutdown_timeout', () => {
    const preStop = Number(container.lifecycle.preStop.exec.command[1]);
    expect(pod.terminationGracePeriodSeconds).to.be.above(preStop + shutdownTimeout);
  });

  it('run as the image\'s non-root user, without privileges, on a read-only root', () => {
    const uid = Number(/^USER (\d+)$/m.exec(dockerfile)![1]);
    expect(pod.securityContext.runAsNonRoot).to.equal(true);
    expect(pod.securityContext.runAsUser).to.equal(uid);
    expect(container.securityContext).to.include({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).to.include('/tmp');
  });

  it('leave /tmp room for uploads: the request bodies a pod\'s memory limit lets in fit in half of /tmp', () => {
    const bytes = (quantity: string) => Number(/^(\d+)Mi$/.exec(quantity)![1]) * 1024 * 1024;
    const tmp = pod.volumes.find((v: { name: string }) => v.name === 'tmp').emptyDir.sizeLimit;
    // Upload files go to /tmp and count against max_buffered_body_size; the other half is for the compile caches (~3 MB).
    expect(bodyBudget(bytes(container.resources.limits.memory))).to.be.at.most(bytes(tmp) / 2);
  });

  it('keep the PodDisruptionBudget below the replicas and the autoscaler\'s floor', () => {
    const minAvailable = yamlOf('pdb.yaml').spec.minAvailable;
    expect(minAvailable).to.be.below(deployment.spec.replicas);
    expect(minAvailable).to.be.below(yamlOf('hpa.yaml').spec.minReplicas);
  });
});

describe('deploy: the Swarm stack and its balancer', () => {
  const seconds = (text: string) => Number(/^(\d+)s$/.exec(text)![1]);

  it('stops a replica no sooner than lame duck + shutdown_timeout', () => {
    const app = stack.services.app;
    expect(seconds(app.stop_grace_period)).to.be.above(Number(app.environment.LAME_DUCK) + shutdownTimeout);
  });

  it('the lame duck outlasts the balancer\'s checks taking a replica out', () => {
    const inter = Number(/\binter (\d+)ms\b/.exec(haproxy)![1]);
    const fall = Number(/\bfall (\d+)\b/.exec(haproxy)![1]);
    expect(Number(stack.services.app.environment.LAME_DUCK) * 1000).to.be.above(inter * fall);
  });

  it('the balancer checks the app\'s health path and finds the app\'s tasks by DNS', () => {
    expect(haproxy).to.match(/option httpchk GET \/healthcheck\b/);
    const target = /server-template \S+ \d+ tasks\.(\S+):(\d+)/.exec(haproxy)!;
    expect(stack.services).to.have.property(target[1]!);
    expect(Number(target[2])).to.equal(Number(/^EXPOSE (\d+)$/m.exec(dockerfile)![1]));
    expect(stack.services.app.deploy.endpoint_mode).to.equal('dnsrr');
  });

  it('rolls one replica at a time, the new one first, and rolls back on failure', () => {
    expect(stack.services.app.deploy.update_config).to.include({ parallelism: 1, order: 'start-first', failure_action: 'rollback' });
    expect(stack.services.lb.ports[0]).to.include({ target: 80, mode: 'host' });
  });
});
