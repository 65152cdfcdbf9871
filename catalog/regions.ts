/**
 * GCP regions and their zones the platform accepts
 * (https://cloud.google.com/compute/docs/regions-zones, "Available regions and zones").
 * A region or zone not listed (mars-north1, us-central1-z) is refused by the config parser
 * with one line, instead of by the API halfway through `pulumi up`. A new region is one line here.
 */
const abc = ["a", "b", "c"] as const;

export const regions: Readonly<Record<string, readonly string[]>> = {
  "us-central1": ["a", "b", "c", "f"],
  "us-east1": ["b", "c", "d"],
  "us-east4": abc,
  "us-east5": abc,
  "us-south1": abc,
  "us-west1": abc,
  "us-west2": abc,
  "us-west3": abc,
  "us-west4": abc,
  "northamerica-northeast1": abc,
  "northamerica-northeast2": abc,
  "northamerica-south1": abc,
  "southamerica-east1": abc,
  "southamerica-west1": abc,
  "europe-west1": ["b", "c", "d"],
  "europe-west2": abc,
  "europe-west3": abc,
  "europe-west4": abc,
  "europe-west6": abc,
  "europe-west8": abc,
  "europe-west9": abc,
  "europe-west10": abc,
  "europe-west12": abc,
  "europe-north1": abc,
  "europe-north2": abc,
  "europe-central2": abc,
  "europe-southwest1": abc,
  "asia-east1": abc,
  "asia-east2": abc,
  "asia-northeast1": abc,
  "asia-northeast2": abc,
  "asia-northeast3": abc,
  "asia-south1": abc,
  "asia-south2": abc,
  "asia-southeast1": abc,
  "asia-southeast2": abc,
  "australia-southeast1": abc,
  "australia-southeast2": abc,
  "me-central1": abc,
  "me-central2": abc,
  "me-west1": abc,
  "africa-south1": abc,
};

export function isRegion(name: string): boolean {
  return Object.hasOwn(regions, name);
}

/** The zones of a region, full names (us-central1-a, …); empty for an unknown region. */
export function zonesOf(region: string): string[] {
  return (isRegion(region) ? (regions[region] ?? []) : []).map((z) => `${region}-${z}`);
}
