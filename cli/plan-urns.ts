/**
 * Resource URNs as the Pulumi engine forms them, recorded while `plan` runs under mocks.
 *
 * Pulumi's mock monitor keeps only the parent's last type in a child's URN
 * (`Parent$Child`), while the engine keeps the whole chain (`Grandparent$Parent$Child`,
 * https://www.pulumi.com/docs/iac/concepts/resources/names/#urns). The URN is what decides
 * whether `pulumi up` updates a resource or replaces it, so `plan` forms it like the engine
 * and records the aliases each resource declares: a test compares them with the URNs the
 * deployed stacks hold (test/fixtures/urns.*.json).
 *
 * The same patch lets a resource be referred to by URN (a migrating stack refers to the other
 * tier's resources, stacks/migration.ts): the mock monitor answers getResource with
 * Struct.fromJavaScript of the stored state, which throws on the undefined members mocked states
 * hold and on a component's outputs kept as a protobuf Struct; the engine sends neither, so the
 * state goes through JSON first, as on the wire.
 */
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks.js";

export interface RecordedUrn {
  urn: string;
  /** Alias specs the resource declares (name/type/parent/stack/project, or a URN). */
  aliases: unknown[];
}

interface RegisterRequest {
  getParent(): string;
  getType(): string;
  getName(): string;
  getAliasesList(): { toObject(): unknown }[];
}

type Proto = {
  newUrn(parent: string, type: string, name: string): string;
  registerResource(req: RegisterRequest, cb: unknown): Promise<void>;
  resources: Map<string, unknown>;
  invoke(req: { getTok(): string; getArgs(): { toJavaScript(): { urn?: string } } }, cb: unknown): Promise<void>;
};

const recorded: RecordedUrn[] = [];
let installed = false;

/** Engine-shaped URN: the parent's whole qualified type, then this type. */
export function engineUrn(stack: string, project: string, parent: string | undefined, type: string, name: string): string {
  const qualified = parent ? `${parent.split("::")[2]}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/** Patches the mock monitor once; URNs and aliases of every registration are recorded from then on. */
export function recordUrns(): void {
  if (installed) return;
  installed = true;
  const proto = MockMonitor.prototype as unknown as Proto;
  proto.newUrn = function (parent, type, name) {
    return engineUrn(pulumi.getStack(), pulumi.getProject(), parent || undefined, type, name);
  };
  const register = proto.registerResource;
  proto.registerResource = function (this: Proto, req, cb) {
    const urn = engineUrn(pulumi.getStack(), pulumi.getProject(), req.getParent() || undefined, req.getType(), req.getName());
    recorded.push({ urn, aliases: req.getAliasesList().map((a) => a.toObject()) });
    return register.call(this, req, cb);
  };
  const invoke = proto.invoke;
  proto.invoke = function (this: Proto, req, cb) {
    if (req.getTok() === "pulumi:pulumi:getResource") {
      const urn = req.getArgs().toJavaScript().urn;
      const r = urn === undefined ? undefined : this.resources.get(urn);
      if (urn !== undefined && r) this.resources.set(urn, JSON.parse(JSON.stringify(r)));
    }
    return invoke.call(this, req, cb);
  };
}

/** The URNs recorded since the last call (and forgets them). */
export function takeUrns(): RecordedUrn[] {
  return recorded.splice(0, recorded.length);
}
