/**
 * The learner sandbox on tier-100: one gVisor pod per learner on a dedicated plan, claimed by the
 * brain from a warm pool (kubernetes-sigs/agent-sandbox, served by the GKE add-on; ADR 0036).
 * Written once here for the stack (components/k8s/agent-sandbox/), the flow table
 * (catalog/flows.ts `sandboxFlows`) and the brain's Kubernetes runtime (which claims
 * `warmPoolRef: <warmPool>` in `namespace` and dials `port`).
 *
 * GKE Sandbox: a node pool with `sandboxConfig.type: GVISOR` gets the node label and taint
 * `sandbox.gke.io/runtime=gvisor` (NoSchedule), and the cluster's `gvisor` RuntimeClass
 * (https://cloud.google.com/kubernetes-engine/docs/how-to/sandbox-pods). The template names the
 * RuntimeClass, tolerates the taint and selects the pool itself, so it schedules the same with or
 * without the RuntimeClass's scheduling section.
 */

/** The learners' namespace: the sandboxes, their template, warm pool and policies. */
export const sandboxNamespace = "learners";

/** Names of the template and of the warm pool the brain's claims point at. */
export const learnerTemplateName = "learner";
export const learnerWarmPoolName = "learner";

/** The gVisor node pool's name (its nodes carry tierstack.dev/pool=<this>); the policy pack's learner-pool rules find it by it. */
export const sandboxPoolName = "learners";

export const gvisorRuntimeClass = "gvisor";

/** The taint (and label) GKE Sandbox puts on a gVisor node. */
export const gvisorTaint = { key: "sandbox.gke.io/runtime", value: "gvisor", effect: "NO_SCHEDULE" } as const;
export const gvisorToleration = { key: gvisorTaint.key, operator: "Equal", value: gvisorTaint.value, effect: "NoSchedule" } as const;

/** The learner runtime's TCP port in the pod (services/brain/src/sandbox/learner/runtime.mjs --listen). */
export const learnerRuntimePort = 8888;

/** Where the learner runtime keeps the learner's files inside the pod (LEARNER_DIR): an emptyDir, fresh per pod. */
export const learnerDir = "/learner";

/** The learner runtime ships in the brain's image (it is services/brain/src/sandbox/learner/runtime.mjs). */
export const learnerRuntimeImageKey = "brainImage";
export const learnerRuntimeCommand = ["node", "services/brain/src/sandbox/learner/runtime.mjs", "--listen", `0.0.0.0:${learnerRuntimePort}`] as const;

/** Labels of every learner sandbox pod (the template's pod metadata). */
export const learnerPodLabels = { "app.kubernetes.io/name": "learner-sandbox", "app.kubernetes.io/part-of": "tierstack" } as const;

/** The gVisor pool's machine (4 vCPU, 16 GB; priced in cost/src/infra.ts). */
export const sandboxMachineType = "n2-standard-4";
export const sandboxDiskSizeGb = 50;

/**
 * The managed Agent Sandbox add-on (`addonsConfig.agentSandboxConfig`) serves the v1beta1 API from
 * this GKE version (https://docs.cloud.google.com/kubernetes-engine/docs/how-to/how-install-agent-sandbox):
 * the cluster's minimum control-plane version.
 */
export const agentSandboxMinMasterVersion = "1.36.3-gke.1767000";
